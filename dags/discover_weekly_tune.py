"""discover_weekly_tune: on the 1st of each month, choose the ALS and blend settings on the warehouse's
own earlier weeks, for the weekly runs that follow.

Wiring only, outside the weekly run's path: ``ingest`` validates the plays before the week
(``python -m jobs.ingest``), then ``tune`` (``python -m jobs.tools.tune``, see its docstring)
scores candidate settings on the 6 weeks before it, as the weekly jobs would build them, and
writes the best to ``<warehouse>/tuned/settings.yaml`` atomically. Every later job on that
warehouse reads it under the configuration file and the environment (``jobs.config``;
``DW__TUNE__APPLY=false`` ignores it), and ``make run``'s summary says which settings it
used and where they came from. Defaults chosen on the sample world need not fit a service's
own data; settings chosen on its own earlier weeks are judged on the weeks after them.

Trigger it by hand for a given week (the first week the settings are for)::

    airflow dags trigger discover_weekly_tune -c '{"week": "1998-W10"}'
    make tune DATA=path WEEK=1998-W10          # the same without Airflow

Settings (``dag`` section: retries, start date, pause on creation) as for ``discover_weekly``.
``DW_TUNE_SCHEDULE=none`` turns the monthly schedule off.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task

from jobs.config import load_config  # the project is installed (make setup); pydantic + yaml only
from jobs.runtime import dag_parts

ROOT = Path(os.environ.get("DW_PROJECT_ROOT") or Path(__file__).resolve().parents[1])
CONFIG = load_config()
PYTHON = os.environ.get("DW_PYTHON") or sys.executable
SCHEDULE = os.environ.get("DW_TUNE_SCHEDULE", "0 3 1 * *")  # 03:00 UTC on the 1st of each month
JOB_ENV = dag_parts.job_env(ROOT, PYTHON)
WEEK = dag_parts.WEEK

with DAG(
    dag_id="discover_weekly_tune",
    description="Monthly: choose ALS and blend settings on the warehouse's earlier weeks for the weekly runs",
    schedule=None if SCHEDULE.lower() == "none" else SCHEDULE,
    start_date=dag_parts.start_date(CONFIG),
    catchup=False,
    is_paused_upon_creation=CONFIG.dag.paused_on_creation,
    max_active_runs=1,
    default_args=dag_parts.default_args(CONFIG, timeout_hours=6),
    params={"week": dag_parts.week_param("the first week the settings are for; empty = the week of the logical date")},
    tags=["recsys", "discover-weekly", "tuning"],
    doc_md=__doc__,
) as dag:

    @task
    def resolve_week(params: dict | None = None, dag_run=None) -> str:  # noqa: ANN001 - Airflow injects it
        """The run's ISO week: the ``week`` param, else the week of the logical date."""
        return dag_parts.run_week(params, dag_run)

    def job(task_id: str, command: str) -> BashOperator:
        return BashOperator(
            task_id=task_id,
            bash_command=f"{PYTHON} -m jobs.{command} --week {WEEK}",
            cwd=str(ROOT),
            env=JOB_ENV,
            append_env=True,
        )

    resolve_week() >> job("ingest", "ingest") >> job("tune", "tools.tune")
