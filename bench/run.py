"""``make bench``: every benchmark, medians over repeated runs, as JSON and as ``docs/BENCHMARKS.md``.

What runs (``--smoke`` runs the same harness on a world of ~25,000 events, once each):

* ``make_run``: the whole ``make run`` on the sample world, wall time and peak RSS of its process tree;
* ``scale``: worlds of ~1, 3 and 10 million play events, each a whole DAG run through Airflow
  (:mod:`bench.scale`): wall, peak memory and seconds per stage, and implicit's fit on the
  same week's matrix beside Spark's;
* ``als_vs_implicit``: Spark ALS against implicit on the same split, fit time and precision@10
  (:mod:`bench.als_implicit`), on Last.fm 2k and on the 1M world;
* ``top_k``: ``recommendForAllUsers`` against the project's blocked top-K, same output (:mod:`bench.topk`);
* ``spectrograms`` (clips/s), ``spacy`` (words/s) and ``merge`` (listeners/s): the real jobs, on
  the sample world's data and warehouse;
* ``real_audio``: the audio attributes on real annotated recordings (:mod:`studies.real_audio`,
  ``../shared/data/real-audio``; skipped with a message when absent), held-out accuracy with intervals;
* ``annoy``: Annoy against exact search (recall@10, build and query times) on the week's
  ``song_vectors`` and on 1k-100k synthetic song vectors, and the merge's audio candidates by
  Annoy against the exact product (:mod:`bench.annoy_recall`).

Writes ``--out`` (default ``docs/bench.json``) and ``--md`` (default ``docs/BENCHMARKS.md``; the
smoke run writes ``build/bench/smoke.json`` and ``.md``). ``--render`` rewrites the markdown from
the JSON. Run alone::

    python -m bench.run                 # everything (45 min on 2 cores)
    python -m bench.run --smoke         # the harness on a tiny world (what `make test` runs)
    python -m bench.run --only spectrograms spacy merge
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from bench.peak_memory import measure
from bench.render import markdown, targets
from jobs.config import PROJECT_ROOT, Config, build_config

SECTIONS = (
    "make_run",
    "scale",
    "als_vs_implicit",
    "als_tuning",
    "als_profile",
    "top_k",
    "spectrograms",
    "spacy",
    "merge",
    "real_audio",
    "annoy",
)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    import numpy
    import pyspark

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java[0] if java else "unknown",
        "spark": pyspark.__version__,
        "numpy": numpy.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _config(data: Path, warehouse: Path, **sections: dict[str, Any]) -> Config:
    raw: dict[str, Any] = {
        "paths": {"data": str(data), "warehouse": str(warehouse), "checkpoints": str(warehouse / "_checkpoints")}
    }
    raw.update(sections)
    return build_config(raw)


def _median_of(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(float(r[key]) for r in runs), 2)


# ----------------------------------------------------------------------------- sections


def bench_make_run(log_dir: Path) -> dict[str, Any]:
    result = measure(["make", "--no-print-directory", "run"], None, log_dir / "make_run.log")
    if result["exit"] != 0:
        raise RuntimeError(f"make run failed; see {log_dir / 'make_run.log'}")
    return result


def bench_spectrograms(world: Path, work: Path, week: str, clips: int, repeats: int) -> dict[str, Any]:
    """The audio job (process pool, all cores) on the first ``clips`` tracks with audio."""
    from jobs import audio_features
    from jobs.warehouse.catalog import read_catalog_table

    data = work / "data"
    shutil.rmtree(work, ignore_errors=True)
    (data / "catalog").mkdir(parents=True)
    tracks = read_catalog_table(world, "tracks").dropna(subset=["audio_path"]).sort_values("track_id").head(clips)
    tracks.to_csv(data / "catalog" / "tracks.csv", index=False)
    shutil.copy(world / "catalog" / "artists.csv", data / "catalog" / "artists.csv")
    (data / "audio").symlink_to((world / "audio").resolve())
    runs = [audio_features.run(_config(data, work / "warehouse"), week) for _ in range(repeats)]
    shutil.rmtree(work, ignore_errors=True)
    return {
        "clips": len(tracks),
        "workers": runs[0]["workers"],
        "clips_per_second_median": _median_of(runs, "clips_per_second"),
        "clips_per_second_per_core_median": _median_of(runs, "clips_per_second_per_core"),
        "all": [r["clips_per_second"] for r in runs],
        "repeats": repeats,
    }


def bench_spacy(world: Path, warehouse: Path, work: Path, week: str, repeats: int) -> dict[str, Any]:
    """The culture job (spaCy en_core_web_sm, nlp.pipe) on the week's crawled pages."""
    from jobs import culture_terms as culture

    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(warehouse / "pages" / f"week={week}", work / "pages" / f"week={week}")
    runs = [culture.run(_config(world, work), week) for _ in range(repeats)]
    shutil.rmtree(work, ignore_errors=True)
    return {
        "pages": runs[0]["pages"],
        "words": runs[0]["words"],
        "words_per_second_median": _median_of(runs, "words_per_second"),
        "all": [r["words_per_second"] for r in runs],
        "repeats": repeats,
    }


