"""Running the project's DAGs in tests: the environment (no task retries, a 2 GiB Spark driver),
``airflow`` commands that fail the test with their output, and copies of a computed warehouse."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.runtime.airflow_env import ROOT
from jobs.runtime.airflow_env import airflow_env as _airflow_env

__all__ = ["ROOT", "airflow_env", "copy_warehouse", "run_airflow", "run_dag"]


def airflow_env(home: Path, data: Path, warehouse: Path) -> dict[str, str]:
    """A full process environment: Airflow (SQLite under ``home``), local Spark, the given data."""
    return _airflow_env(home, data, warehouse, extra={"DW__DAG__RETRIES": "0", "DW__SPARK__DRIVER_MEMORY": "2g"})


def run_airflow(env: dict[str, str], *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python -m airflow ARGS`` in the project root; a failure fails the test with the last 80 lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-80:])
        pytest.fail(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return proc


def run_dag(env: dict[str, str], logical_date: str, log: Path, parallelism: int = 2, timeout: int = 900) -> None:
    """One run of ``discover_weekly`` the way ``make run`` runs it (:mod:`jobs.runtime.dagrun`:
    ``parallelism`` tasks at once under a LocalExecutor); a failure fails the test with the failed
    tasks' own output (or the run log's last 80 lines)."""
    cmd = [sys.executable, "-m", "jobs.runtime.dagrun", "discover_weekly", logical_date, "{}", str(log)]
    proc = subprocess.run(
        [*cmd, "--parallelism", str(parallelism)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        from jobs.runtime.runinfo import failed_tasks

        text = log.read_text(errors="replace") if log.exists() else ""
        failed = failed_tasks(log, airflow_home=Path(env["AIRFLOW_HOME"])) if text else None
        tail = failed or "\n".join((text + proc.stderr).splitlines()[-80:])
        pytest.fail(f"the DAG run failed ({proc.returncode}); log {log}:\n{tail}")


def copy_warehouse(source: Path, target: Path) -> Path:
    """A copy of a computed warehouse, its step stamps included, so a DAG run on it reuses the steps."""
    shutil.copytree(source, target, symlinks=True)
    return target
