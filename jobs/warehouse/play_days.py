"""The ``plays`` table published by UTC day, touching only the days whose rows changed.

Each ``plays/day=D`` partition carries a fingerprint of its rows (``_fingerprint``); a run
republishes a day only when its fingerprint differs and removes days with no plays left in the
raw files, so a backfill never rewrites an unchanged day. The fingerprint covers every data
column, the play's ``context`` included (version ``v2``): days published before ``context``
existed carry a ``v1`` fingerprint and are rewritten once, with the column, by the next run
(their rows otherwise unchanged). Writes through
:class:`~jobs.warehouse.store.Warehouse` (its staging and locks); used by the ``ingest`` stage.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path
from typing import Any

from jobs.warehouse.store import Warehouse
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID

log = logging.getLogger("ingest")

FINGERPRINT = "_fingerprint"  # in each plays/day=D partition: the fingerprint of its rows


def day_fingerprints(plays: Any) -> dict[str, str]:
    """The fingerprint of each day's rows of ``plays`` (``day`` and the contract's columns), by ISO day.

    Rows are unique (de-duplicated), so an order-free hash of the set does: the row count
    and two sums of independent 64-bit row hashes, summed exactly as decimals. ``v2``: the
    hashes include ``context`` (``v1``, before it existed, did not).
    """
    from pyspark.sql import functions as F

    cols = (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED, CONTEXT)
    h1 = F.xxhash64(*cols).cast("decimal(38,0)")
    h2 = F.xxhash64(F.lit("dw-fingerprint"), *reversed(cols)).cast("decimal(38,0)")
    rows = plays.groupBy("day").agg(F.count(F.lit(1)).alias("n"), F.sum(h1).alias("h1"), F.sum(h2).alias("h2"))
    return {r["day"].isoformat(): f"v2 rows={r['n']} xxhash64={r['h1']}/{r['h2']}" for r in rows.collect()}


def read_fingerprint(partition: Path) -> str | None:
    """The stored fingerprint of a day partition, None when it has none (written before fingerprints)."""
    path = partition / FINGERPRINT
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def write_fingerprint(partition: Path, fingerprint: str) -> None:
    (partition / FINGERPRINT).write_text(fingerprint + "\n", encoding="utf-8")


def publish_days(plays: Any, wh: Warehouse, cutoff_day: dt.date) -> dict[str, Any]:
    """Publish the days of ``plays`` whose content changed and remove emptied days before ``cutoff_day``.

    Returns the counts for the run metrics: ``days`` (days with plays), ``days_changed``
    (published: new or different content), ``days_removed`` (no rows left) and
    ``days_unchanged`` (left as they were, files untouched).
    """
    from pyspark.sql import functions as F

    root = wh.table_dir("plays")
    new = day_fingerprints(plays)
    old = {d: read_fingerprint(root / f"day={d}") for d in wh.partitions("plays", "day")}
    changed = sorted(d for d, fp in new.items() if old.get(d) != fp)
    removed = sorted(d for d in old if d < cutoff_day.isoformat() and d not in new)
    with wh.staged_partitions("plays", "day", drop=removed) as stage:
        if changed:
            (
                plays.filter(F.col("day").isin([dt.date.fromisoformat(d) for d in changed]))
                .repartition("day")
                .sortWithinPartitions("day", PLAYED_AT, USER_ID, TRACK_ID)
                .write.mode("overwrite")
                .partitionBy("day")
                .parquet(str(stage))
            )
        for day in changed:
            write_fingerprint(stage / f"day={day}", new[day])
    rewritten = [d for d in changed if old.get(d) is not None]
    if rewritten:
        log.warning("plays changed on %d published day(s): %s", len(rewritten), ", ".join(rewritten))
    if removed:
        log.warning("removed %d day(s) with no plays left in the raw files: %s", len(removed), ", ".join(removed))
    return {
        "days": len(new),
        "days_changed": changed,
        "days_removed": removed,
        "days_unchanged": len(new) - len(changed),
    }


def flatten_spark_output(spark_out: Path, dest: Path) -> None:
    """Move Spark's part files up into ``dest`` (dropping checksum files) and remove ``spark_out``."""
    for f in sorted(spark_out.iterdir()):
        if f.suffix == ".parquet":
            f.rename(dest / f.name)
    shutil.rmtree(spark_out)
