"""Two tiny DAGs for tests/integration/test_retries.py: one task that fails once, one that always fails.

Their retry settings are not written here: the test reads them from the shipped
``discover_weekly`` DAG and passes them in ``DW_TEST_RETRY_ARGS`` (JSON: ``retries``,
``retry_exponential_backoff``, ``retry_delay_seconds``), so the policy under test is the
shipped one with only the delay shortened. Each task counts its tries in a file under
``DW_TEST_RETRY_DIR``.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

ARGS = json.loads(os.environ.get("DW_TEST_RETRY_ARGS", "{}"))
DEFAULT_ARGS = {
    "owner": "tests",
    "retries": ARGS.get("retries", 0),
    "retry_exponential_backoff": ARGS.get("retry_exponential_backoff", 0),
    "retry_delay": timedelta(seconds=ARGS.get("retry_delay_seconds", 1)),
}
TRIES = os.environ.get("DW_TEST_RETRY_DIR", "/nonexistent")


def _count_try(name: str) -> str:
    """Bash that adds one to the try counter in ``$DW_TEST_RETRY_DIR/<name>`` and leaves it in ``$n``."""
    path = f"{TRIES}/{name}"
    return f'n=$(( $(cat "{path}" 2>/dev/null || echo 0) + 1 )); echo "$n" > "{path}"; '


def _dag(dag_id: str, command: str) -> DAG:
    """``job`` (runs ``command``) >> ``after`` (leaves ``<dag_id>.after`` to show the run went on)."""
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 5, tz="UTC"),
        catchup=False,
        default_args=DEFAULT_ARGS,
    ) as dag:
        job = BashOperator(task_id="job", bash_command=command)
        after = BashOperator(task_id="after", bash_command=f'echo done > "{TRIES}/{dag_id}.after"')
        job >> after
    return dag


# a transient failure: the first try exits 1, later tries succeed
transient = _dag(
    "dw_retry_transient", _count_try("transient") + 'if [ "$n" -lt 2 ]; then echo "transient failure"; exit 1; fi'
)
# a permanent failure: every try exits 1
exhausted = _dag("dw_retry_exhausted", _count_try("exhausted") + 'echo "permanent failure on try $n"; exit 1')