def bench_merge(world: Path, warehouse: Path, week: str, repeats: int) -> dict[str, Any]:
    """The merge's computation (read inputs, blend, build the table; nothing written)."""
    from jobs.merge import build_table

    config = _config(world, warehouse)
    seconds, counts = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        counts = build_table(config, week).counts
        seconds.append(time.perf_counter() - t0)
    med = statistics.median(seconds)
    return {
        "listeners": counts["eligible"],
        "seconds_median": round(med, 3),
        "listeners_per_second": round(counts["eligible"] / med, 1),
        "all": [round(s, 3) for s in seconds],
        "repeats": repeats,
    }


def bench_annoy(
    warehouse: Path, week: str, sizes: list[int], repeats: int, audio_sizes: list[int] | None = None
) -> dict[str, Any]:
    from bench.annoy_recall import run as annoy_run
    from jobs.evaluation.metrics import as_matrix
    from jobs.warehouse.store import Warehouse

    songs = Warehouse(warehouse).read_optional("song_vectors", week) if week else None
    vectors = None if songs is None else as_matrix(songs["vector"])
    found = annoy_run(sizes, repeats=repeats, song_vectors=vectors, audio_sizes=audio_sizes)
    # its own date and load: a partial run (--only annoy) keeps the other sections' older numbers
    return {**found, "measured": {"date": machine()["date"], "load_average_1min": round(os.getloadavg()[0], 1)}}


def _play_counts(warehouse: Path, week: str) -> pd.DataFrame:
    return pq.read_table(warehouse / "play_counts" / f"week={week}").to_pandas()


def implicit_at_scale(run: dict[str, Any]) -> dict[str, Any]:
    """implicit's fit on the week's whole matrix (the one the DAG's ALS fitted), beside Spark's fit time."""
    from jobs.recsys.implicit_als import confidence_matrix, fit_implicit

    conf = build_config({}).als
    matrix, _, _ = confidence_matrix(_play_counts(Path(run["warehouse"]), run["week"]), conf, column="plays")
    cg = fit_implicit(matrix, conf, use_cg=True)[2]
    chol = fit_implicit(matrix, conf, use_cg=False)[2]
    spark = float(run["als_fit_seconds"])
    return {
        "spark_fit_seconds": round(spark, 2),
        "implicit_cg_seconds": round(cg, 2),
        "implicit_cholesky_seconds": round(chol, 2),
        "spark_over_cg": round(spark / cg, 2),
        "spark_over_cholesky": round(spark / chol, 2),
    }


