"""ALS against most-popular and item-kNN on the real Last.fm 2k data set (HetRec 2011).

Reads ``user_artists.dat`` (userID, artistID, weight = plays) from ``--data``
(default ``../shared/data/lastfm-2k``), splits the user-artist pairs at random 80/20
(seed 0), fits the project's ALS recipe (:func:`jobs.recsys.als.fit_als`: confidence
``1 + alpha * log(1 + plays / eps)``) on the 80%, and scores precision@10 (and recall,
NDCG, mean percentile rank) on the 20% for ALS and for most-popular (artists by number
of listeners in the training part), already-heard artists filtered. Time-based
evaluation does not apply here: the file has totals, not events.

``metrics`` is :func:`jobs.recsys.als.evaluate_holdout` as before (its mean percentile rank pools
every held-out pair, among the artists ALS has a vector for). ``intervals`` scores the same
listeners per listener (:mod:`jobs.evaluation.systems`) for ALS, most-popular and item-kNN (cosine,
20 neighbours, :mod:`jobs.recsys.baselines`): each mean with a 95% bootstrap interval
resampling listeners, and paired intervals of ALS minus each reference; its mean
percentile rank is a mean over listeners, among every artist of the data set the listener
had not played. The tables also go into the ``lastfm`` section of ``--md``
(default ``docs/real-data.md``).

Settings default to the data set's published reference (64 factors, 15 iterations,
reg 0.1, alpha 1). Writes the result as JSON to ``--out`` (default stdout).

Run::

    make lastfm            # writes docs/lastfm.json; or: python -m studies.lastfm_als --data ../shared/data/lastfm-2k
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.als_implicit import load_lastfm, split
from jobs.config import PROJECT_ROOT, AlsConf, load_config
from jobs.evaluation.metrics import as_matrix
from jobs.evaluation.systems import (
    Catalog,
    markdown_tables,
    metric_names,
    ranking_scorer,
    replace_section,
    score_system,
)
from jobs.evaluation.systems import summarise as summarise_rows
from jobs.recsys.als import evaluate_holdout, fit_als
from jobs.recsys.baselines import Ranking, exclude_heard, heard_pairs, knn_ranking, popularity_ranking

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "lastfm-2k"


def load_pairs(data: Path) -> pd.DataFrame:
    try:
        return load_lastfm(data)
    except FileNotFoundError as exc:
        raise SystemExit(f"error: {exc}; pass --data") from exc


LABELS = {
    "als": "ALS (Spark MLlib, the project's recipe)",
    "most_popular": "most popular (listeners in the 80%)",
    "item_knn": "item-kNN, cosine (20 neighbours)",
}


def per_listener(
    users: pd.DataFrame, items: pd.DataFrame, pairs: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, k: int
) -> pd.DataFrame:
    """One row per (listener, system): the listeners :func:`jobs.recsys.als.evaluate_holdout` scores (a vector and
    a held-out artist), each system's top ``k`` and ranks among the artists the listener had not played."""
    listeners = sorted(set(users["user_id"]) & set(test["user_id"]))
    heard = heard_pairs(train)
    heard_by = heard.groupby("user_id")["track_id"].agg(set).to_dict()
    truth = test[test["user_id"].isin(listeners)].groupby("user_id")["track_id"].agg(set).to_dict()
    catalog = Catalog(pairs["track_id"])
    counted = train[["user_id", "track_id", "plays"]]
    rows: list[dict] = []
    for name in LABELS:
        if name == "als":
            u = users.set_index("user_id").loc[listeners, "vector"]
            scores = as_matrix(u).astype(np.float64) @ as_matrix(items["vector"]).astype(np.float64).T
            ids, item_ids = np.array(listeners, dtype=object), items["track_id"].to_numpy(dtype=object)
            ranking = Ranking(ids, item_ids, exclude_heard(scores, ids, item_ids, heard))
        elif name == "most_popular":
            ranking = popularity_ranking(counted, heard, listeners)
        else:
            ranking = knn_ranking(counted, heard, listeners)
        rows += score_system(name, ranking.top_k(k), ranking_scorer(ranking, catalog), truth, heard_by, catalog, k)
        del ranking
    return pd.DataFrame(rows)


def render(result: dict) -> str:
    k = result["k"]
    iv = result["intervals"]
    return "\n".join(
        [
            f"Command: `make lastfm` (`python -m studies.lastfm_als`); {result['pairs']} user-artist pairs, "
            f"random 80/20 split (seed {result['settings']['seed']}), {iv['listeners']} listeners scored, "
            f"{result['test_pairs']} held-out pairs; fit {result['fit_seconds']} s, scoring "
            f"{result['eval_seconds']} s + {result['interval_seconds']} s. Mean over listeners "
            f"[95% bootstrap interval, {result['resamples']} resamples]:",
            "",
            markdown_tables(iv, metric_names(k), LABELS),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ALS vs most-popular on Last.fm 2k (random 80/20 split).")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--reg", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--md", type=Path, help="also write the tables into this doc's lastfm section")
    args = parser.parse_args(argv)

    pairs = load_pairs(args.data)
    train, test = split(pairs, args.seed)
    config = load_config()
    from jobs.warehouse.spark import build_spark

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
    eval_seconds = time.perf_counter() - t1
    t2 = time.perf_counter()
    rows = per_listener(users, items, pairs, train, test, args.k)
    k = args.k
    intervals = summarise_rows(rows, metric_names(k), [f"precision@{k}", f"recall@{k}"], "als", args.resamples, 0)
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
        "eval_seconds": round(eval_seconds, 1),
        "metrics": scores,
        "k": k,
        "resamples": args.resamples,
        "interval_seconds": round(time.perf_counter() - t2, 1),
        "intervals": intervals,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    if args.md:
        replace_section(args.md, "lastfm", render(result))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
