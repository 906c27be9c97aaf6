"""`make run` refuses a second run on the same Airflow home before Airflow is touched."""

import fcntl
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_make_run_on_one_airflow_home_is_refused(tmp_path):
    data = tmp_path / "data"
    (data / "raw" / "plays").mkdir(parents=True)
    (data / "catalog").mkdir()
    home = tmp_path / "airflow"
    home.mkdir()
    (home / "airflow.db").touch()  # already migrated, as far as make can tell
    with open(home / ".run.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the first run holds it
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DW_", "MAKE"))}
        done = subprocess.run(
            ["make", "--no-print-directory", "run", f"DATA={data}", f"DW_AIRFLOW_HOME={home}", "WEEK=2026-W47"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode != 0
    assert f"another 'make run' is using {home}" in done.stdout
    assert not (home / "runs").exists()  # refused before a log was started
