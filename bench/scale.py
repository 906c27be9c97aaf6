"""The scale curve: worlds of about 1, 3 and 10 million play events (30 million on request), each run as a whole week.

For each size the generator writes a world (kept under ``data/bench/<size>/world`` and reused
while its manifest matches), then the ``discover_weekly`` DAG runs for its latest week through
Airflow (``airflow dags test``, one task at a time as ``make run`` with ``dag.parallelism: 1``,
so each stage's time is its own) into a fresh warehouse, while :func:`bench.peak_memory.measure` samples the summed RSS of the whole process tree.
Per stage, the seconds each job measured itself (``run_metrics/week=W/*.json``) are collected.
Then the merge runs again on the same warehouse with ``merge.engine`` local and spark, to time
the two engines on the same input and check they leave the same table.

Audio and web grow with the catalog only as far as configured: ``audio_tracks`` clips (a
seeded sample of the played catalog, plus every new release) and pages about ``web_artists``
artists, so the curve measures what grows with listeners and plays (ingest, ALS, merge).

Run alone::

    python -m bench.scale --sizes 1m 3m 10m
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.peak_memory import measure
from jobs.config import PROJECT_ROOT, build_config
from jobs.runtime.airflow_env import airflow_env
from jobs.runtime.runinfo import logical_date

# events ~ users x plays_per_user_week x weeks x 1.34 (heavy listeners, churn; measured)
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"users": 600, "artists": 48, "tracks": 600, "new_releases": 12, "audio_tracks": 48, "web_artists": 12},
    "1m": {"users": 20_000, "artists": 1_600, "tracks": 10_000, "new_releases": 100},
    "3m": {"users": 60_000, "artists": 4_800, "tracks": 30_000, "new_releases": 100},
    "10m": {"users": 200_000, "artists": 16_000, "tracks": 100_000, "new_releases": 100},
    # opt-in (--sizes 30m): not in the default run; docs/SCALE.md projects its peak from the 10m one
    "30m": {"users": 600_000, "artists": 48_000, "tracks": 300_000, "new_releases": 100},
}
COMMON = {"plays_per_user_week": 4.7, "weeks": 8, "clip_seconds": 4.0, "audio_tracks": 400, "web_artists": 150}
# the CNN trains for at most this many epochs in the bench (its cost does not grow with plays)
# ALS fits both its models: a week of a world run before would read them back from the fit cache
BENCH_ENV = {
    "DW__AUDIO_CNN__MAX_EPOCHS": "20",
    "DW__DAG__RETRIES": "0",
    "DW_SCHEDULE": "none",
    "DW__ALS__CACHE": "false",
}
SMOKE_ENV = {"DW__AUDIO_CNN__MAX_EPOCHS": "2", "DW__AUDIO_CNN__EVALUATE": "false", "DW__AUDIO_CNN__BATCH_SIZE": "16"}


def world_settings(size: str) -> dict[str, Any]:
    return {**COMMON, **SIZES[size]}


def ensure_world(size: str, root: Path) -> tuple[Path, dict[str, Any]]:
    """The world for ``size`` under ``root``; generated unless a matching one is there."""
    from jobs.tools.world.cli import GENERATOR_VERSION, generate

    out = root / size / "world"
    settings = world_settings(size)
    manifest_path = out / "world.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("generator_version") == GENERATOR_VERSION and manifest.get("bench_settings") == settings:
            return out, manifest
    conf = build_config({"world": settings}).world
    t0 = time.perf_counter()
    manifest = generate(conf, out)
    manifest["bench_settings"] = settings
    manifest["generate_seconds"] = round(time.perf_counter() - t0, 1)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return out, manifest


def dag_env(world: Path, work: Path, airflow_home: Path, extra: dict[str, str]) -> dict[str, str]:
    return airflow_env(airflow_home, world, work / "warehouse", work / "checkpoints", {**BENCH_ENV, **extra})


def run_week(
    size: str, root: Path, extra_env: dict[str, str] | None = None, merge_engines_too: bool = True
) -> dict[str, Any]:
    """Generate (or reuse) the world, run its week through Airflow, and collect timings; then the
    merge on both engines (:func:`merge_engines`)."""
    world, manifest = ensure_world(size, root)
    work = root / size / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    airflow_home = root / "airflow"
    env = dag_env(world, work, airflow_home, extra_env or {})
    if not (airflow_home / "airflow.db").exists():
        airflow_home.mkdir(parents=True, exist_ok=True)
        migrated = measure([sys.executable, "-m", "airflow", "db", "migrate"], env, airflow_home / "migrate.log")
        if migrated["exit"] != 0:
            raise RuntimeError(f"airflow db migrate failed; see {airflow_home / 'migrate.log'}")
    week = manifest["publish_week"]
    log = work / "dag.log"
    run = measure([sys.executable, "-m", "airflow", "dags", "test", "discover_weekly", logical_date(week)], env, log)
    if run["exit"] != 0:
        raise RuntimeError(f"the DAG run for {size} failed (exit {run['exit']}); see {log}")
    metrics_dir = work / "warehouse" / "run_metrics" / f"week={week}"
    stages = {p.stem: json.loads(p.read_text()) for p in sorted(metrics_dir.glob("*.json"))}
    merge = stages.get("merge", {})
    listeners = (merge.get("counts") or merge).get("eligible") or 0
    return {
        "size": size,
        "week": week,
        "play_events": manifest["play_events"],
        "raw_rows": manifest["raw_rows"],
        "world": manifest["sizes"],
        "generate_seconds": manifest.get("generate_seconds"),
        "dag_wall_seconds": run["wall_seconds"],
        "peak_tree_rss_gib": run["peak_tree_rss_gib"],
        "stage_seconds": {name: m.get("seconds") for name, m in stages.items() if "seconds" in m},
        "als_fit_seconds": stages.get("als", {}).get("fit_seconds"),
        "als_pairs": stages.get("als", {}).get("pairs"),
        "listeners_published": listeners,
        "warehouse": str(work / "warehouse"),
        "merge_engines": _engines(env, work / "warehouse", week) if merge_engines_too else None,
    }


def _engines(env: dict[str, str], warehouse: Path, week: str) -> dict[str, Any]:
    try:
        return merge_engines(env, warehouse, week)
    except Exception as exc:  # noqa: BLE001 - the week's own numbers are worth keeping
        return {"error": f"{type(exc).__name__}: {exc}"}


def merge_engines(env: dict[str, str], warehouse: Path, week: str) -> dict[str, Any]:
    """The merge job again on the run's warehouse, with the local engine and then with Spark
    (``local[2]``): each one's seconds (process start included) and whether they leave the same
    table. Each run leaves the week's table pending; it is removed afterwards."""
    import pyarrow.parquet as pq

    from jobs.warehouse.atomic import discard_dir
    from jobs.warehouse.store import Warehouse

    wh = Warehouse(warehouse)
    out: dict[str, Any] = {}
    tables = {}
    for engine in ("local", "spark"):
        log = warehouse.parent / f"merge-{engine}.log"
        cmd = [sys.executable, "-m", "jobs.merge", "--week", week]
        run = measure(cmd, {**env, "DW__MERGE__ENGINE": engine, "DW__DAG__REUSE": "false"}, log)
        if run["exit"] != 0:
            raise RuntimeError(f"the {engine} merge failed (exit {run['exit']}); see {log}")
        job = json.loads(wh.metrics_file("merge", week).read_text())
        tables[engine] = pq.read_table(wh.pending(week) / "table").to_pandas()
        out[engine] = {
            "wall_seconds": run["wall_seconds"],
            "job_seconds": job["seconds"],
            "peak": run["peak_tree_rss_gib"],
        }
        discard_dir(wh.pending(week))
    key = ["user_id", "position"]
    a, b = (tables[e].sort_values(key, ignore_index=True) for e in ("local", "spark"))
    out["same_rows"] = same_rows(a, b)
    out["rows"] = len(a)
    return out


def same_rows(a: Any, b: Any) -> bool:
    """The same tracks, sources and reasons in the same places, and scores to 1e-5 relative: the
    engines' blocks differ in size, and BLAS tiles a product by its rows (the scores' last digits)."""
    import numpy as np

    if a.shape != b.shape or list(a.columns) != list(b.columns):
        return False
    rest = [c for c in a.columns if c != "score"]
    return bool(a[rest].equals(b[rest]) and np.allclose(a["score"], b["score"], rtol=1e-5, atol=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1m", "3m", "10m"], choices=sorted(SIZES))
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT / "data" / "bench")
    args = parser.parse_args(argv)
    for size in args.sizes:
        print(json.dumps(run_week(size, args.root, SMOKE_ENV if size == "smoke" else None), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
