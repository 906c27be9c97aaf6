"""ALS against most-popular on the real Last.fm 2k data set (HetRec 2011).

Reads ``user_artists.dat`` (userID, artistID, weight = plays) from ``--data``
(default ``../shared/data/lastfm-2k``), splits the user-artist pairs at random 80/20
(seed 0), fits the project's ALS recipe (:func:`jobs.als.fit_als`: confidence
``1 + alpha * log(1 + plays / eps)``) on the 80%, and scores precision@10 (and recall,
NDCG, mean percentile rank) on the 20% for ALS and for most-popular (artists by number
of listeners in the training part), already-heard artists filtered. Time-based
evaluation does not apply here: the file has totals, not events.

Settings default to the data set's published reference (64 factors, 15 iterations,
reg 0.1, alpha 1). Writes the result as JSON to ``--out`` (default stdout).

Run::

    make lastfm            # writes docs/lastfm.json; or: python -m bench.lastfm_als --data ../shared/data/lastfm-2k
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from bench.als_implicit import load_lastfm, split
from jobs.als import evaluate_holdout, fit_als
from jobs.common.config import PROJECT_ROOT, AlsConf, load_config

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "lastfm-2k"


def load_pairs(data: Path) -> pd.DataFrame:
    try:
        return load_lastfm(data)
    except FileNotFoundError as exc:
        raise SystemExit(f"error: {exc}; pass --data") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ALS vs most-popular on Last.fm 2k (random 80/20 split).")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--reg", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    pairs = load_pairs(args.data)
    train, test = split(pairs, args.seed)
    config = load_config()
    from jobs.common.spark import build_spark

    spark = build_spark(config, "lastfm-als")
    spark.sparkContext.setCheckpointDir(str(config.paths.checkpoints / "lastfm"))
    conf = AlsConf(
        rank=args.rank,
        max_iter=args.iterations,
        reg_param=args.reg,
        alpha=args.alpha,
        eps=1.0,
        seed=args.seed,
        num_blocks=2,
    )
    counts = spark.createDataFrame(train.assign(weight=train["plays"].astype(float)))
    t0 = time.perf_counter()
    users, items = fit_als(counts, conf)
    fit_seconds = time.perf_counter() - t0
    spark.stop()
    popularity = train.groupby("track_id").size()
    t1 = time.perf_counter()
    scores = evaluate_holdout(
        users, items, train[["user_id", "track_id"]], test[["user_id", "track_id"]], popularity, args.k
    )
    result = {
        "data": args.data.name,
        "pairs": len(pairs),
        "train_pairs": len(train),
        "test_pairs": len(test),
        "users": int(pairs["user_id"].nunique()),
        "artists": int(pairs["track_id"].nunique()),
        "settings": {
            "rank": args.rank,
            "iterations": args.iterations,
            "reg": args.reg,
            "alpha": args.alpha,
            "confidence": "1 + alpha * log(1 + plays)",
            "seed": args.seed,
            "master": config.spark.master,
        },
        "fit_seconds": round(fit_seconds, 1),
        "eval_seconds": round(time.perf_counter() - t1, 1),
        "metrics": scores,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
