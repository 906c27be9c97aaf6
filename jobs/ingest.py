"""Ingest: raw play logs (CSV, JSON lines, Parquet; optionally gzip) -> validated ``plays``; raw saves -> ``saves``.

Reads the play logs under ``<data>/raw/plays/``: ``.csv``, ``.jsonl``/``.json``, ``.parquet``
and ``.csv.gz``/``.jsonl.gz`` files directly there or directly inside a date folder
(``YYYY-MM-DD/`` or ``day=YYYY-MM-DD/``); names starting with ``.`` or ``_`` and ``.crc``
files are ignored at every level, as is every other folder (counted in
``ignored_files``; the rule is :func:`jobs.warehouse.raw_plays.list_raw_files`'s). It keeps
the events before the run week's cutoff (Monday 00:00 UTC), validates each row and writes:

* ``<warehouse>/plays/day=YYYY-MM-DD/``: good rows, de-duplicated on
  ``(user_id, track_id, played_at)``, each day partition swapped in atomically, with
  its content's fingerprint in ``_fingerprint`` (see "Published days" below); a play's
  optional ``context`` (a raw column or key, e.g. ``discover_weekly``) is kept, null when
  the file has none, and one that is not a short lower-case token is ``bad_context``;
* ``<warehouse>/saves/week=YYYY-Www/``: the optional ``<data>/raw/saves/`` (CSV or JSON
  lines: ``user_id, track_id, saved_at``), every valid save before the cutoff, the first
  per (listener, track); an empty partition when there is no such folder
  (:mod:`jobs.warehouse.saves`). Published after the plays, so a failed run publishes
  neither; bad saves never fail the run (they are not counted in ``ingest.max_bad_share``);
* ``<warehouse>/quarantine/week=YYYY-Www/``: every rejected row (a play or a save) with
  its file, line, reason and raw text;
* ``<warehouse>/run_metrics/week=YYYY-Www/ingest.json``: counts per reason and per file
  (by path under ``raw/plays/``), the files ignored or skipped, hints on likely causes
  (e.g. epoch seconds where milliseconds are due), the days whose partitions changed
  or were removed, the files parsed and read from the parse cache (``parse_cache``), and
  under ``saves`` the saves' own counts (read, good, quarantined by reason and file, after
  the cutoff, duplicates dropped, written).

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
time, ms played and context) differs from the one stored with the partition. (Days
published before plays had a ``context`` are rewritten once, with the column, by the first
run after it was added: their fingerprint's version changed, see
:mod:`jobs.warehouse.play_days`.) So rerunning or
backfilling an older week from unchanged raw files touches no published day, and later
weeks keep exactly the inputs they were built from. A corrected raw file changes its day
(listed in ``days_changed``), and a day before the cutoff with no good rows left (its raw
file deleted) is removed (``days_removed``); either can change the inputs of weeks that
are already published, which the metrics then say. Days on or after the cutoff are never
touched.

Parsed once. A raw file's parsed rows (text fields, file and line, parse errors) depend only
on its path and bytes, so they are read from ``<paths.cache>/ingest/`` when the file was seen
before (:mod:`jobs.warehouse.raw_cache`) and only new or changed files are parsed; validation,
de-duplication and the fingerprints still cover every row each run. ``parse_cache`` in the
metrics counts the files parsed and read from the cache; ``ingest.cache: false`` parses
everything. The tables are the same either way.

The raw files are found and read by :mod:`jobs.warehouse.raw_plays`.

Run alone::

    python -m jobs.ingest --week 2026-W47
    spark-submit --py-files build/pipeline.zip jobs/ingest.py --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from pathlib import Path
from typing import Any

from jobs.config import Config
from jobs.runtime.cli import week_job, with_spark
from jobs.warehouse import raw_cache
from jobs.warehouse.play_days import (
    flatten_spark_output,
    publish_days,
)
from jobs.warehouse.quarantine import (
    bad_share_problem,
    deduplicate,
    hints,
    looks_like_epoch_seconds,
    validate,
)
from jobs.warehouse.raw_plays import (
    IngestError,
    RawFiles,
    links_folder,
    list_raw_files,
    under_raw_dir,
)
from jobs.warehouse.saves import ingest_saves
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff as week_cutoff
from schemas.columns import PLAYED_AT, REASON, SOURCE_FILE, TRACK_ID
from schemas.vocab import (
    AFTER_CUTOFF,
    PLAYED_BEFORE_SERVICE_START,
)

log = logging.getLogger("ingest")


def run(spark: Any, config: Config, week: str) -> dict[str, Any]:
    """Ingest everything before ``week``'s cutoff; returns the run's counts."""
    raw_dir = config.paths.data / "raw" / "plays"
    found = list_raw_files(raw_dir)
    wh = Warehouse(config.paths.warehouse)
    with links_folder(wh.table_dir("quarantine"), week) as links:
        return _ingest(spark, config, week, wh, found, links)


def _ingest(spark: Any, config: Config, week: str, wh: Warehouse, found: RawFiles, links: Path) -> dict[str, Any]:
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

    store = raw_cache.store_for(config.paths.cache) if config.ingest.cache else None
    parsed = raw_cache.parse_with_cache(spark, by_format, links, store)
    rows, file_errors = parsed.rows, parsed.errors
    if rows is None:
        raise IngestError(f"{raw_dir}: no readable play logs (found {found.count()} files)")

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

    saves = ingest_saves(
        config.paths.data, set(tracks[TRACK_ID].astype(str)), service_start, cut, config.ingest.max_future_days
    )

    # quarantine: always written, even when the run then fails on the bad share
    quarantine = checked.filter(F.col(REASON).isNotNull() & (F.col(REASON) != AFTER_CUTOFF)).select(
        SOURCE_FILE, F.col("line").cast("long").alias("line"), REASON, "raw"
    )
    if file_errors:
        extra = spark.createDataFrame(
            [(p, None, e, None) for p, e in sorted(file_errors.items())], spark_schema("quarantine")
        )
        quarantine = quarantine.unionByName(extra)
    if len(saves.quarantine):
        bad_saves = [(r[SOURCE_FILE], int(r["line"]), r[REASON], r["raw"]) for r in saves.quarantine.to_dict("records")]
        quarantine = quarantine.unionByName(spark.createDataFrame(bad_saves, spark_schema("quarantine")))
    quarantine = conform_spark(quarantine, "quarantine", include_partitions=False)
    with wh.staged(wh.partition("quarantine", week)) as stage:
        (
            quarantine.coalesce(1)
            .sortWithinPartitions(SOURCE_FILE, "line")
            .write.mode("overwrite")
            .parquet(str(stage / "data"))
        )
        flatten_spark_output(stage / "data", stage)

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
        "parse_cache": parsed.metrics,
        "saves": saves.metrics,
    }
    problem = bad_share_problem(counts, total, config.ingest.max_bad_share, by_file, notes)
    if problem:
        raise IngestError(problem, metrics={**metrics, "failed": problem})

    plays = deduplicate(checked.filter(F.col(REASON).isNull()))
    plays = conform_spark(plays.withColumn("day", F.to_date(PLAYED_AT)), "plays")
    plays = plays.cache()
    kept = plays.count()
    metrics["duplicates_dropped"] = good - kept
    metrics["plays_written"] = kept

    changes = publish_days(plays, wh, cut.date())
    metrics.update(changes)
    wh.write("saves", week, saves.saves)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    checked.unpersist()
    plays.unpersist()
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "ingest",
        "Validate raw play logs into the plays table.",
        lambda config, week, _: with_spark(config, f"ingest-{week}", lambda spark: run(spark, config, week)),
        argv,
        errors=(IngestError,),
        metrics="ingest",
    )


if __name__ == "__main__":
    sys.exit(main())
