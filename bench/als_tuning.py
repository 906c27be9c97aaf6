"""What each Spark ALS knob costs: the same fit (one week's play counts, the project's settings)
with one setting changed at a time, median fit seconds of ``repeats`` runs.

Knobs: user/item block counts, checkpoint interval (checkpointing cuts the RDD lineage by
writing factors to disk), the storage level of the intermediate RDDs, the Kryo serializer
(each session's first fit is a warm-up and not counted). Native BLAS is reported, not toggled:
Spark uses the system ``libblas.so.3`` when it exists and its Java implementation otherwise.

Run alone (a warehouse that has the week's ``play_counts``)::

    python -m bench.als_tuning --warehouse data/bench/1m/run/warehouse --week 2026-W47
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from jobs.config import AlsConf, build_config

VARIANTS: dict[str, dict[str, Any]] = {
    "project settings": {},
    "blocks 1": {"num_blocks": 1},
    "blocks 4": {"num_blocks": 4},
    "blocks 8": {"num_blocks": 8},
    "no checkpoints": {"checkpoint_interval": -1},
    "intermediate MEMORY_ONLY": {"storage": "MEMORY_ONLY"},
    "no checkpoints + MEMORY_ONLY + blocks 4": {"checkpoint_interval": -1, "storage": "MEMORY_ONLY", "num_blocks": 4},
    "Kryo serializer": {"kryo": True},
}


def native_blas() -> bool:
    import ctypes.util

    return ctypes.util.find_library("blas") is not None


def fit_seconds(spark: Any, counts: Any, conf: AlsConf, storage: str | None) -> float:
    from pyspark.sql import functions as F

    from jobs.recsys.als import fit_model

    t0 = time.perf_counter()
    model, users, items = fit_model(counts, conf, intermediate_storage=storage)
    model.userFactors.agg(F.count("*")).collect()
    model.itemFactors.agg(F.count("*")).collect()
    seconds = time.perf_counter() - t0
    users.unpersist()
    items.unpersist()
    return seconds


def run(counts_pd: pd.DataFrame, conf: AlsConf, checkpoints: Path, repeats: int) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    from jobs.warehouse.spark import session_conf

    out: dict[str, Any] = {"pairs": len(counts_pd), "native_blas": native_blas(), "repeats": repeats, "variants": {}}
    for kryo in (False, True):
        builder = SparkSession.builder.master("local[2]").appName("als-tuning").config("spark.driver.memory", "6g")
        for key, value in session_conf(build_config({})).items():
            builder = builder.config(key, value)
        if kryo:
            builder = builder.config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        spark.sparkContext.setCheckpointDir(str(checkpoints))
        try:
            counts = spark.createDataFrame(counts_pd[["user_id", "track_id", "plays", "weight"]]).cache()
            counts.count()
            fit_seconds(spark, counts, conf, None)  # warm-up: JIT and first-job costs are not any knob's
            for name, change in VARIANTS.items():
                if bool(change.get("kryo")) != kryo:
                    continue
                fields = {k: v for k, v in change.items() if k in AlsConf.model_fields}
                variant = conf.model_copy(update=fields)
                seconds = [fit_seconds(spark, counts, variant, change.get("storage")) for _ in range(repeats)]
                out["variants"][name] = {"seconds_median": round(statistics.median(seconds), 2), "all": seconds}
                print(f"{name}: {statistics.median(seconds):.2f} s", flush=True)
        finally:
            spark.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--week", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    counts = pq.read_table(args.warehouse / "play_counts" / f"week={args.week}").to_pandas()
    result = run(counts, build_config({}).als, args.warehouse.parent / "tuning-checkpoints", args.repeats)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
