"""``make run``'s runner (jobs.runtime.dagrun) through Airflow: independent tasks at the same time under a
LocalExecutor, a failed task reported from its own log, and nothing left running afterwards."""

import subprocess
import sys

import pytest

from jobs.runtime import runinfo
from tests.airflow_env import ROOT, airflow_env

LOGICAL_DATE = "2026-11-16T06:00:00+00:00"

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _run(env, parallelism, log):
    cmd = [sys.executable, "-m", "jobs.runtime.dagrun", "dw_parallel_pair", LOGICAL_DATE, "{}", str(log)]
    return subprocess.run(
        [*cmd, "--parallelism", str(parallelism)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    base = tmp_path_factory.mktemp("parallel")
    env = airflow_env(base / "airflow", base / "data", base / "warehouse")
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "tests" / "dags")
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    return base, env


def _times(folder, task):
    start, end = (float(x) for x in (folder / task).read_text().split())
    return start, end


@pytest.mark.parametrize("parallelism", [2, 1])
def test_independent_tasks_overlap_only_with_slots_and_the_failure_is_named(home, parallelism):
    base, env = home
    out = base / f"p{parallelism}"
    out.mkdir()
    # the level make run gives the DAG run (make test exports WARNING, which leaves no task states in the log)
    env = {**env, "DW_TEST_PARALLEL_DIR": str(out), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    log = base / f"run-{parallelism}.log"
    proc = _run(env, parallelism, log)
    assert proc.returncode == 1, proc.stderr[-2000:]  # the `fail` task failed the run
    (a0, a1), (b0, b1) = _times(out, "a"), _times(out, "b")
    overlap = min(a1, b1) - max(a0, b0)
    if parallelism == 2:
        assert overlap > 2, (a0, a1, b0, b1)  # both 4 s sleeps ran at once
    else:
        assert overlap <= 0, (a0, a1, b0, b1)  # one after the other
    report = runinfo.failed_tasks(log, airflow_home=base / "airflow")
    assert report is not None and "task fail failed" in report, report
    assert "the last words of fail" in report
    assert "task a " not in report and "task b " not in report
    # no executor worker, task or execution API server left behind
    leftover = subprocess.run(
        ["pgrep", "-f", "dags test dw_parallel_pair|api-server --apps execution"], capture_output=True
    )
    assert leftover.stdout.strip() == b"", leftover.stdout
