"""Ingest: raw play logs (CSV, JSON lines, Parquet; optionally gzip) -> validated ``plays``.

Reads every file under ``<data>/raw/plays/`` (``.csv``, ``.jsonl``/``.json``, ``.parquet``,
and ``.csv.gz``/``.jsonl.gz``), keeps the events before the run week's cutoff (Monday
00:00 UTC), validates each row and writes:

* ``<warehouse>/plays/day=YYYY-MM-DD/``: good rows, de-duplicated on
  ``(user_id, track_id, played_at)``, each day partition swapped in atomically;
* ``<warehouse>/quarantine/week=YYYY-Www/``: every rejected row with its file, line,
  reason and raw text;
* ``<warehouse>/run_metrics/week=YYYY-Www/ingest.json``: counts per reason and per file.

When the share of rejected rows passes ``ingest.max_bad_share`` the quarantine is still
written (so it can be inspected) but no plays are published, and the job fails with a
message naming the files and their reason counts.

Run alone::

    python -m jobs.ingest --week 2026-W47
    spark-submit --py-files build/pipeline.zip jobs/ingest.py --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # started as a file by spark-submit: make `jobs` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.common.atomic import clean_stale_staging, publish_dir, staging_dir, write_json_atomic
from jobs.common.cli import week_job, with_spark
from jobs.common.config import Config
from jobs.common.paths import table_dir, week_dir
from jobs.common.weeks import cutoff as week_cutoff

log = logging.getLogger("ingest")

FIELDS = ("user_id", "track_id", "played_at", "ms_played")
TEXT_SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json"}
MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01


class IngestError(RuntimeError):
    """Too much of the input is bad, or the input cannot be read at all."""


def classify(path: Path) -> str | None:
    """``csv``, ``json``, ``parquet`` or None for a file name (``.gz`` allowed on text)."""
    suffixes = path.suffixes
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes:
        return None
    last = suffixes[-1].lower()
    if last == ".parquet" and path.suffix != ".gz":
        return "parquet"
    return TEXT_SUFFIXES.get(last)


def list_raw_files(raw_dir: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Raw files by format, sorted, plus the names of files that are not play logs."""
    by_format: dict[str, list[str]] = {"csv": [], "json": [], "parquet": []}
    skipped = []
    if not raw_dir.is_dir():
        raise IngestError(f"{raw_dir}: the raw play log directory does not exist")
    for path in sorted(p for p in raw_dir.rglob("*") if p.is_file()):
        if path.name.startswith((".", "_")):
            continue
        fmt = classify(path)
        if fmt is None:
            skipped.append(str(path))
        else:
            by_format[fmt].append(str(path))
    return by_format, skipped


# ----------------------------------------------------------------------------- readers


