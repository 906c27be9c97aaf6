"""The top-K step: Spark's ``ALSModel.recommendForAllUsers`` against the project's exact blocked top-K.

One ALS model is fitted (the project's recipe, :func:`jobs.recsys.als.fit_model`) on a week's play
counts. Then, for every listener, the ``k`` items with the highest user-times-item score,
each way, written to Parquet so that both pay for materialising the same output:

* ``spark``: ``model.recommendForAllUsers(k)`` written with ``DataFrame.write.parquet``;
* ``numpy``: the factors collected to the driver, :func:`jobs.evaluation.metrics.top_k_dot`
  (one float32 matrix product and one partial sort per block of listeners), written
  with pyarrow.

"Same output" is checked, not assumed: the share of listeners whose k items are the same
set both ways, and the mean overlap (ties and float rounding can swap the last item).

Run alone (on a warehouse that has the week's ``play_counts``)::

    python -m bench.topk --week 2026-W47 --k 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.als_implicit import SPARK_CORES
from jobs.config import AlsConf
from jobs.evaluation.metrics import as_matrix, top_k_dot
from jobs.recsys.als import fit_model


def numpy_top_k(model: Any, k: int, out: Path) -> dict[int, np.ndarray]:
    """Collect the factors, rank every item for every user, write ``(u, items, scores)``; returns u -> items."""
    users = model.userFactors.toPandas().sort_values("id", ignore_index=True)
    items = model.itemFactors.toPandas().sort_values("id", ignore_index=True)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(SPARK_CORES):  # the matrix products get as many cores as Spark's local[2]
        idx, vals = top_k_dot(as_matrix(users["features"]), as_matrix(items["features"]), k)
    item_ids = items["id"].to_numpy()[idx]
    table = pa.table(
        {
            "u": pa.array(users["id"].to_numpy(dtype=np.int32)),
            "items": pa.array(list(item_ids.astype(np.int32))),
            "scores": pa.array(list(vals)),
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "part-0.parquet")
    return dict(zip(users["id"].to_numpy(), item_ids, strict=True))


def spark_top_k(model: Any, k: int, out: Path) -> None:
    model.recommendForAllUsers(k).write.mode("overwrite").parquet(str(out))


def compare(spark: Any, counts_pd: pd.DataFrame, conf: AlsConf, k: int, work: Path, repeats: int) -> dict[str, Any]:
    counts = spark.createDataFrame(
        counts_pd[["user_id", "track_id"]].assign(
            plays=counts_pd["plays"].astype("int64"), weight=counts_pd["plays"].astype(float)
        )
    ).cache()
    model, users, items = fit_model(counts, conf)
    model.userFactors.cache().count()
    model.itemFactors.cache().count()
    times: dict[str, list[float]] = {"spark": [], "numpy": []}
    ours: dict[int, np.ndarray] = {}
    for _ in range(repeats):
        shutil.rmtree(work, ignore_errors=True)
        t0 = time.perf_counter()
        spark_top_k(model, k, work / "spark")
        times["spark"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = numpy_top_k(model, k, work / "numpy")
        times["numpy"].append(time.perf_counter() - t0)
    theirs = pq.read_table(work / "spark").to_pandas()
    same, overlap = [], []
    for u, recs in zip(theirs["u"], theirs["recommendations"], strict=True):
        a = {int(r["i"]) for r in recs}
        b = {int(i) for i in ours[u]}
        same.append(a == b)
        overlap.append(len(a & b) / max(len(a), 1))
    shutil.rmtree(work, ignore_errors=True)
    users.unpersist()
    items.unpersist()
    counts.unpersist()
    med = {name: statistics.median(v) for name, v in times.items()}
    return {
        "users": int(model.userFactors.count()),
        "items": int(model.itemFactors.count()),
        "k": k,
        "rank": conf.rank,
        "repeats": repeats,
        "seconds_median": {name: round(v, 3) for name, v in med.items()},
        "seconds_all": {name: [round(x, 3) for x in v] for name, v in times.items()},
        "speedup": round(med["spark"] / med["numpy"], 1),
        "same_top_k_share": round(float(np.mean(same)), 4) if same else None,
        "mean_overlap": round(float(np.mean(overlap)), 4) if overlap else None,
    }


def main(argv: list[str] | None = None) -> int:
    from jobs.config import load_config
    from jobs.warehouse.spark import build_spark
    from jobs.warehouse.store import Warehouse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", default="2026-W47")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    config = load_config()
    counts = Warehouse(config.paths.warehouse).read("play_counts", args.week)
    spark = build_spark(config, "bench-topk")
    spark.sparkContext.setCheckpointDir(str(config.paths.checkpoints / "bench"))
    try:
        result = compare(spark, counts, config.als, args.k, Path("build/bench/topk"), args.repeats)
    finally:
        spark.stop()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
