"""Environment for running the project's DAGs in tests: no task retries, a 2 GiB Spark driver."""

from __future__ import annotations

from pathlib import Path

from jobs.runtime.airflow_env import ROOT
from jobs.runtime.airflow_env import airflow_env as _airflow_env

__all__ = ["ROOT", "airflow_env"]


def airflow_env(home: Path, data: Path, warehouse: Path) -> dict[str, str]:
    """A full process environment: Airflow (SQLite under ``home``), local Spark, the given data."""
    return _airflow_env(home, data, warehouse, extra={"DW__DAG__RETRIES": "0", "DW__SPARK__DRIVER_MEMORY": "2g"})
