"""The DAG file parses cleanly, cheaply, and wires the jobs as documented."""

import datetime as dt
import importlib.util
import os
import subprocess
import sys
from unittest import mock

import pytest

from tests.airflow_env import ROOT

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    for name in [n for n in os.environ if n.startswith("DW__")]:
        os.environ.pop(name)  # the shipped configuration, not the caller's overrides
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == ["discover_weekly", "discover_weekly_tune"]


def test_the_tune_dag_runs_monthly_off_the_weekly_path_and_writes_the_warehouse_overlay(dagbag):
    dag = dagbag.dags["discover_weekly_tune"]
    assert {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} == {
        "resolve_week": [],
        "ingest": ["resolve_week"],
        "tune": ["ingest"],
    }
    assert dag.schedule == "0 3 1 * *" and not dag.catchup  # 03:00 UTC on the 1st of each month
    assert dag.get_task("tune").bash_command.endswith(
        "-m jobs.tools.tune --week {{ ti.xcom_pull(task_ids='resolve_week') }}"
    )


def test_dag_structure(dagbag):
    dag = dagbag.dags["discover_weekly"]
    assert {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} == {
        "resolve_week": [],
        "package_code": [],
        "ingest": ["package_code", "resolve_week"],
        "als": ["ingest"],
        "merge": ["ahdqn", "als", "audio_infer", "bandit", "culture", "taste_clusters", "taste_vectors"],
        "bandit": ["ingest"],
        "listener_models": ["als", "audio_infer", "taste_vectors"],
        "ahdqn": ["culture", "listener_models", "taste_clusters"],
        "taste_clusters": ["audio_infer"],
        "validate": ["merge"],
        "report": ["audio_eval", "validate"],
        "audio_features": ["resolve_week"],
        "audio_train": ["als", "audio_features"],
        "audio_infer": ["audio_train"],
        "audio_eval": ["als", "audio_features"],  # off the path to the merge
        "crawl": ["resolve_week"],
        "culture": ["crawl"],
        "song_vectors": ["ingest"],
        "taste_vectors": ["song_vectors"],
    }
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    # early, so any week since 1970 runs under its own Monday as the logical date; paused until unpaused
    assert dag.start_date == dt.datetime(1970, 1, 5, tzinfo=dt.UTC)
    assert dag.is_paused_upon_creation is True
    assert dag.schedule == "0 6 * * 1"  # Mondays 06:00, in the DAG's UTC timezone
    assert str(dag.timezone) in ("UTC", "Timezone('UTC')")
    assert "week" in dag.params
    for task in dag.tasks:
        assert task.retries == 2, task.task_id


def test_the_reusable_steps_know_the_dags_edges(dagbag):
    """A step's reuse key covers its upstream steps (jobs.runtime.reuse.STEPS): exactly the DAG's edges."""
    from jobs.runtime.reuse import STEPS

    dag = dagbag.dags["discover_weekly"]
    by_task = {step.task: name for name, step in STEPS.items()}
    for name, step in STEPS.items():
        upstream = {by_task[t] for t in dag.get_task(step.task).upstream_task_ids if t in by_task}
        assert upstream == set(step.upstream), name
    # every task running a weekly job is a step, or always runs (it publishes the week)
    jobs = {t.task_id for t in dag.tasks} - {"resolve_week", "package_code"}
    assert jobs - set(by_task) == {"merge", "validate", "report"}


def test_skippable_steps_end_skipped_and_the_merge_still_runs(dagbag):
    """Exit 99 (the jobs' SKIPPED) is Airflow's skipped state; steps after a possible skip run unless one failed."""
    from jobs.runtime.cli import SKIPPED

    dag = dagbag.dags["discover_weekly"]
    bash = {t.task_id: t for t in dag.tasks if t.task_type == "BashOperator"}
    assert {name: t.skip_on_exit_code for name, t in bash.items()} == {name: [SKIPPED] for name in bash}
    after_skips = {
        "audio_train",
        "audio_infer",
        "audio_eval",
        "taste_clusters",
        "culture",
        "taste_vectors",
        "listener_models",
        "ahdqn",
        "merge",
        "report",  # after validate, and after audio_eval even when it skipped
    }
    assert {t.task_id: t.trigger_rule.value for t in dag.tasks} == {
        t.task_id: "none_failed" if t.task_id in after_skips else "all_success" for t in dag.tasks
    }


def test_the_longer_of_two_tasks_ready_together_gets_a_free_slot_first(dagbag):
    """After audio_infer, with audio_eval holding the other slot: listener_models (30 s) before taste_clusters (11 s)."""
    dag = dagbag.dags["discover_weekly"]
    assert {t.weight_rule for t in dag.tasks} == {"downstream"}  # a task's weight plus every task after it
    weight = {t.task_id: t.priority_weight + sum(d.priority_weight for d in t.get_flat_relatives()) for t in dag.tasks}
    assert weight["listener_models"] > weight["taste_clusters"]
    assert weight["audio_train"] > weight["audio_eval"]  # the path to the merge before the evaluation


