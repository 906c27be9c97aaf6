"""Ingest, ALS, the merge and audio features on a real Spark standalone cluster (a master and two workers on
127.0.0.1), submitted the way a cluster needs it (spark-submit with the code zip), against a local run
(the merge and audio features with ``engine: spark`` against their local engines)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.evaluation.metrics import as_matrix
from jobs.runtime.package import build_zip
from tests.airflow_env import ROOT

WEEK = "2026-W47"
pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    bin_dir = Path(sys.executable).parent
    logs = tmp_path_factory.mktemp("spark-logs")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(logs / "work"),
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui = _free_port(), _free_port()
    procs = [
        subprocess.Popen(
            [
                str(bin_dir / "spark-class"),
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(ui),
            ],
            env=env,
            stdout=open(logs / "master.log", "w"),  # noqa: SIM115 - the server outlives this block
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        _wait_port(port)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "spark-class"),
                        "org.apache.spark.deploy.worker.Worker",
                        f"spark://127.0.0.1:{port}",
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        "1",
                        "--memory",
                        "1g",
                        "--webui-port",
                        str(_free_port()),
                        "--work-dir",
                        str(logs / f"work{i}"),
                    ],
                    env=env,
                    stdout=open(logs / f"worker{i}.log", "w"),  # noqa: SIM115
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both workers registered with the master
            if (logs / "master.log").read_text().count("Registering worker") >= 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail("workers did not register:\n" + (logs / "master.log").read_text()[-3000:])
        yield f"spark://127.0.0.1:{port}"
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _submit(master: str, job: str, data: Path, warehouse: Path, **settings: str) -> None:
    """``spark-submit jobs/<job>.py --week WEEK`` on ``master`` with the code zip; ``settings``: DW__ overrides."""
    env = {
        **os.environ,
        "DW_DATA": str(data),
        "DW_WAREHOUSE": str(warehouse),
        "DW_PROJECT_ROOT": str(ROOT),
        "DW__PATHS__CHECKPOINTS": str(warehouse / "_ckpt"),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        **settings,
    }
    zip_path = build_zip(ROOT, warehouse.parent / f"pipeline-{warehouse.name}.zip")
    cmd = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        master,
        "--py-files",
        str(zip_path),
        "--driver-memory",
        "1g",
        "--executor-memory",
        "1g",
        str(ROOT / "jobs" / f"{job}.py"),
        "--week",
        WEEK,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd="/")
    if proc.returncode != 0:
        pytest.fail(f"{job} on {master} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")


def test_ingest_and_als_on_a_standalone_cluster_match_a_local_run(cluster, tiny_world, tiny_week, tmp_path):
    """The local run: the DAG's ingest and ALS on local[2] (the ``tiny_week`` fixture's warehouse)."""
    _submit(cluster, "ingest", tiny_world, tmp_path / "cluster")
    _submit(cluster, "als", tiny_world, tmp_path / "cluster")
    key = ["user_id", "track_id", "played_at"]
    a = pq.read_table(tmp_path / "cluster" / "plays").to_pandas().sort_values(key, ignore_index=True)
    b = pq.read_table(tiny_week / "plays").to_pandas().sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a, b)

    def scores(wh):
        u = pq.read_table(wh / "user_factors" / f"week={WEEK}").to_pandas().sort_values("user_id")
        v = pq.read_table(wh / "item_factors" / f"week={WEEK}").to_pandas().sort_values("track_id")
        return as_matrix(u["vector"]) @ as_matrix(v["vector"]).T

    sa, sb = scores(tmp_path / "cluster"), scores(tiny_week)
    assert sa.shape == sb.shape
    np.testing.assert_allclose(sa, sb, atol=1e-3)
    ma = pq.read_table(tmp_path / "cluster" / "als_metrics" / f"week={WEEK}").to_pandas().set_index(["model", "metric"])
    mb = pq.read_table(tiny_week / "als_metrics" / f"week={WEEK}").to_pandas().set_index(["model", "metric"])
    np.testing.assert_allclose(ma["value"], mb.loc[ma.index, "value"], atol=1e-3)


def test_the_merge_and_audio_features_on_a_standalone_cluster_match_the_local_engines(
    cluster, tiny_world, tiny_week, tmp_path
):
    from jobs import audio_features
    from jobs.merge import job as merge_job
    from tests.airflow_env import copy_warehouse
    from tests.conftest import make_config

    # both merges read the same inputs: the tiny week's ALS fit, audio vectors, culture, taste vectors
    on_cluster = copy_warehouse(tiny_week, tmp_path / "cluster")
    here = copy_warehouse(tiny_week, tmp_path / "local")

    _submit(cluster, "merge/__main__", tiny_world, on_cluster, DW__MERGE__ENGINE="spark")
    merge_job.run(make_config(tiny_world, here), WEEK)  # the local engine, in this process
    pending = f"discover_weekly/_pending-{WEEK}/table"
    a = pq.read_table(on_cluster / pending).to_pandas()
    b = pq.read_table(here / pending).to_pandas()
    assert len(b) > 1000
    pd.testing.assert_frame_equal(a, b)

    cache = tmp_path / "cache-cluster"
    _submit(cluster, "audio_features", tiny_world, on_cluster, DW__AUDIO__ENGINE="spark", DW__PATHS__CACHE=str(cache))
    local = audio_features.run(make_config(tiny_world, here), WEEK)  # the process pool, its own cache
    assert local["computed"] > 20
    for table in ("spectrograms", "audio_attributes", "audio_rejects"):
        x = pq.read_table(on_cluster / table / f"week={WEEK}").to_pandas()
        y = pq.read_table(here / table / f"week={WEEK}").to_pandas()
        pd.testing.assert_frame_equal(x, y)
    assert len(list(cache.rglob("*.npz"))) == local["computed"] - local["rejects"].get("missing_file", 0)