def read_text_lines(spark: Any, files: list[str]) -> Any:
    """``source_file, line, value`` for text files; ``line`` is 1-based within each file.

    Spark may split a large file into several byte ranges read by different tasks. Row ids
    (``monotonically_increasing_id``) are consecutive within a range, so a row's line is its
    offset in its range plus the lines of the file's earlier ranges; the ranges (a handful
    per file) are counted once and broadcast back. Gzip files are never split.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = spark.read.text(files).select(
        F.col("_metadata.file_path").alias("source_file"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_id"),
        F.regexp_replace(F.regexp_replace("value", "^\ufeff", ""), "\r$", "").alias("value"),
    )
    earlier = Window.partitionBy("source_file").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    blocks = (
        df.groupBy("source_file", "_block")
        .agg(F.min("_id").alias("_first"), F.count(F.lit(1)).alias("_n"))
        .select("source_file", "_block", "_first", F.coalesce(F.sum("_n").over(earlier), F.lit(0)).alias("_before"))
    )
    line = F.col("_id") - F.col("_first") + F.col("_before") + 1
    return df.join(F.broadcast(blocks), ["source_file", "_block"]).select("source_file", line.alias("line"), "value")


def parse_csv(lines: Any) -> Any:
    """Split CSV lines into the contract's fields, using each file's own header line.

    Returns ``source_file, line, raw, user_id, track_id, played_at, ms_played, error``;
    ``error`` names what is wrong with a line that cannot be parsed at all.
    """
    from pyspark.sql import functions as F

    headers = {r["source_file"]: r["value"] for r in lines.filter("line = 1").collect()}
    body = lines.filter((F.col("line") > 1) & (F.trim("value") != ""))
    parts = []
    for header in sorted(set(headers.values())):
        names = [h.strip().strip('"').lower() for h in header.split(",")]
        files = [f for f, h in headers.items() if h == header]
        rows = body.filter(F.col("source_file").isin(files))
        missing = [f for f in FIELDS if f not in names]
        if missing:
            err = F.lit(f"missing_columns:{'+'.join(missing)}")
            parts.append(
                rows.select(
                    "source_file",
                    "line",
                    F.col("value").alias("raw"),
                    *[F.lit(None).cast("string").alias(f) for f in FIELDS],
                    err.alias("error"),
                )
            )
            continue
        schema = ", ".join(f"`c{i}` STRING" for i in range(len(names)))
        parsed = F.from_csv("value", schema, {"mode": "PERMISSIVE"})
        n_fields = F.size(F.split("value", ","))
        wrong_count = (~F.col("value").contains('"')) & (n_fields != len(names))
        cols = [parsed.getField(f"c{names.index(f)}").alias(f) for f in FIELDS]
        parts.append(
            rows.select(
                "source_file",
                "line",
                F.col("value").alias("raw"),
                *cols,
                F.when(wrong_count, F.lit("malformed_csv")).alias("error"),
            )
        )
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def parse_json(lines: Any) -> Any:
    """Parse JSON lines; a line that is not a JSON object gets ``error = malformed_json``.

    Keys are matched case-insensitively, as CSV headers and Parquet columns are: the exact
    name first, else the first key that equals it ignoring case. Values of any JSON type
    come back as their text (``180000``, ``2026-11-09T08:00:00Z``) for validation.
    """
    from pyspark.sql import functions as F

    parsed = F.from_json("value", "map<string,string>", {"mode": "PERMISSIVE"})
    rows = lines.filter(F.trim("value") != "").select(
        "source_file", "line", F.col("value").alias("raw"), parsed.alias("p")
    )
    is_object = F.trim("raw").startswith("{")
    bad = F.col("p").isNull() | ~is_object

    def field(name: str) -> Any:
        any_case = F.map_values(F.map_filter("p", lambda k, _v: F.lower(k) == F.lit(name)))
        return F.coalesce(F.col("p")[name], F.get(any_case, 0)).alias(name)

    return rows.select(
        "source_file",
        "line",
        "raw",
        *[F.when(~bad, field(f)).alias(f) for f in FIELDS],
        F.when(bad, F.lit("malformed_json")).alias("error"),
    )


def read_parquet_files(spark: Any, files: list[str]) -> tuple[Any, dict[str, str]]:
    """Read Parquet files one by one (their schemas may differ); ``line`` is the row index.

    Files that cannot be read or lack a contract column are returned as file-level errors.
    """
    from pyspark.sql import functions as F

    parts, errors = [], {}
    for path in files:
        try:
            df = spark.read.parquet(path)
            cols = {c.lower(): c for c in df.columns}
            missing = [f for f in FIELDS if f not in cols]
            if missing:
                errors[path] = f"missing_columns:{'+'.join(missing)}"
                continue
            raw = F.to_json(F.struct(*[F.col(cols[f]).alias(f) for f in FIELDS]))
            parts.append(
                df.select(
                    F.col("_metadata.file_path").alias("source_file"),
                    (F.col("_metadata.row_index") + 1).alias("line"),
                    raw.alias("raw"),
                    *[F.col(cols[f]).cast("string").alias(f) for f in FIELDS],
                    F.lit(None).cast("string").alias("error"),
                )
            )
        except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, not fatal here
            errors[path] = f"unreadable_parquet:{type(exc).__name__}"
    errors = {_as_uri(p): e for p, e in errors.items()}
    if not parts:
        return None, errors
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out, errors


def _as_uri(path: str) -> str:
    """A local path spelled the way Spark names files (``file:/abs/path``)."""
    return path if ":" in path.split("/", 1)[0] else f"file:{Path(path).resolve()}"


# ----------------------------------------------------------------------------- transforms


def validate(
    rows: Any, track_ids: Any, service_start: dt.datetime, cutoff: dt.datetime, max_ms: int, max_future_days: int = 366
) -> Any:
    """Type and check raw rows: adds ``played_at_ts``, ``ms`` and ``reason`` (null when good).

    ``rows`` has the text columns of the contract plus ``error``; ``track_ids`` is a
    one-column (``track_id``) DataFrame of the catalog. The first failing rule wins.
    Rows at or after ``cutoff`` get reason ``after_cutoff`` (not bad: a later week's) unless
    they lie more than ``max_future_days`` past it (``played_in_future``). Text that is not
    valid UTF-8 (decoded with replacement characters) is ``bad_encoding``.
    """
    from pyspark.sql import functions as F

    uid = F.trim("user_id")
    tid = F.trim("track_id")
    pa_raw = F.trim("played_at")
    epoch = F.when(pa_raw.rlike(r"^-?\d{1,16}$"), pa_raw.cast("long"))
    iso_ok = pa_raw.rlike(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
    ts = F.when((epoch >= 0) & (epoch < MAX_EPOCH_MS), F.timestamp_millis(epoch)).when(
        iso_ok, F.try_to_timestamp(pa_raw)
    )
    ms_raw = F.trim("ms_played")
    ms = F.when(ms_raw.rlike(r"^-?\d{1,18}(\.0+)?$"), F.regexp_replace(ms_raw, r"\.0+$", "").cast("long"))
    known = track_ids.select(F.col("track_id").alias("_known")).distinct()
    df = rows.withColumn("user_id", uid).withColumn("track_id", tid).withColumn("played_at_ts", ts).withColumn("ms", ms)
    df = df.join(F.broadcast(known), df["track_id"] == known["_known"], "left")
    reason = (
        F.when(F.col("error").isNotNull(), F.col("error"))
        .when(F.col("raw").contains("\ufffd"), "bad_encoding")
        .when(F.col("user_id").isNull() | (F.col("user_id") == ""), "missing_user_id")
        .when(F.col("track_id").isNull() | (F.col("track_id") == ""), "missing_track_id")
        .when(F.col("played_at_ts").isNull(), "bad_played_at")
        .when(F.col("played_at_ts") < F.lit(service_start), "played_before_service_start")
        .when(F.col("ms").isNull(), "bad_ms_played")
        .when(F.col("ms") < 0, "negative_ms_played")
        .when(F.col("ms") > max_ms, "absurd_ms_played")
        .when(F.col("_known").isNull(), "unknown_track_id")
        .when(F.col("played_at_ts") >= F.lit(cutoff + dt.timedelta(days=max_future_days)), "played_in_future")
        .when(F.col("played_at_ts") >= F.lit(cutoff), "after_cutoff")
    )
    return df.withColumn("reason", reason).drop("_known")


def deduplicate(good: Any) -> Any:
    """One row per ``(user_id, track_id, played_at)``; the longest ``ms_played`` wins."""
    from pyspark.sql import functions as F

    return good.groupBy("user_id", "track_id", F.col("played_at_ts").alias("played_at")).agg(
        F.max("ms").alias("ms_played")
    )


def bad_share_problem(
    counts: dict[str, int], total: int, limit: float, by_file: dict[str, dict[str, int]]
) -> str | None:
    """The failure message when the quarantined share passes ``limit``, else None."""
    bad = sum(counts.values())
    if total == 0 or bad / total <= limit:
        return None
    worst = sorted(by_file.items(), key=lambda kv: -sum(kv[1].values()))[:10]
    lines = [f"  {f}: " + ", ".join(f"{r}={n}" for r, n in sorted(c.items())) for f, c in worst]
    return (
        f"{bad} of {total} raw rows ({bad / total:.1%}) were quarantined, above the limit of {limit:.1%}. "
        f"Reasons: {dict(sorted(counts.items()))}. Worst files:\n" + "\n".join(lines)
    )


# ----------------------------------------------------------------------------- job


def run(spark: Any, config: Config, week: str) -> dict[str, Any]:
    """Ingest everything before ``week``'s cutoff; returns the run's counts."""
    from pyspark.sql import functions as F

    from jobs.common.catalog import read_catalog_table
    from schemas.tables import conform_spark, spark_schema

    t0 = time.perf_counter()
    cut = week_cutoff(week)
    service_start = dt.datetime.combine(dt.date.fromisoformat(config.ingest.service_start), dt.time(0), tzinfo=dt.UTC)
    raw_dir = config.paths.data / "raw" / "plays"
    by_format, skipped = list_raw_files(raw_dir)
    for path in skipped:
        log.warning("skipping %s: not a play log (.csv, .jsonl, .json, .parquet, optionally .gz)", path)

    tracks = read_catalog_table(config.paths.data, "tracks")
    track_ids = spark.createDataFrame(tracks[["track_id"]].astype(str))

    parts = []
    text_files = by_format["csv"] + by_format["json"]
    if text_files:
        lines = read_text_lines(spark, text_files).cache()
        is_csv = F.lower("source_file").rlike(r"\.csv(\.gz)?$")
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
        pq_rows, file_errors = read_parquet_files(spark, by_format["parquet"])
        if pq_rows is not None:
            parts.append(pq_rows)
    if not parts:
        raise IngestError(f"{raw_dir}: no readable play logs (found {sum(map(len, by_format.values()))} files)")
    rows = parts[0]
    for p in parts[1:]:
        rows = rows.unionByName(p)

    checked = validate(
        rows, track_ids, service_start, cut, config.ingest.max_ms_played, config.ingest.max_future_days
    ).cache()
    stats = checked.groupBy("source_file", F.coalesce("reason", F.lit("ok")).alias("reason")).count().collect()
    by_file: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    total = after_cutoff = good = 0
    for r in stats:
        if r["reason"] == "after_cutoff":
            after_cutoff += r["count"]
            continue
        total += r["count"]
        if r["reason"] == "ok":
            good += r["count"]
            continue
        by_file.setdefault(r["source_file"], {})[r["reason"]] = r["count"]
        counts[r["reason"]] = counts.get(r["reason"], 0) + r["count"]
    for path, err in file_errors.items():
        counts[err] = counts.get(err, 0) + 1
        by_file.setdefault(path, {})[err] = 1
        total += 1

    warehouse = config.paths.warehouse
    # quarantine: always written, even when the run then fails on the bad share
    quarantine = checked.filter(F.col("reason").isNotNull() & (F.col("reason") != "after_cutoff")).select(
        "source_file", F.col("line").cast("long").alias("line"), "reason", "raw"
    )
    if file_errors:
        extra = spark.createDataFrame(
            [(p, None, e, None) for p, e in sorted(file_errors.items())], spark_schema("quarantine")
        )
        quarantine = quarantine.unionByName(extra)
    quarantine = conform_spark(quarantine, "quarantine", include_partitions=False)
    q_target = week_dir(warehouse, "quarantine", week)
    q_stage = staging_dir(q_target)
    (
        quarantine.coalesce(1)
        .sortWithinPartitions("source_file", "line")
        .write.mode("overwrite")
        .parquet(str(q_stage / "data"))
    )
    _flatten(q_stage / "data", q_stage)
    publish_dir(q_stage, q_target)

    metrics = {
        "week": week,
        "cutoff": cut.isoformat(),
        "raw_rows": total,
        "good_rows": good,
        "quarantined": sum(counts.values()),
        "after_cutoff": after_cutoff,
        "reasons": dict(sorted(counts.items())),
        "by_file": {Path(f.replace("file://", "")).name: c for f, c in sorted(by_file.items())},
        "skipped_files": skipped,
        "files": {k: len(v) for k, v in by_format.items()},
    }
    problem = bad_share_problem(counts, total, config.ingest.max_bad_share, by_file)
    if problem:
        metrics["failed"] = problem
        write_json_atomic(week_dir(warehouse, "run_metrics", week) / "ingest.json", metrics)
        raise IngestError(problem)

    plays = deduplicate(checked.filter(F.col("reason").isNull()))
    plays = conform_spark(plays.withColumn("day", F.to_date("played_at")), "plays")
    plays = plays.cache()
    kept = plays.count()
    metrics["duplicates_dropped"] = good - kept
    metrics["plays_written"] = kept

    plays_root = table_dir(warehouse, "plays")
    clean_stale_staging(plays_root)
    stage = staging_dir(plays_root / "day")
    (
        plays.repartition("day")
        .sortWithinPartitions("day", "played_at", "user_id", "track_id")
        .write.mode("overwrite")
        .partitionBy("day")
        .parquet(str(stage / "data"))
    )
    days = sorted(p.name for p in (stage / "data").iterdir() if p.name.startswith("day="))
    for day in days:
        publish_dir(stage / "data" / day, plays_root / day)
    shutil.rmtree(stage, ignore_errors=True)
    metrics["days"] = len(days)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    write_json_atomic(week_dir(warehouse, "run_metrics", week) / "ingest.json", metrics)
    checked.unpersist()
    plays.unpersist()
    return metrics


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
