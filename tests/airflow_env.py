"""Environment for running the project's DAGs under a throw-away Airflow home."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def airflow_env(home: Path, data: Path, warehouse: Path) -> dict[str, str]:
    """A full process environment: Airflow (SQLite under ``home``), local Spark, the given data."""
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
            "DW__PATHS__CHECKPOINTS": str(warehouse.parent / "checkpoints"),
            "DW_TASK_RETRIES": "0",
            "DW_SPARK_DRIVER_MEMORY": "2g",
            "PYTHONPATH": str(ROOT),
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        }
    )
    return env