def _spark(name: str, checkpoints: Path) -> Any:
    from jobs.warehouse.spark import build_spark

    spark = build_spark(build_config({}), name)
    spark.sparkContext.setCheckpointDir(str(checkpoints))
    return spark


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    from bench import scale as scale_bench
    from bench.als_implicit import LASTFM_SETTINGS, compare, load_lastfm
    from bench.topk import compare as compare_topk

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the whole harness on a tiny world, once each")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--sizes", nargs="+", choices=sorted(scale_bench.SIZES), help="scale worlds to run")
    parser.add_argument("--repeats", type=int, help="runs per micro-benchmark (default 3; smoke 1)")
    parser.add_argument("--root", type=Path, help="worlds and work files (default data/bench)")
    parser.add_argument("--lastfm", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "lastfm-2k")
    parser.add_argument("--real-audio", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "real-audio")
    parser.add_argument("--out", type=Path, help="JSON result (default docs/bench.json)")
    parser.add_argument("--md", type=Path, help="markdown table (default docs/BENCHMARKS.md)")
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown from the JSON result")
    args = parser.parse_args(argv)

    root = args.root or PROJECT_ROOT / "data" / "bench"
    out = args.out or (
        PROJECT_ROOT / "build" / "bench" / "smoke.json" if args.smoke else PROJECT_ROOT / "docs" / "bench.json"
    )
    md = args.md or (out.with_suffix(".md") if args.smoke else PROJECT_ROOT / "docs" / "BENCHMARKS.md")
    repeats = args.repeats or (1 if args.smoke else 3)
    sizes = args.sizes or (["smoke"] if args.smoke else ["1m", "3m", "10m"])
    sections = set(args.only or SECTIONS) - ({"make_run"} if args.smoke else set())
    if args.render:
        kept = json.loads(out.read_text())
        kept["targets"] = targets(kept)  # the targets as the code states them now
        out.write_text(json.dumps(kept, indent=2) + "\n")
        md.write_text(markdown(kept))
        print(f">> bench: {md} rewritten from {out}")
        return 0
    root.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    # a partial run (--only) updates its sections of the last full result and keeps the rest
    previous = json.loads(out.read_text()) if args.only and out.exists() else {}
    result: dict[str, Any] = {**previous, "smoke": args.smoke, "repeats": repeats, "machine": machine(), "errors": []}
    t_all = time.perf_counter()

    def save() -> None:
        result["targets"] = targets(result)
        result["seconds"] = round(time.perf_counter() - t_all, 1)
        out.write_text(json.dumps(result, indent=2) + "\n")
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(markdown(result))

    def section(name: str, compute: Any) -> None:
        """Run one section; a failure is recorded (and printed) and the others still run."""
        if name not in sections:
            return
        print(f">> bench: {name} ({time.perf_counter() - t_all:.0f} s in)", flush=True)
        try:
            result[name] = compute()
        except Exception as exc:  # noqa: BLE001 - an hour of other numbers is worth keeping
            traceback.print_exc()
            result["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
        save()

    def scale_runs() -> list[dict[str, Any]]:
        # the sizes not asked for this time keep their last rows (each row says when it was measured)
        order = list(scale_bench.SIZES)
        kept = [r for r in previous.get("scale") or [] if r["size"] not in sizes]
        for r in kept:
            r.setdefault("measured", (previous.get("machine") or {}).get("date", "?"))
        runs = []
        for size in sizes:
            print(f">> bench: scale {size}", flush=True)
            try:
                run = scale_bench.run_week(size, root, scale_bench.SMOKE_ENV if size == "smoke" else None)
                run["implicit"] = implicit_at_scale(run)
            except Exception as exc:  # noqa: BLE001 - keep the other sizes' numbers
                traceback.print_exc()
                result["errors"].append(f"scale {size}: {type(exc).__name__}: {exc}")
                continue
            run["measured"] = machine()["date"]
            runs.append(run)
            result["scale"] = sorted(kept + runs, key=lambda r: order.index(r["size"]))
            save()
        return result.get("scale") or runs

    logs = PROJECT_ROOT / "build" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    section("make_run", lambda: bench_make_run(logs))
    # the world runs feed the ALS and top-K sections; reuse the last ones when only those are asked for
    wanted = [r for r in result.get("scale") or [] if r["size"] in sizes and Path(r["warehouse"]).exists()]
    if "scale" in sections:
        section("scale", scale_runs)
        wanted = result.get("scale") or []
    elif sections & {"als_vs_implicit", "als_tuning", "als_profile", "top_k"} and not wanted:
        wanted = scale_runs()
    runs = wanted

    # the stage benchmarks run on the sample world after `make run`, or on the smoke world
    if args.smoke and runs:
        world, warehouse, week = (
            Path(runs[0]["warehouse"]).parents[1] / "world",
            Path(runs[0]["warehouse"]),
            runs[0]["week"],
        )
    else:
        cfg = build_config({})
        world, warehouse = cfg.paths.data, cfg.paths.warehouse
        week = json.loads((world / "world.json").read_text())["publish_week"] if (world / "world.json").exists() else ""
    clips = 16 if args.smoke else 200
    section("spectrograms", lambda: bench_spectrograms(world, root / "_spectrograms", week, clips, repeats))
    section("spacy", lambda: bench_spacy(world, warehouse, root / "_spacy", week, repeats))
    section("merge", lambda: bench_merge(world, warehouse, week, repeats))
    # the merge's audio candidates by Annoy against exact scoring (merge.annoy_min_cold chose between them from these)
    audio_sizes = [] if args.smoke else [10_000, 100_000, 1_000_000]
    section(
        "annoy",
        lambda: bench_annoy(warehouse, week, [1000] if args.smoke else [1000, 10_000, 100_000], repeats, audio_sizes),
    )

    def real_audio() -> dict[str, Any]:
        from studies.real_audio import run as real_audio_run

        # the smoke run: the same harness on the first 12 clips (2 folds), so that it cannot rot
        return real_audio_run(args.real_audio, limit=12 if args.smoke else None, folds=2 if args.smoke else 5)

    section("real_audio", real_audio)

    def als_vs_implicit() -> dict[str, Any]:
        spark = _spark("bench-als-implicit", root / "_checkpoints")
        try:
            found: dict[str, Any] = {}
            if not args.smoke and (args.lastfm / "user_artists.dat").exists():
                found["Last.fm 2k"] = compare(spark, load_lastfm(args.lastfm), LASTFM_SETTINGS, repeats)
            for run in runs[:1]:
                counts = _play_counts(Path(run["warehouse"]), run["week"])[["user_id", "track_id", "plays"]]
                found[f"world {run['size']}"] = compare(spark, counts, build_config({}).als, repeats)
            return found
        finally:
            spark.stop()

    def als_tuning() -> dict[str, Any]:
        from bench.als_tuning import run as tune

        run = runs[0]
        tuned = tune(_play_counts(Path(run["warehouse"]), run["week"]), build_config({}).als, root / "_ckpt", repeats)
        return {**tuned, "data": f"world {run['size']}"}

    def als_profile() -> dict[str, Any]:
        from bench.als_profile import profile

        run = runs[0]
        found = profile(_play_counts(Path(run["warehouse"]), run["week"]), build_config({}).als, root / "_profile")
        return {**found, "data": f"world {run['size']}"}

    def top_k() -> dict[str, Any]:
        spark = _spark("bench-topk", root / "_checkpoints")
        try:
            return {
                f"world {run['size']}": compare_topk(
                    spark,
                    _play_counts(Path(run["warehouse"]), run["week"]),
                    build_config({}).als,
                    30,
                    root / "_topk",
                    repeats,
                )
                for run in runs[:2]
            }
        finally:
            spark.stop()

    section("als_vs_implicit", als_vs_implicit)
    section("als_tuning", als_tuning)
    section("als_profile", als_profile)
    section("top_k", top_k)
    save()
    print(f">> bench: done in {result['seconds']:.0f} s: {out} and {md}")
    if result["errors"]:
        print(">> bench: FAILED sections: " + "; ".join(result["errors"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
