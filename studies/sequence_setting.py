"""A ``sequence`` setting, measured: what the ``sequence`` source adds to the blend, by the value of
one setting of the song vectors or the taste RNN (``sequence.top_n`` by default).

Unlike a blend weight (:mod:`studies.blend_setting`), such a setting changes the tables the
``song_vectors`` and ``taste_vectors`` jobs write, so for each value both jobs are rerun, as
the DAG runs them (``python -m jobs.song_vectors`` / ``jobs.taste_vectors``, with
``DW__SEQUENCE__<KEY>=<value>``), for every week given, into a scratch warehouse beside the
real one: a folder whose every other table is a link to the warehouse's own, and which is
removed afterwards; the warehouse itself is read, never written. Then the blend is scored
on each week's first-time plays, without ``sequence`` and at each ``--w-sequence`` weight
(:func:`studies.blend_setting.week_scores`), pooled over the weeks with listener-resampled
95% intervals and each weight's paired difference to the blend without ``sequence``
(:func:`studies.blend_setting.summarise`).

Choose on weeks before the ones you score (``--tune`` only; then rerun with the chosen
value as the default and score later weeks with ``studies.blend_setting``). Run::

    DW_DATA=... DW_WAREHOUSE=... python -m studies.sequence_setting --key top_n \\
        --values 150 200 300 600 20000 --tune 2026-W44 2026-W45 [--w-sequence 0.15 0.3 0.5] [--out f.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jobs.config import PROJECT_ROOT, SequenceConf, load_config
from studies.blend_setting import label, summarise, week_scores

OWN = ("song_vectors", "taste_vectors", "run_metrics")  # what the two jobs write: copied, not linked


def scratch_warehouse(warehouse: Path, into: Path) -> Path:
    """A warehouse at ``into`` that shares every table of ``warehouse`` but the two jobs' (copied)."""
    into.mkdir(parents=True)
    for table in sorted(warehouse.iterdir()):
        if table.name in OWN:
            if table.is_dir():
                shutil.copytree(table, into / table.name, symlinks=True)
        else:
            (into / table.name).symlink_to(table.resolve())
    return into


def run_jobs(weeks: list[str], env: dict[str, str]) -> float:
    """``song_vectors`` then ``taste_vectors`` for each week, as the DAG runs them; seconds taken."""
    t0 = time.perf_counter()
    for week in weeks:
        for job in ("song_vectors", "taste_vectors"):
            done = subprocess.run(
                [sys.executable, "-m", f"jobs.{job}", "--week", week],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise SystemExit(f"{job} --week {week} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return round(time.perf_counter() - t0, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", default="top_n", choices=sorted(SequenceConf.model_fields), help="sequence.<key>")
    parser.add_argument("--values", nargs="+", required=True, help="values of sequence.<key> to try")
    parser.add_argument("--tune", nargs="+", required=True, help="weeks scored (choose on these only)")
    parser.add_argument("--w-sequence", type=float, nargs="+", default=[0.15, 0.3, 0.5], help="blend weights")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    config = load_config()
    weights = sorted(set(args.w_sequence) | {0.0})
    zero = label("w_sequence", 0.0)
    result: dict[str, Any] = {"setting": f"sequence.{args.key}", "weeks": args.tune, "by_value": {}}
    with tempfile.TemporaryDirectory(prefix="dw-seq-", dir=config.paths.warehouse.parent) as tmp:
        for value in args.values:
            scratch = scratch_warehouse(config.paths.warehouse, Path(tmp) / f"wh-{len(result['by_value'])}")
            env = os.environ | {"DW_WAREHOUSE": str(scratch), f"DW__SEQUENCE__{args.key.upper()}": str(value)}
            seconds = run_jobs(args.tune, env)
            valued = load_config(environ=env)
            scores = {w: week_scores(valued, w, weights, "w_sequence") for w in args.tune}
            result["by_value"][str(value)] = {"jobs_seconds": seconds, "scores": summarise(scores, zero)}
            shutil.rmtree(scratch)
            print(f"{args.key}={value}: jobs {seconds} s", file=sys.stderr)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
