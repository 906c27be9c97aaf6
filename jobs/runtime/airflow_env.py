"""The process environment for running the project's DAGs under a throw-away Airflow home.

Used where a DAG is run programmatically, outside ``make`` (whose exports are the same
settings): the end-to-end tests and the scale benchmarks. Reads and writes nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def airflow_env(
    home: Path, data: Path, warehouse: Path, checkpoints: Path | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """A full environment: Airflow (SQLite under ``home``), local[2] Spark, the given data and warehouse."""
    venv_bin = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
            "DW_PROJECT_ROOT": str(ROOT),
            "DW_PYTHON": sys.executable,
            "DW_DATA": str(data),
            "DW_WAREHOUSE": str(warehouse),
            "DW__PATHS__CHECKPOINTS": str(checkpoints or warehouse.parent / "checkpoints"),
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
            **(extra or {}),
        }
    )
    return env
