"""Shared fixtures: one local Spark session per test run, the tiny sample world, and its week computed once."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DW_PROJECT_ROOT", str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("py4j").setLevel(logging.WARNING)  # its shutdown message outlives pytest's capture


@pytest.fixture(scope="session")
def spark():
    """A local[1] session with one shuffle partition: small, quick and deterministic."""
    from pyspark.sql import SparkSession

    from jobs.config import load_config
    from jobs.warehouse.spark import session_conf

    os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder.master("local[1]").appName("tests").config("spark.driver.memory", "2g")
    for key, value in session_conf(load_config(environ={})).items():
        builder = builder.config(key, value)
    session = builder.config("spark.sql.shuffle.partitions", "1").getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def once_per_run(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` (it returns a path) once per test run, also when pytest-xdist runs the tests in
    several processes: the first to ask builds it in the run's shared temp folder under a lock, the
    others wait for it and get the same path (so every process sees the same world and week)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent / name
    with open(f"{shared}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / ".built"
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir()
            done.write_text(str(build(shared)))
        return Path(done.read_text())


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """The tiny sample world (the size the end-to-end tests use), generated once."""
    from jobs.config import build_config
    from jobs.tools.world.cli import TINY, generate

    def build(folder: Path) -> Path:
        generate(build_config({"world": TINY}).world, folder / "sample")
        return folder / "sample"

    return once_per_run(tmp_path_factory, "world", build)


TINY_WEEK = "2026-W47"
TINY_LOGICAL_DATE = "2026-11-16T06:00:00+00:00"


@pytest.fixture(scope="session")
def tiny_week(tiny_world, tmp_path_factory) -> Path:
    """The tiny world's week computed once by the whole DAG (as ``make run`` runs it: two tasks at
    once under a LocalExecutor); its warehouse.

    Read it, never change it. A test that runs the DAG again runs it on a copy
    (:func:`tests.airflow_env.copy_warehouse`): step reuse (:mod:`jobs.runtime.reuse`) then runs
    only the steps that always run, so a test of Airflow itself (its metadata in PostgreSQL, a
    scheduler) does not compute the week again.
    """
    from tests.airflow_env import airflow_env, run_airflow, run_dag

    def build(base: Path) -> Path:
        env = airflow_env(base / "airflow", tiny_world, base / "warehouse")
        run_airflow(env, "db", "migrate")
        run_dag(env, TINY_LOGICAL_DATE, base / "dag.log")  # as make run does: two tasks at once
        return base / "warehouse"

    return once_per_run(tmp_path_factory, "tiny-week", build)


SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(name: str, *files: str, root: Path = SHARED_DATA) -> Path:
    """``<root>/<name>``, the real data beside the project (``../shared/data`` by default).

    Skips the test only when ``root`` itself is absent (a machine without the shared data);
    when it is there, a missing ``name`` folder or file fails the test naming the path, so a
    wrong path cannot pass as a skip.
    """
    if not root.is_dir():
        pytest.skip(f"no {root}: the real data sets are not on this machine")
    folder = root / name
    missing = [str(folder / f) for f in (files or ("",)) if not (folder / f).exists()]
    if missing:
        pytest.fail(f"{root} is here but lacks what this test reads: {', '.join(missing)}")
    return folder


def make_config(data: Path, warehouse: Path, **sections):
    """A validated Config for tests, pointing at the given data and warehouse."""
    from jobs.config import build_config

    paths = {"data": str(data), "warehouse": str(warehouse), "checkpoints": str(warehouse / "_ckpt")}
    raw = {"paths": {**paths, "cache": str(warehouse / "_cache")}}  # a test's own cache: none shared
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return build_config(raw)


# Markers follow what a test uses, so `-m` selections (and `make check`) stay honest: a test that
# uses the `spark` fixture starts Spark; one that uses `tiny_world` waits for a world to be generated;
# a module that imports `airflow_env` from tests/airflow_env.py runs Airflow in a subprocess.
MARKER_RULES = (
    ("spark", lambda item: "spark" in item.fixturenames),
    ("slow", lambda item: "tiny_world" in item.fixturenames),
    ("airflow", lambda item: "airflow_env" in vars(item.module)),
)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything: every collected test is checked
def pytest_collection_modifyitems(config, items):
    missing = [
        f"{item.nodeid}: needs @pytest.mark.{marker}"
        for item in items
        if isinstance(item, pytest.Function)
        for marker, applies in MARKER_RULES
        if applies(item) and item.get_closest_marker(marker) is None
    ]
    if missing:
        raise pytest.UsageError("tests without the markers they need (see pyproject.toml):\n  " + "\n  ".join(missing))
    gone = [path for path in LONG_FILES if not (ROOT / path).is_file()]
    if gone:
        raise pytest.UsageError(f"tests/conftest.py LONG_FILES names files that are not there: {', '.join(gone)}")
    slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items[:] = sorted(items, key=lambda item: _file_order(item.nodeid.split("::")[0], slow))


# `make test` runs whole files in two processes (pytest-xdist, --dist loadfile --no-loadscope-reorder),
# each taking the next file when it is done: the longest files go first, so that neither process
# starts one at the end while the other waits. The first four each compute their own week (the first,
# the tiny week the others share: tiny_week); seconds in a two-process run of 2026-12-07, all four together.
LONG_FILES = (
    "tests/e2e/test_end_to_end.py",  # the tiny week, its recompute and rerun, and the week before: ~970 s
    "tests/integration/test_bench_smoke.py",  # its own world's week and the benchmarks: ~520 s
    "tests/e2e/test_loop.py",  # two weeks of the loop: ~380 s
    "tests/e2e/test_real_data.py",  # make run of a MovieLens week: ~280 s
    "tests/integration/test_spark_cluster.py",  # a standalone cluster, on the tiny week: ~430 s
)


def _file_order(path: str, slow: set[str]) -> tuple[int, int]:
    """The long files (in :data:`LONG_FILES`' order), then the other files with a slow test, then the rest;
    within each, pytest's own order (the sort is stable)."""
    if path in LONG_FILES:
        return (0, LONG_FILES.index(path))
    return (1, 0) if path in slow else (2, 0)
