"""Ingest: raw play logs (CSV, JSON lines, Parquet; optionally gzip) -> validated ``plays``.

Reads the play logs under ``<data>/raw/plays/``: ``.csv``, ``.jsonl``/``.json``, ``.parquet``
and ``.csv.gz``/``.jsonl.gz`` files directly there or directly inside a date folder
(``YYYY-MM-DD/`` or ``day=YYYY-MM-DD/``); names starting with ``.`` or ``_`` and ``.crc``
files are ignored at every level, as is every other folder (counted in
``ignored_files``; the rule is :func:`jobs.warehouse.raw_plays.list_raw_files`'s). It keeps
the events before the run week's cutoff (Monday 00:00 UTC), validates each row and writes:

* ``<warehouse>/plays/day=YYYY-MM-DD/``: good rows, de-duplicated on
  ``(user_id, track_id, played_at)``, each day partition swapped in atomically, with
  its content's fingerprint in ``_fingerprint`` (see "Published days" below);
* ``<warehouse>/quarantine/week=YYYY-Www/``: every rejected row with its file, line,
  reason and raw text;
* ``<warehouse>/run_metrics/week=YYYY-Www/ingest.json``: counts per reason and per file
  (by path under ``raw/plays/``), the files ignored or skipped, hints on likely causes
  (e.g. epoch seconds where milliseconds are due) and the days whose partitions changed
  or were removed.

While it runs, Spark reads the raw files through symlinks in
``<warehouse>/quarantine/_raw-links-<week>-*`` (any file name works, no ``.crc`` is
checked; see :mod:`jobs.warehouse.raw_plays`), removed at the end; a killed run may leave
one behind, hidden from readers and safe to delete.

When the share of rejected rows passes ``ingest.max_bad_share`` the quarantine is still
written (so it can be inspected) but no plays are published, and the job fails with a
message naming the files, their reason counts and the setting behind a reason that
depends on one (e.g. ``ingest.service_start`` for ``played_before_service_start``).

Published days. Each run rebuilds every day before its cutoff from the raw files present
now, but a day partition is replaced only when its content changed: the fingerprint of
the day's rows (a count plus two order-free sums of 64-bit row hashes over user, track,
time and ms played) differs from the one stored with the partition. So rerunning or
backfilling an older week from unchanged raw files touches no published day, and later
weeks keep exactly the inputs they were built from. A corrected raw file changes its day
(listed in ``days_changed``), and a day before the cutoff with no good rows left (its raw
file deleted) is removed (``days_removed``); either can change the inputs of weeks that
are already published, which the metrics then say. Days on or after the cutoff are never
touched.

The raw files are found and read by :mod:`jobs.warehouse.raw_plays`.

Run alone::

    python -m jobs.ingest --week 2026-W47
    spark-submit --py-files build/pipeline.zip jobs/ingest.py --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from jobs.config import Config
from jobs.runtime.cli import week_job, with_spark
from jobs.warehouse.raw_plays import (
    IngestError,
    RawFiles,
    links_folder,
    list_raw_files,
    parse_csv,
    parse_json,
    read_parquet_files,
    read_text_lines,
    under_raw_dir,
)
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff as week_cutoff
from schemas.columns import MS_PLAYED, PLAYED_AT, REASON, SOURCE_FILE, TRACK_ID, USER_ID
from schemas.vocab import (
    ABSURD_MS_PLAYED,
    AFTER_CUTOFF,
    BAD_ENCODING,
    BAD_MS_PLAYED,
    BAD_PLAYED_AT,
    MISSING_TRACK_ID,
    MISSING_USER_ID,
    NEGATIVE_MS_PLAYED,
    PLAYED_BEFORE_SERVICE_START,
    PLAYED_IN_FUTURE,
    UNKNOWN_TRACK_ID,
)

log = logging.getLogger("ingest")

MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01
FINGERPRINT = "_fingerprint"  # in each plays/day=D partition: the fingerprint of its rows
# ids that mean "no id" (compared lower-cased, after trimming): quarantined as missing_user_id / missing_track_id
MISSING_IDS = ("", "null", "none", "nan", "n/a", "-")
# reasons whose outcome a setting decides: named in the hints and in a failure's message
REASON_SETTINGS = {
    PLAYED_BEFORE_SERVICE_START: ("service_start", "YYYY-MM-DD"),
    PLAYED_IN_FUTURE: ("max_future_days", "DAYS"),
    ABSURD_MS_PLAYED: ("max_ms_played", "MS"),
}


# ----------------------------------------------------------------------------- transforms


def validate(
    rows: Any, track_ids: Any, service_start: dt.datetime, cutoff: dt.datetime, max_ms: int, max_future_days: int = 366
) -> Any:
    """Type and check raw rows: adds ``played_at_ts``, ``ms`` and ``reason`` (null when good).

    ``rows`` has the text columns of the contract plus ``error``; ``track_ids`` is a
    one-column (``track_id``) DataFrame of the catalog. The first failing rule wins.
    Rows at or after ``cutoff`` get reason ``after_cutoff`` (not bad: a later week's) unless
    they lie more than ``max_future_days`` past it (``played_in_future``). Text that is not
    valid UTF-8 (decoded with replacement characters) is ``bad_encoding``. An id that is
    empty or one of :data:`MISSING_IDS` (``NULL``, ``None``, ``NaN``, ``N/A``, ``-``, any
    case) is missing.
    """
    from pyspark.sql import functions as F

    uid = F.trim(USER_ID)
    tid = F.trim(TRACK_ID)
    pa_raw = F.trim(PLAYED_AT)
    epoch = F.when(pa_raw.rlike(r"^-?\d{1,16}$"), pa_raw.cast("long"))
    iso_ok = pa_raw.rlike(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
    ts = F.when((epoch >= 0) & (epoch < MAX_EPOCH_MS), F.timestamp_millis(epoch)).when(
        iso_ok, F.try_to_timestamp(pa_raw)
    )
    ms_raw = F.trim(MS_PLAYED)
    ms = F.when(ms_raw.rlike(r"^-?\d{1,18}(\.0+)?$"), F.regexp_replace(ms_raw, r"\.0+$", "").cast("long"))
    known = track_ids.select(F.col(TRACK_ID).alias("_known")).distinct()
    df = rows.withColumn(USER_ID, uid).withColumn(TRACK_ID, tid).withColumn("played_at_ts", ts).withColumn("ms", ms)
    df = df.join(F.broadcast(known), df[TRACK_ID] == known["_known"], "left")
    reason = (
        F.when(F.col("error").isNotNull(), F.col("error"))
        .when(F.col("raw").contains("\ufffd"), BAD_ENCODING)
        .when(F.col(USER_ID).isNull() | F.lower(USER_ID).isin(*MISSING_IDS), MISSING_USER_ID)
        .when(F.col(TRACK_ID).isNull() | F.lower(TRACK_ID).isin(*MISSING_IDS), MISSING_TRACK_ID)
        .when(F.col("played_at_ts").isNull(), BAD_PLAYED_AT)
        .when(F.col("played_at_ts") < F.lit(service_start), PLAYED_BEFORE_SERVICE_START)
        .when(F.col("ms").isNull(), BAD_MS_PLAYED)
        .when(F.col("ms") < 0, NEGATIVE_MS_PLAYED)
        .when(F.col("ms") > max_ms, ABSURD_MS_PLAYED)
        .when(F.col("_known").isNull(), UNKNOWN_TRACK_ID)
        .when(F.col("played_at_ts") >= F.lit(cutoff + dt.timedelta(days=max_future_days)), PLAYED_IN_FUTURE)
        .when(F.col("played_at_ts") >= F.lit(cutoff), AFTER_CUTOFF)
    )
    return df.withColumn(REASON, reason).drop("_known")


def deduplicate(good: Any) -> Any:
    """One row per ``(user_id, track_id, played_at)``; the longest ``ms_played`` wins."""
    from pyspark.sql import functions as F

    return good.groupBy(USER_ID, TRACK_ID, F.col("played_at_ts").alias(PLAYED_AT)).agg(F.max("ms").alias(MS_PLAYED))


def looks_like_epoch_seconds(service_start: dt.datetime, cutoff: dt.datetime, max_future_days: int) -> Any:
    """Whether a row's ``played_at`` is a whole number that, read as epoch seconds, is a time ingest accepts."""
    from pyspark.sql import functions as F

    text = F.trim(PLAYED_AT)
    ms = F.when(text.rlike(r"^\d{1,12}$"), text.cast("long") * 1000)
    low = int(service_start.timestamp() * 1000)
    high = int((cutoff + dt.timedelta(days=max_future_days)).timestamp() * 1000)
    return F.coalesce((ms >= low) & (ms < high), F.lit(False))


def hints(counts: dict[str, int], epoch_seconds: dict[str, int], settings: dict[str, Any]) -> list[str]:
    """What likely caused some of the reasons in ``counts``, and which setting decides them.

    ``epoch_seconds``: per file, the rows quarantined as played_before_service_start whose
    played_at reads as a valid time in epoch seconds; ``settings``: the ingest section.
    """
    out = []
    if epoch_seconds:
        n = sum(epoch_seconds.values())
        files = ", ".join(sorted(epoch_seconds)[:5]) + (", ..." if len(epoch_seconds) > 5 else "")
        out.append(
            f"{n} played_at values quarantined as played_before_service_start look like epoch seconds ({files}): "
            "played_at must be epoch milliseconds or ISO-8601"
        )
    for reason, (key, example) in REASON_SETTINGS.items():
        if counts.get(reason):
            out.append(
                f"{reason} depends on ingest.{key} (now {settings[key]}): change it in the configuration "
                f"or with the environment variable DW__INGEST__{key.upper()}={example}"
            )
    return out


def bad_share_problem(
    counts: dict[str, int],
    total: int,
    limit: float,
    by_file: dict[str, dict[str, int]],
    notes: list[str] | tuple[str, ...] = (),
) -> str | None:
    """The failure message when the quarantined share passes ``limit``, else None; ``notes`` are appended."""
    bad = sum(counts.values())
    if total == 0 or bad / total <= limit:
        return None
    worst = sorted(by_file.items(), key=lambda kv: -sum(kv[1].values()))[:10]
    lines = [f"  {f}: " + ", ".join(f"{r}={n}" for r, n in sorted(c.items())) for f, c in worst]
    return (
        f"{bad} of {total} raw rows ({bad / total:.1%}) were quarantined, above the limit of {limit:.1%} "
        f"(ingest.max_bad_share). Reasons: {dict(sorted(counts.items()))}. Worst files:\n"
        + "\n".join(lines)
        + "".join(f"\nHint: {n}" for n in notes)
    )


# ----------------------------------------------------------------------------- job


def run(spark: Any, config: Config, week: str) -> dict[str, Any]:
    """Ingest everything before ``week``'s cutoff; returns the run's counts."""
    raw_dir = config.paths.data / "raw" / "plays"
    found = list_raw_files(raw_dir)
    wh = Warehouse(config.paths.warehouse)
    with links_folder(wh.table_dir("quarantine"), week) as links:
        return _ingest(spark, config, week, wh, found, links)


def _ingest(spark: Any, config: Config, week: str, wh: Warehouse, found: RawFiles, links: Path) -> dict[str, Any]:
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from jobs.warehouse.catalog import read_catalog_table
    from schemas.tables import conform_spark, spark_schema

    t0 = time.perf_counter()
    cut = week_cutoff(week)
    service_start = dt.datetime.combine(dt.date.fromisoformat(config.ingest.service_start), dt.time(0), tzinfo=dt.UTC)
    raw_dir = config.paths.data / "raw" / "plays"
    by_format = found.by_format
    found.log(raw_dir)

    tracks = read_catalog_table(config.paths.data, "tracks")
    track_ids = spark.createDataFrame(tracks[[TRACK_ID]].astype(str))

    parts = []
    text_files = by_format["csv"] + by_format["json"]
    if text_files:
        lines = read_text_lines(spark, text_files, links).cache()
        is_csv = F.lower(SOURCE_FILE).rlike(r"\.csv(\.gz)?$")
        csv_lines = lines.filter(is_csv)
        json_lines = lines.filter(~is_csv)
        if by_format["csv"]:
            parsed = parse_csv(csv_lines)
            if parsed is not None:
                parts.append(parsed)
        if by_format["json"]:
            parts.append(parse_json(json_lines))
    file_errors: dict[str, str] = {}
    if by_format["parquet"]:
        pq_rows, file_errors = read_parquet_files(spark, by_format["parquet"], links)
        if pq_rows is not None:
            parts.append(pq_rows)
    if not parts:
        raise IngestError(f"{raw_dir}: no readable play logs (found {found.count()} files)")
    rows = functools.reduce(DataFrame.unionByName, parts)

    max_future = config.ingest.max_future_days
    checked = validate(rows, track_ids, service_start, cut, config.ingest.max_ms_played, max_future).cache()
    seconds = F.when(
        F.col(REASON) == PLAYED_BEFORE_SERVICE_START, looks_like_epoch_seconds(service_start, cut, max_future)
    ).otherwise(False)
    stats = (
        checked.groupBy(SOURCE_FILE, F.coalesce(REASON, F.lit("ok")).alias(REASON), seconds.alias("seconds"))
        .count()
        .collect()
    )
    by_file: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    epoch_seconds: dict[str, int] = {}
    total = after_cutoff = good = 0
    for r in stats:
        if r[REASON] == AFTER_CUTOFF:
            after_cutoff += r["count"]
            continue
        total += r["count"]
        if r[REASON] == "ok":
            good += r["count"]
            continue
        reasons = by_file.setdefault(r[SOURCE_FILE], {})
        reasons[r[REASON]] = reasons.get(r[REASON], 0) + r["count"]
        counts[r[REASON]] = counts.get(r[REASON], 0) + r["count"]
        if r["seconds"]:
            name = under_raw_dir(r[SOURCE_FILE], raw_dir)
            epoch_seconds[name] = epoch_seconds.get(name, 0) + r["count"]
    for path, err in file_errors.items():
        counts[err] = counts.get(err, 0) + 1
        by_file.setdefault(path, {})[err] = 1
        total += 1

    # quarantine: always written, even when the run then fails on the bad share
    quarantine = checked.filter(F.col(REASON).isNotNull() & (F.col(REASON) != AFTER_CUTOFF)).select(
        SOURCE_FILE, F.col("line").cast("long").alias("line"), REASON, "raw"
    )
    if file_errors:
        extra = spark.createDataFrame(
            [(p, None, e, None) for p, e in sorted(file_errors.items())], spark_schema("quarantine")
        )
        quarantine = quarantine.unionByName(extra)
    quarantine = conform_spark(quarantine, "quarantine", include_partitions=False)
    with wh.staged(wh.partition("quarantine", week)) as stage:
        (
            quarantine.coalesce(1)
            .sortWithinPartitions(SOURCE_FILE, "line")
            .write.mode("overwrite")
            .parquet(str(stage / "data"))
        )
        _flatten(stage / "data", stage)

    notes = hints(counts, epoch_seconds, config.ingest.model_dump())
    for note in notes:
        log.warning("%s", note)
    metrics = {
        "week": week,
        "cutoff": cut.isoformat(),
        "raw_rows": total,
        "good_rows": good,
        "quarantined": sum(counts.values()),
        AFTER_CUTOFF: after_cutoff,
        "reasons": dict(sorted(counts.items())),
        "by_file": {under_raw_dir(f, raw_dir): c for f, c in sorted(by_file.items())},
        "hints": notes,
        "skipped_files": found.skipped,
        "ignored_files": len(found.ignored),
        "files": {k: len(v) for k, v in by_format.items()},
    }
    problem = bad_share_problem(counts, total, config.ingest.max_bad_share, by_file, notes)
    if problem:
        metrics["failed"] = problem
        wh.write_metrics("ingest", week, metrics)
        raise IngestError(problem)

    plays = deduplicate(checked.filter(F.col(REASON).isNull()))
    plays = conform_spark(plays.withColumn("day", F.to_date(PLAYED_AT)), "plays")
    plays = plays.cache()
    kept = plays.count()
    metrics["duplicates_dropped"] = good - kept
    metrics["plays_written"] = kept

    changes = publish_days(plays, wh, cut.date())
    metrics.update(changes)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    wh.write_metrics("ingest", week, metrics)
    checked.unpersist()
    plays.unpersist()
    return metrics


def day_fingerprints(plays: Any) -> dict[str, str]:
    """The fingerprint of each day's rows of ``plays`` (``day`` and the contract's columns), by ISO day.

    Rows are unique (de-duplicated), so an order-free hash of the set does: the row count
    and two sums of independent 64-bit row hashes, summed exactly as decimals.
    """
    from pyspark.sql import functions as F

    cols = (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED)
    h1 = F.xxhash64(*cols).cast("decimal(38,0)")
    h2 = F.xxhash64(F.lit("dw-fingerprint"), *reversed(cols)).cast("decimal(38,0)")
    rows = plays.groupBy("day").agg(F.count(F.lit(1)).alias("n"), F.sum(h1).alias("h1"), F.sum(h2).alias("h2"))
    return {r["day"].isoformat(): f"v1 rows={r['n']} xxhash64={r['h1']}/{r['h2']}" for r in rows.collect()}


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


def _flatten(spark_out: Path, dest: Path) -> None:
    """Move Spark's part files up into ``dest`` (dropping checksum files) and remove ``spark_out``."""
    for f in sorted(spark_out.iterdir()):
        if f.suffix == ".parquet":
            f.rename(dest / f.name)
    shutil.rmtree(spark_out)


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "ingest",
        "Validate raw play logs into the plays table.",
        lambda config, week, _: with_spark(config, f"ingest-{week}", lambda spark: run(spark, config, week)),
        argv,
        errors=(IngestError,),
    )


if __name__ == "__main__":
    sys.exit(main())
