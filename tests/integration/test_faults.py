"""Faults: a job killed while it writes leaves no partial output visible, and the rerun gives the same rows."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.airflow_env import ROOT

WEEK = "2026-W47"
pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _env(data, warehouse):
    return {
        **os.environ,
        "DW_DATA": str(data),
        "DW_WAREHOUSE": str(warehouse),
        "DW_PROJECT_ROOT": str(ROOT),
        "DW__PATHS__CHECKPOINTS": str(warehouse / "_ckpt"),
        "DW__SPARK__MASTER": "local[1]",
    }


def _visible_plays(warehouse):
    root = warehouse / "plays"
    if not root.exists():
        return pd.DataFrame()
    parts = [p for p in root.iterdir() if p.name.startswith("day=")]
    return pq.read_table(root).to_pandas() if parts else pd.DataFrame()


def test_ingest_killed_while_writing_leaves_nothing_partial_and_reruns_identically(tiny_world, tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.ingest", "--week", WEEK],
        env=_env(tiny_world, killed),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    staged = None
    while time.monotonic() < deadline and proc.poll() is None:
        root = killed / "plays"
        staged = [p for p in root.iterdir() if p.name.startswith("_staging-")] if root.exists() else []
        if staged:
            break
        time.sleep(0.05)
    assert staged, "the job never started writing its output (or finished first)"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, mid-write
    proc.wait()
    # whatever is visible is whole: no day partition exists yet, staging is hidden from readers
    assert _visible_plays(killed).empty
    assert not (killed / "discover_weekly").exists()

    for wh in (killed, reference):
        subprocess.run(
            [sys.executable, "-m", "jobs.ingest", "--week", WEEK],
            env=_env(tiny_world, wh),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    key = ["user_id", "track_id", "played_at"]
    a = _visible_plays(killed).sort_values(key, ignore_index=True)
    b = _visible_plays(reference).sort_values(key, ignore_index=True)
    assert len(a) > 1000
    pd.testing.assert_frame_equal(a, b)
    assert not [p for p in (killed / "plays").iterdir() if p.name.startswith("_")]  # leftovers cleaned
