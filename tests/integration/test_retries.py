"""The shipped retry policy really retries, through Airflow: a task that fails once is run again and
the run succeeds; a task that keeps failing is tried ``retries + 1`` times and fails the run.

The DAGs under test (tests/dags/retry_policy.py) take ``retries`` and the exponential backoff from
the shipped ``discover_weekly`` DAG; only the delay is one second instead of two minutes, so the
test takes seconds. ``airflow dags test`` honours retries: its loop leaves an ``up_for_retry``
task until its next retry time and then runs it again with the next try number.
"""

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from unittest import mock

import pytest

from tests.airflow_env import ROOT, airflow_env

LOGICAL_DATE = "2026-11-16T06:00:00+00:00"

pytestmark = pytest.mark.airflow  # the two DAG runs below are slow too; the policy check is not


def _shipped_dag():
    """dags/discover_weekly.py imported afresh without DW__DAG__* overrides (the configured default policy)."""
    with mock.patch.dict(os.environ):
        for name in [n for n in os.environ if n.startswith("DW__DAG__")]:
            os.environ.pop(name)
        spec = importlib.util.spec_from_file_location("discover_weekly_shipped", ROOT / "dags" / "discover_weekly.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.dag


def test_shipped_tasks_retry_with_backoff_by_default():
    dag = _shipped_dag()
    assert dag.default_args["retries"] >= 1
    assert dag.default_args["retry_delay"] >= timedelta(minutes=1)
    assert dag.default_args["retry_exponential_backoff"]
    assert len(dag.tasks) == 19
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_delay == dag.default_args["retry_delay"], task.task_id


def _airflow(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _tail(proc):
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both retry DAGs run once through `airflow dags test` in a fresh Airflow home (SQLite)."""
    base = tmp_path_factory.mktemp("retries")
    tries = base / "tries"
    tries.mkdir()
    shipped = _shipped_dag().default_args
    env = airflow_env(base / "airflow", base / "data", base / "warehouse")
    env.pop("DW__DAG__RETRIES")  # the shipped default, not the end-to-end tests' 0
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "tests" / "dags")
    env["DW_TEST_RETRY_DIR"] = str(tries)
    env["DW_TEST_RETRY_ARGS"] = json.dumps(
        {
            "retries": shipped["retries"],
            "retry_exponential_backoff": shipped["retry_exponential_backoff"],
            "retry_delay_seconds": 1,
        }
    )
    migrate = _airflow(env, "db", "migrate")
    assert migrate.returncode == 0, _tail(migrate)
    procs = {
        dag_id: _airflow(env, "dags", "test", dag_id, LOGICAL_DATE)
        for dag_id in ("dw_retry_transient", "dw_retry_exhausted")
    }
    with sqlite3.connect(base / "airflow" / "airflow.db") as db:
        runs_ = dict(db.execute("SELECT dag_id, state FROM dag_run"))
        tis = {
            (dag_id, task_id): (state, try_number)
            for dag_id, task_id, state, try_number in db.execute(
                "SELECT dag_id, task_id, state, try_number FROM task_instance"
            )
        }
        history = sorted(db.execute("SELECT dag_id, task_id, try_number, state FROM task_instance_history"))
    return {
        "retries": shipped["retries"],
        "procs": procs,
        "dag_runs": runs_,
        "tis": tis,
        "history": history,
        "tries": tries,
    }


@pytest.mark.slow
def test_a_transient_failure_is_retried_and_the_run_succeeds(runs):
    proc = runs["procs"]["dw_retry_transient"]
    assert proc.returncode == 0, _tail(proc)
    assert runs["dag_runs"]["dw_retry_transient"] == "success"
    assert runs["tis"][("dw_retry_transient", "job")] == ("success", 2)
    assert runs["tis"][("dw_retry_transient", "after")] == ("success", 1)
    # the failed first try is on record, and the job really ran twice
    assert [h for h in runs["history"] if h[0] == "dw_retry_transient"] == [("dw_retry_transient", "job", 1, "failed")]
    assert (runs["tries"] / "transient").read_text().strip() == "2"
    assert (runs["tries"] / "dw_retry_transient.after").exists()


@pytest.mark.slow
def test_a_permanent_failure_is_tried_retries_plus_one_times_then_fails_the_run(runs):
    proc = runs["procs"]["dw_retry_exhausted"]
    assert proc.returncode != 0 and "DagRun failed" in proc.stdout + proc.stderr, _tail(proc)
    attempts = runs["retries"] + 1
    assert runs["dag_runs"]["dw_retry_exhausted"] == "failed"
    assert runs["tis"][("dw_retry_exhausted", "job")] == ("failed", attempts)
    assert runs["tis"][("dw_retry_exhausted", "after")][0] == "upstream_failed"
    earlier = [(t, s) for d, task, t, s in runs["history"] if (d, task) == ("dw_retry_exhausted", "job")]
    assert earlier == [(t, "failed") for t in range(1, attempts)]
    assert (runs["tries"] / "exhausted").read_text().strip() == str(attempts)
    assert not (runs["tries"] / "dw_retry_exhausted.after").exists()
