"""Where a Spark ALS fit spends its time: one fit with Spark's event log on, summarised by stage.

The event log (what the Spark UI and history server read) records every task's run time,
CPU time, garbage collection, (de)serialisation and shuffle. Summed per stage name, it
shows which step of the fit is the hot spot and how much of the wall time the two cores
spend computing at all (the rest is the driver scheduling jobs and stages: ALS runs two
jobs per iteration and sweep).

Run alone (a warehouse with the week's ``play_counts``)::

    python -m bench.als_profile --warehouse data/bench/1m/run/warehouse --week 2026-W47
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from jobs.config import AlsConf, build_config


def summarise(event_log: Path) -> dict[str, Any]:
    """Per stage name: stages, tasks, wall seconds, task run/CPU/GC/serialisation seconds, shuffle MB."""
    stages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    names: dict[int, str] = {}
    jobs = 0
    for path in sorted(event_log.rglob("*")):
        if not path.is_file() or path.name.startswith("appstatus"):
            continue
        for line in path.read_text().splitlines():
            e = json.loads(line)
            kind = e.get("Event")
            if kind == "SparkListenerJobStart":
                jobs += 1
            elif kind == "SparkListenerStageCompleted":
                info = e["Stage Info"]
                name = info["Stage Name"].split(" at ")[0] + " at " + info["Stage Name"].split(" at ")[-1]
                names[info["Stage ID"]] = name
                s = stages[name]
                s["stages"] += 1
                s["wall_s"] += (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000
            elif kind == "SparkListenerTaskEnd" and e.get("Task Metrics"):
                m = e["Task Metrics"]
                s = stages[f"#{e['Stage ID']}"]
                s["tasks"] += 1
                s["run_s"] += m["Executor Run Time"] / 1000
                s["cpu_s"] += m["Executor CPU Time"] / 1e9
                s["gc_s"] += m["JVM GC Time"] / 1000
                s["deser_s"] += (m["Executor Deserialize Time"] + m["Result Serialization Time"]) / 1000
                s["shuffle_mb"] += (
                    m["Shuffle Write Metrics"]["Shuffle Bytes Written"]
                    + m["Shuffle Read Metrics"]["Remote Bytes Read"]
                    + m["Shuffle Read Metrics"]["Local Bytes Read"]
                ) / 2**20
    merged: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, values in stages.items():
        name = names.get(int(key[1:]), "?") if key.startswith("#") else key
        for field, v in values.items():
            merged[name][field] += v
    table = pd.DataFrame(merged).T.fillna(0).sort_values("wall_s", ascending=False)
    return {"jobs": jobs, "stages": table.round(2).reset_index(names="stage").to_dict("records")}


def profile(counts_pd: pd.DataFrame, conf: AlsConf, work: Path) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    from jobs.recsys.als import fit_model
    from jobs.warehouse.spark import session_conf

    log_dir = work.resolve() / "eventlog"
    shutil.rmtree(work, ignore_errors=True)
    log_dir.mkdir(parents=True)
    builder = SparkSession.builder.master("local[2]").appName("als-profile").config("spark.driver.memory", "6g")
    for key, value in session_conf(build_config({})).items():
        builder = builder.config(key, value)
    spark = (
        builder.config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", log_dir.as_uri())
        .config("spark.eventLog.compress", "false")
        .config("spark.eventLog.rolling.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(work / "checkpoints"))
    try:
        counts = spark.createDataFrame(counts_pd[["user_id", "track_id", "plays", "weight"]]).cache()
        counts.count()
        t0 = time.perf_counter()
        model, _, _ = fit_model(counts, conf)
        model.userFactors.count()
        model.itemFactors.count()
        wall = time.perf_counter() - t0
    finally:
        spark.stop()
    out = summarise(log_dir)
    out["fit_wall_seconds"] = round(wall, 2)
    out["task_run_seconds"] = round(sum(s.get("run_s", 0) for s in out["stages"]), 2)
    out["task_cpu_seconds"] = round(sum(s.get("cpu_s", 0) for s in out["stages"]), 2)
    out["gc_seconds"] = round(sum(s.get("gc_s", 0) for s in out["stages"]), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--week", required=True)
    args = parser.parse_args(argv)
    counts = pq.read_table(args.warehouse / "play_counts" / f"week={args.week}").to_pandas()
    result = profile(counts, build_config({}).als, args.warehouse.parent / "als-profile")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
