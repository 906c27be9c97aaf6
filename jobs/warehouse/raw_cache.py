"""Raw play files parsed once: each file's parsed rows cached by its path and bytes.

Reads and writes ``<paths.cache>/ingest/<version>/<hh>/<key>.parquet`` (and a scratch folder
``_new-*`` beside the entries while it stores new ones). The ingest parses every raw file
into text rows (:func:`jobs.warehouse.raw_plays.parse_files`: file, line, raw text, the
contract's fields, a parse error); those rows depend only on the file's bytes, its path
(every row names its file) and the parser's code. So the key of an entry is the SHA-256 of
the file's path and bytes, and its folder the parser's version (:func:`parser_version`: the
source of the parsing modules and Spark's version). A week then parses only the files it
has not seen (the new days, a corrected file) and reads the rest from the cache; validation,
de-duplication and publishing still run over every row, with the week's catalog, cutoff and
settings, so the tables are the same with the cache, without it, or after it was deleted
(tests/integration/test_ingest.py).

Every raw file is still read once a run, to hash it. Not cached: a Parquet file that cannot be
used (a file-level error such as ``missing_columns:``), checked again each run from its schema
alone, and a file without rows. Spark reads the entries while the job runs: delete the cache
between runs (deleting it under a running ingest fails that run, which publishes nothing). An entry is
one Parquet file written by Spark and renamed into place, so a killed run leaves at most the
scratch folder (``_new-*``, safe to delete) and never half an entry. ``ingest.cache: false``
parses every file each run and writes nothing here.

Used by :mod:`jobs.ingest`; not runnable alone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.warehouse.cache import ContentStore, code_version, sha256_file, sha256_text
from jobs.warehouse.raw_plays import ALL_FIELDS, link_inputs, parse_files, source_uri
from schemas.columns import SOURCE_FILE

log = logging.getLogger("ingest")

# the parsed rows of a raw file, as parse_files returns them (every field still text)
PARSED_COLUMNS = (SOURCE_FILE, "line", "raw", *ALL_FIELDS, "error")
PARSED_SCHEMA = ", ".join(f"`{c}` {'long' if c == 'line' else 'string'}" for c in PARSED_COLUMNS)
_ENTRY = "_entry"


# what shapes a parsed row: the parsers, the error codes and column names they write, the Spark
# session's time zone (Parquet timestamps read back as text), and the libraries that read the files
PARSER_MODULES = (
    "jobs.warehouse.raw_plays",
    "jobs.warehouse.raw_cache",
    "jobs.warehouse.spark",
    "schemas.vocab",
    "schemas.columns",
)


def parser_version() -> str:
    """The version folder: the parsing code's source and the versions of Spark and pyarrow."""
    return code_version({}, PARSER_MODULES, ["pyspark", "pyarrow"])


def entry_key(path: str) -> str:
    """A raw file's key: the SHA-256 of its name as its rows spell it and of its bytes."""
    return sha256_text(source_uri(path) + "\0" + sha256_file(Path(path)))


def store_for(cache_dir: Path) -> ContentStore:
    return ContentStore(Path(cache_dir) / "ingest" / parser_version(), ".parquet")


@dataclass
class Parsed:
    """The parsed rows of every raw file (a frame, None when there are none), the files' errors, the counts."""

    rows: Any
    errors: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)


def parse_with_cache(spark: Any, by_format: dict[str, list[str]], links: Path, store: ContentStore | None) -> Parsed:
    """Parse the raw files ``by_format``, reading the ones ``store`` has and storing the others.

    ``store`` None: every file is parsed and nothing is stored. A store that cannot be written
    (a full disk) costs time, never the run: the rows then come from the parse itself.
    """
    files = sorted(f for paths in by_format.values() for f in paths)
    if store is None:
        rows, errors = parse_files(spark, by_format, links)
        return Parsed(rows, errors, {"files_parsed": len(files), "files_from_cache": 0})
    keys = {f: entry_key(f) for f in files}
    hits = [f for f in files if _readable(store.path(keys[f]))]
    known = set(hits)
    misses = {fmt: [f for f in paths if f not in known] for fmt, paths in by_format.items()}
    metrics = {"files_parsed": len(files) - len(hits), "files_from_cache": len(hits)}
    parts, errors = [], {}
    if metrics["files_parsed"]:
        fresh, errors = parse_files(spark, misses, links)
        unusable = {f for paths in misses.values() for f in paths if source_uri(f) in errors}
        wanted = {keys[f]: f for paths in misses.values() for f in paths if f not in unusable}
        stored = _store(fresh, wanted, store)
        hits += stored
        rest = [source_uri(f) for k, f in wanted.items() if f not in stored]
        if rest and fresh is not None:
            from pyspark.sql import functions as F

            parts.append(fresh.filter(F.col(SOURCE_FILE).isin(rest)))
    if hits:
        paths = [str(store.path(keys[f])) for f in sorted(hits)]
        parts.insert(0, spark.read.schema(PARSED_SCHEMA).parquet(*link_inputs(paths, links, "c")))
    if not parts:
        return Parsed(None, errors, metrics)
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    return Parsed(rows.select(*PARSED_COLUMNS), errors, metrics)


def _store(fresh: Any, wanted: dict[str, str], store: ContentStore) -> list[str]:
    """Write the rows of each file of ``wanted`` (key -> path) as its entry; the paths stored.

    One Spark job: the rows are partitioned by entry, so each entry is one task's single file,
    sorted by line. A file that gave no rows gets no entry, so that a week of blank files still
    reads as "no readable play logs" as it did before the cache.
    """
    from pyspark.sql import functions as F

    if not wanted:
        return []
    scratch, stored = None, []
    try:
        store.folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="_new-", dir=store.folder))
        if fresh is not None:
            by_source = F.create_map(*[F.lit(x) for k, f in sorted(wanted.items()) for x in (source_uri(f), k)])
            (
                fresh.withColumn(_ENTRY, by_source[F.col(SOURCE_FILE)])
                .filter(F.col(_ENTRY).isNotNull())
                .repartition(_ENTRY)
                .sortWithinPartitions(_ENTRY, "line")
                .write.partitionBy(_ENTRY)
                .parquet(str(scratch / "out"))
            )
        for key, path in sorted(wanted.items()):
            part = scratch / "out" / f"{_ENTRY}={key}"
            files = sorted(part.glob("*.parquet")) if part.is_dir() else []
            if len(files) > 1:  # never with one partition per entry; refuse rather than keep part of a file
                log.warning("%s: %d part files for one raw file; not cached", path, len(files))
                continue
            if not files:  # no rows (a blank file): parsed again each run, as cheap as reading an entry
                continue
            target = store.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(files[0], target)
            stored.append(path)
    except Exception as exc:  # noqa: BLE001 - a full or read-only cache (OSError, or Spark's own error) costs time only
        log.warning("parsed raw files not cached in %s (%s); parsing them again next run", store.folder, exc)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return stored


def _readable(entry: Path) -> bool:
    """An entry whose footer reads and whose columns are the parsed rows' (else a miss: parsed again)."""
    import pyarrow.parquet as pq

    try:
        if not entry.is_file():
            return False
        names = pq.read_schema(entry).names
    except Exception as exc:  # noqa: BLE001 - a damaged entry is a miss, never a failed run
        log.warning("cache entry %s unreadable (%s); parsing its file again", entry, exc)
        return False
    return tuple(names) == PARSED_COLUMNS
