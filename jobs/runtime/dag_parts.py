"""What the project's DAG files share: the job processes' environment, the start date, default
arguments, the ``week`` param and the run's week.

Imported by ``dags/discover_weekly.py`` and ``dags/discover_weekly_tune.py`` when Airflow parses
them, so it imports only the configuration (pydantic, yaml) and, inside the functions, Airflow's
SDK and pendulum: the Airflow worker never imports pyarrow, Spark or TensorFlow. Reads and
writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from jobs.config import Config

WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"  # ASCII digits (the run's week is checked to exist when resolved)
WEEK = "{{ ti.xcom_pull(task_ids='resolve_week') }}"  # the resolve_week task's result, in a templated field


def job_env(root: Path, python: str) -> dict[str, str]:
    """Passed to every job process (the worker's own environment is inherited on top)."""
    return {"DW_PROJECT_ROOT": str(root), "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}


def start_date(config: Config) -> Any:
    """``dag.start_date`` (a Monday, validated) as Airflow wants it: early, so any week since 1970 may
    be run with its own Monday as the logical date; with catchup off the scheduler still creates
    only the latest run."""
    import pendulum

    start = date.fromisoformat(config.dag.start_date)
    return pendulum.datetime(start.year, start.month, start.day, tz="UTC")


def default_args(config: Config, timeout_hours: float) -> dict[str, Any]:
    """Every task's owner, retries with exponential backoff (``dag`` section) and time limit."""
    return {
        "owner": "recsys",
        "retries": config.dag.retries,
        "retry_delay": timedelta(minutes=config.dag.retry_delay_minutes),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=timeout_hours),
    }


def week_param(description: str) -> Any:
    """The ``week`` param: an ISO week such as 2026-W47, or empty for the week of the logical date."""
    from airflow.sdk import Param

    return Param(None, type=["null", "string"], pattern=WEEK_PATTERN, description=description)


def run_week(params: dict | None, dag_run: Any) -> str:
    """The run's ISO week: the ``week`` param, else the week of the logical date (or of when it ran)."""
    from jobs.warehouse.weeks import resolve_week

    when = None
    if dag_run is not None:
        when = dag_run.logical_date or dag_run.run_after
    return resolve_week((params or {}).get("week"), when)