def test_spark_jobs_go_through_spark_submit(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = dagbag.dags["discover_weekly"]
    for task_id, script in (("ingest", "jobs/ingest.py"), ("als", "jobs/als.py")):
        task = dag.get_task(task_id)
        assert isinstance(task, SparkSubmitOperator)
        assert task.application == str(ROOT / script)
        assert task._conn_id == "spark_default"
        assert "--week" in task.application_args
        assert (task._driver_memory, task._executor_memory) == ("4g", "2g")  # the config's defaults


def _dag_with(env: dict[str, str]):
    """dags/discover_weekly.py imported afresh under ``env`` (on top of the environment, DW__ keys cleared)."""
    with mock.patch.dict(os.environ):
        for name in [n for n in os.environ if n.startswith("DW__")]:
            os.environ.pop(name)
        os.environ.update(env)
        spec = importlib.util.spec_from_file_location("discover_weekly_env", ROOT / "dags" / "discover_weekly.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.dag


def test_memory_and_retries_come_from_the_configuration(dagbag):
    env = {"DW__SPARK__DRIVER_MEMORY": "3g", "DW__SPARK__EXECUTOR_MEMORY": "5g", "DW__DAG__RETRIES": "4"}
    dag = _dag_with({**env, "DW__DAG__RETRY_DELAY_MINUTES": "0.5"})
    for task_id in ("ingest", "als"):
        task = dag.get_task(task_id)
        assert (task._driver_memory, task._executor_memory) == ("3g", "5g")
    for task in dag.tasks:
        assert (task.retries, task.retry_delay) == (4, dt.timedelta(seconds=30)), task.task_id
    from jobs.config import ConfigError

    with pytest.raises(ConfigError, match=r"dag\.retries=-1: must be >= 0"):
        _dag_with({"DW__DAG__RETRIES": "-1"})


def test_pause_on_creation_and_start_date_come_from_the_configuration(dagbag):
    dag = _dag_with({"DW__DAG__PAUSED_ON_CREATION": "false", "DW__DAG__START_DATE": "2026-01-05"})
    assert dag.is_paused_upon_creation is False
    assert dag.start_date == dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    from jobs.config import ConfigError

    with pytest.raises(ConfigError, match=r"dag\.start_date='2026-01-06': must be an ISO date that is a Monday"):
        _dag_with({"DW__DAG__START_DATE": "2026-01-06"})


def test_tensorflow_jobs_run_in_their_own_processes(dagbag):
    from airflow.providers.standard.operators.bash import BashOperator

    dag = dagbag.dags["discover_weekly"]
    for task_id, module in (
        ("audio_features", "jobs.audio_features"),
        ("audio_train", "jobs.audio_cnn train"),
        ("audio_infer", "jobs.audio_cnn infer"),
        ("merge", "jobs.merge"),
        ("bandit", "jobs.bandit"),
        ("listener_models", "jobs.listener_models"),
        ("ahdqn", "jobs.ahdqn"),
        ("song_vectors", "jobs.song_vectors"),
        ("taste_vectors", "jobs.taste_vectors"),
    ):
        task = dag.get_task(task_id)
        assert isinstance(task, BashOperator)
        assert f"-m {module}" in task.bash_command


def test_week_param_rejects_malformed_weeks(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.dags["discover_weekly"].params.get_param("week")
    assert param.resolve("2026-W47") == "2026-W47"
    assert param.resolve(None) is None
    with pytest.raises(ParamValidationError):
        param.resolve("next monday")


def test_dag_file_does_not_import_heavy_libraries():
    code = (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('d', r'{ROOT / 'dags' / 'discover_weekly.py'}');"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        "heavy = [n for n in ('pyspark', 'pandas', 'tensorflow', 'spacy', 'librosa', 'numpy') if n in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    )
    assert out.stdout.strip().splitlines()[-1:] in ([], [""])


def test_resolve_week_task_uses_param_then_logical_date(dagbag):
    from types import SimpleNamespace

    resolve = dagbag.dags["discover_weekly"].get_task("resolve_week").python_callable
    monday = dt.datetime(2026, 11, 16, 6, tzinfo=dt.UTC)
    scheduled = SimpleNamespace(logical_date=monday, run_after=monday)
    manual = SimpleNamespace(logical_date=None, run_after=dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC))
    assert resolve(params={"week": "2026-W40"}, dag_run=scheduled) == "2026-W40"
    assert resolve(params={"week": None}, dag_run=scheduled) == "2026-W47"
    assert resolve(params={}, dag_run=manual) == "2026-W48"
