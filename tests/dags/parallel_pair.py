"""A tiny DAG for tests/integration/test_parallel_run.py: two tasks that may run at the same time, then one that fails.

``a`` and ``b`` each write their start and end times (``time.time()``) to
``$DW_TEST_PARALLEL_DIR/<task>`` around a 4 s sleep; ``fail`` runs after both, prints a
line and exits 3 (no retries), so the run fails and the failure report can be checked.
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

OUT = os.environ.get("DW_TEST_PARALLEL_DIR", "/nonexistent")
STAMP = "python3 -c 'import time; print(time.time())'"

with DAG(
    dag_id="dw_parallel_pair",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 5, tz="UTC"),
    catchup=False,
    default_args={"owner": "tests", "retries": 0},
) as dag:
    a, b = (
        BashOperator(task_id=name, bash_command=f'{{ {STAMP}; sleep 4; {STAMP}; }} > "{OUT}/{name}"')
        for name in ("a", "b")
    )
    fail = BashOperator(task_id="fail", bash_command='echo "the last words of fail"; exit 3')
    [a, b] >> fail
