"""Raw play logs: finding them and reading them as text rows with their file and line.

Reads the files under ``<data>/raw/plays/`` (``.csv``, ``.jsonl``/``.json``, ``.parquet``,
and ``.csv.gz``/``.jsonl.gz``) with Spark and returns, for every row, ``source_file``,
``line``, ``raw`` (the row as read), the contract's four fields as text and ``error``
(what made the row unparseable, else null). Validation is :func:`jobs.ingest.validate`'s.
Writes nothing.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

FIELDS = ("user_id", "track_id", "played_at", "ms_played")
TEXT_SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json"}


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
    from pyspark.sql import DataFrame
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
    return functools.reduce(DataFrame.unionByName, parts) if parts else None


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
    from pyspark.sql import DataFrame
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
    return (functools.reduce(DataFrame.unionByName, parts) if parts else None), errors


def _as_uri(path: str) -> str:
    """A local path spelled the way Spark names files (``file:/abs/path``)."""
    return path if ":" in path.split("/", 1)[0] else f"file:{Path(path).resolve()}"
