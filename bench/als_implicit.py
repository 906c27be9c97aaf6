"""Spark MLlib ALS against the ``implicit`` library's ALS: same matrix, same settings, same split.

Input: listener-item play totals ``(user_id, track_id, plays)`` (the Last.fm 2k data set or a
world's ``play_counts``). The pairs are split at random 80/20 (seeded). Both libraries fit the
80% with the project's recipe: confidence ``c = 1 + alpha * log(1 + plays / eps)``, ``rank``
factors, ``max_iter`` sweeps, regularisation ``reg_param``. Spark gets ``rating = log(1 +
plays / eps)`` and applies ``1 + alpha * rating`` itself (:func:`jobs.recsys.als.fit_als`); implicit
is given the confidence matrix with its own ``alpha`` at 1. Both are scored by the same
function (:func:`jobs.recsys.als.evaluate_holdout`, precision@10 and friends, heard items excluded).

Timed alike: Spark from the pairs (id indexing, joins, the fit, both factor tables
materialised), implicit from the pairs too (building its confidence matrix, the fit; its
fit alone is reported beside), both on 2 threads.

Two things differ by design and are reported, not hidden: Spark scales the regularisation by
each row's number of ratings (ALS-WR), implicit does not; implicit by default solves each row
with 3 conjugate-gradient steps (``use_cg``), Spark with an exact Cholesky solve. implicit is
therefore timed both ways (``cg`` and ``cholesky``, the solver Spark uses).

The implicit side is :mod:`jobs.recsys.implicit_als`, which the pipeline also uses for the
audio CNN's cold-start evaluation. Run alone::

    python -m bench.als_implicit --data ../shared/data/lastfm-2k      # Last.fm 2k
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import AlsConf
from jobs.recsys.als import evaluate_holdout, factors_of, fit_model
from jobs.recsys.implicit_als import confidence_matrix, fit_implicit

SPARK_CORES = 2  # the pipeline's Spark master is local[2]


def split(pairs: pd.DataFrame, seed: int, test_share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split of the pairs (a pair is in the test part with probability ``test_share``)."""
    rng = np.random.default_rng(seed)
    test = rng.random(len(pairs)) < test_share
    return pairs[~test].reset_index(drop=True), pairs[test].reset_index(drop=True)


def _frames(ids: np.ndarray, column: str, factors: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({column: ids, "vector": list(np.asarray(factors, dtype=np.float32))})


def compare(spark: Any, pairs: pd.DataFrame, conf: AlsConf, repeats: int, k: int = 10, seed: int = 0) -> dict[str, Any]:
    """Fit both libraries ``repeats`` times on the same 80%; median fit seconds and precision@k of each."""
    train, test = split(pairs, seed)
    popularity = train.groupby("track_id").size()
    seen, holdout = train[["user_id", "track_id"]], test[["user_id", "track_id"]]
    counts = spark.createDataFrame(
        train[["user_id", "track_id"]].assign(plays=train["plays"].astype("int64"), weight=train["plays"].astype(float))
    ).cache()
    counts.count()
    runs: dict[str, list[float]] = {"spark": [], "implicit_cg": [], "implicit_cholesky": []}
    fit_only: dict[str, list[float]] = {"implicit_cg": [], "implicit_cholesky": []}
    quality: dict[str, dict[str, float]] = {}
    fitted = None
    for _ in range(repeats):  # Spark: index the ids, join, fit, materialise both factor tables
        if fitted is not None:
            fitted[1].unpersist()
            fitted[2].unpersist()
        t0 = time.perf_counter()
        fitted = fit_model(counts, conf)
        fitted[0].userFactors.count()
        fitted[0].itemFactors.count()
        runs["spark"].append(time.perf_counter() - t0)
    users_f, items_f = factors_of(*fitted)  # type: ignore[misc]
    scored = evaluate_holdout(users_f, items_f, seen, holdout, popularity, k)
    quality["spark"], quality["most_popular"] = scored["als"], scored["most_popular"]
    counts.unpersist()
    for name, use_cg in (("implicit_cg", True), ("implicit_cholesky", False)):
        for _ in range(repeats):  # implicit: build the confidence matrix, fit
            t0 = time.perf_counter()
            matrix, user_ids, item_ids = confidence_matrix(train, conf, column="plays")
            uf, itf, seconds = fit_implicit(matrix, conf, use_cg, threads=SPARK_CORES)
            runs[name].append(time.perf_counter() - t0)
            fit_only[name].append(seconds)
        quality[name] = evaluate_holdout(
            _frames(user_ids, "user_id", uf), _frames(item_ids, "track_id", itf), seen, holdout, popularity, k
        )["als"]
    med = {name: statistics.median(v) for name, v in runs.items()}
    return {
        "pairs": len(pairs),
        "train_pairs": len(train),
        "users": int(pairs["user_id"].nunique()),
        "items": int(pairs["track_id"].nunique()),
        "settings": {
            "rank": conf.rank,
            "iterations": conf.max_iter,
            "reg_param": conf.reg_param,
            "alpha": conf.alpha,
            "eps": conf.eps,
            "num_blocks": conf.num_blocks,
            "seed": conf.seed,
            "split": "random 80/20 of pairs, seed 0",
        },
        "repeats": repeats,
        "fit_seconds_median": {name: round(v, 3) for name, v in med.items()},
        "fit_seconds_all": {name: [round(x, 3) for x in v] for name, v in runs.items()},
        "implicit_fit_only_seconds_median": {name: round(statistics.median(v), 3) for name, v in fit_only.items()},
        "spark_over_implicit_cg": round(med["spark"] / med["implicit_cg"], 2),
        "spark_over_implicit_cholesky": round(med["spark"] / med["implicit_cholesky"], 2),
        f"precision@{k}": {name: round(q[f"precision@{k}"], 4) for name, q in quality.items()},
        f"recall@{k}": {name: round(q[f"recall@{k}"], 4) for name, q in quality.items()},
    }


def load_lastfm(data: Path) -> pd.DataFrame:
    path = data / "user_artists.dat"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (the Last.fm 2k data set)")
    df = pd.read_csv(path, sep="\t", dtype={"userID": str, "artistID": str, "weight": "int64"})
    return df.rename(columns={"userID": "user_id", "artistID": "track_id", "weight": "plays"})


LASTFM_SETTINGS = AlsConf(rank=64, max_iter=15, reg_param=0.1, alpha=1.0, eps=1.0, seed=0, num_blocks=2)


def main(argv: list[str] | None = None) -> int:
    from jobs.config import PROJECT_ROOT, load_config
    from jobs.warehouse.spark import build_spark

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "lastfm-2k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    config = load_config()
    spark = build_spark(config, "bench-als-implicit")
    spark.sparkContext.setCheckpointDir(str(config.paths.checkpoints / "bench"))
    try:
        result = compare(spark, load_lastfm(args.data), LASTFM_SETTINGS.model_copy(), args.repeats)
    finally:
        spark.stop()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
