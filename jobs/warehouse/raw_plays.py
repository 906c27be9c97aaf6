"""Raw play logs: finding them and reading them as text rows with their file and line.

Which files are read (:func:`list_raw_files`): the play logs (``.csv``, ``.jsonl``/``.json``,
``.parquet``, and ``.csv.gz``/``.jsonl.gz``) directly under ``<data>/raw/plays/``, and
those directly inside a date folder there, named ``YYYY-MM-DD`` or ``day=YYYY-MM-DD`` (a
real date). Nothing else is read: a file or folder whose name starts with ``.`` or ``_``
or ends in ``.crc`` is ignored at every level (``_rejected/``, ``.trash/``, ``_SUCCESS``,
Hadoop's ``.x.crc`` checksums), and so is every file in another folder (``misc/``,
``2026-11-09/old/``); the ingest metrics count them (``ignored_files``). A file in a read
place with another extension is skipped with a warning (``skipped_files``).

How they are read: Spark reads a path as a glob pattern and a URI (``[ ] { } * ? \\``
match other names, a ``:`` in a file name breaks Hadoop's ``Path``), and its local file
system checks a ``.<name>.crc`` beside a file when there is one (a stale or truncated one
fails a good file). So Spark reads each raw file through a symlink with a plain name
(``f000000.csv``) in a scratch folder (:func:`link_inputs`), which any file name survives
and which has no checksum beside it; every row is reported under its real file,
``file:/abs/path``, spelled as on disk (:func:`source_uri`).

For every row the readers return ``source_file``, ``line``, ``raw`` (the row as read), the
contract's four fields and the optional ``context`` (null when the file has no such column
or key) as text, and ``error`` (what makes the row unusable, else null):
``malformed_csv``, ``malformed_json``, ``missing_columns:<cols>``,
``ambiguous_columns:<names>`` (two columns of a field, ``context`` included, whose names
differ only in case), ``non_scalar_value:<cols>`` (a JSON array or object as a value); a
whole Parquet file that cannot be used is a file-level error instead (``unreadable_parquet:<cause>``,
``missing_columns:``, ``ambiguous_columns:``, ``non_scalar_column:<cols>``). Column and key
names are matched ignoring case; a file without the optional ``context`` reads exactly as
before it existed (its ``raw`` text included). Validation is
:func:`jobs.warehouse.quarantine.validate`'s. Writes nothing but the links.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import vocab
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, SOURCE_FILE, TRACK_ID, USER_ID

log = logging.getLogger("ingest")

FIELDS = (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED)  # required in every file
OPTIONAL = (CONTEXT,)  # read when a file has it, else null
ALL_FIELDS = FIELDS + OPTIONAL
TEXT_SUFFIXES = {".csv": "csv", ".jsonl": "json", ".json": "json"}
DATE_FOLDER = re.compile(r"(?:day=)?(\d{4}-\d{2}-\d{2})")
GLOB_CHARS = set("{}[]*?\\")


class IngestError(RuntimeError):
    """Too much of the input is bad, or the input cannot be read at all.

    ``metrics``: the counts of the failed run, which the command line still writes as the run
    metrics (so ``ingest.json`` says what was found and why it failed).
    """

    def __init__(self, message: str, metrics: dict | None = None) -> None:
        super().__init__(message)
        self.metrics = metrics


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


def is_ignored_name(name: str) -> bool:
    """Hidden, ``_``-prefixed and checksum names: never read, at any level."""
    return name.startswith((".", "_")) or name.lower().endswith(".crc")


def is_date_folder(name: str) -> bool:
    """``YYYY-MM-DD`` or ``day=YYYY-MM-DD``, a real date."""
    match = DATE_FOLDER.fullmatch(name)
    if not match:
        return False
    try:
        dt.date.fromisoformat(match.group(1))
    except ValueError:
        return False
    return True


@dataclass
class RawFiles:
    """The raw play logs by format (sorted paths), the files skipped and the files ignored."""

    by_format: dict[str, list[str]] = field(default_factory=lambda: {"csv": [], "json": [], "parquet": []})
    skipped: list[str] = field(default_factory=list)  # in a read place, but not a play log
    ignored: list[str] = field(default_factory=list)  # hidden, `_`, `.crc`, or outside the layout

    def count(self) -> int:
        return sum(map(len, self.by_format.values()))

    def log(self, raw_dir: Path) -> None:
        """Warn about skipped files and files in folders outside the layout; count the hidden ones."""
        for path in self.skipped:
            log.warning("skipping %s: not a play log (.csv, .jsonl, .json, .parquet, optionally .gz)", path)
        outside = [p for p in self.ignored if not any(map(is_ignored_name, Path(p).relative_to(raw_dir).parts))]
        if outside:
            log.warning(
                "ignoring %d file(s) in folders other than date folders (YYYY-MM-DD/ or day=YYYY-MM-DD/ "
                "directly under %s), e.g. %s",
                len(outside),
                raw_dir,
                ", ".join(outside[:3]),
            )
        if len(self.ignored) > len(outside):
            log.info("ignoring %d hidden, _-prefixed or .crc file(s)", len(self.ignored) - len(outside))


def _all_files(folder: Path) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files]


def list_raw_files(raw_dir: Path) -> RawFiles:
    """The files under ``raw_dir`` sorted into read, skipped and ignored (see the module docstring)."""
    if not raw_dir.is_dir():
        raise IngestError(f"{raw_dir}: the raw play log directory does not exist")
    found = RawFiles()
    places = [raw_dir]
    for entry in sorted(raw_dir.iterdir()):
        if entry.is_dir():
            if not is_ignored_name(entry.name) and is_date_folder(entry.name):
                places.append(entry)
            else:
                found.ignored += _all_files(entry)
    for place in places:
        for entry in sorted(place.iterdir()):
            if place is not raw_dir and entry.is_dir():
                found.ignored += _all_files(entry)
            elif entry.is_file():
                if is_ignored_name(entry.name):
                    found.ignored.append(str(entry))
                elif (fmt := classify(entry)) is None:
                    found.skipped.append(str(entry))
                else:
                    found.by_format[fmt].append(str(entry))
    for paths in (*found.by_format.values(), found.skipped, found.ignored):
        paths.sort()
    return found


# ----------------------------------------------------------------------------- paths


def source_uri(path: str) -> str:
    """How a raw file is named in the quarantine and the metrics: ``file:/abs/path``, unescaped."""
    return f"file:{os.path.abspath(path)}"


def under_raw_dir(source_file: str, raw_dir: Path) -> str:
    """A raw file's path under ``raw_dir`` (its name when it is elsewhere), for the metrics."""
    path = Path(source_file.removeprefix("file:"))
    try:
        return str(path.relative_to(os.path.abspath(raw_dir)))
    except ValueError:
        return path.name


@contextlib.contextmanager
def links_folder(parent: Path, week: str) -> Iterator[Path]:
    """A fresh hidden folder ``<parent>/_raw-links-<week>-*`` for :func:`link_inputs`; removed afterwards.

    ``parent`` is made when missing and removed again when the block leaves it empty.
    """
    created = not parent.exists()
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"_raw-links-{week}-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the links only, never what they point to
        if created:
            with contextlib.suppress(OSError):
                parent.rmdir()


def _spark_path(path: Path) -> str:
    """``path`` with glob characters escaped (Spark globs every path it is given)."""
    return "".join("\\" + c if c in GLOB_CHARS else c for c in str(path))


def link_inputs(files: list[str], folder: Path, prefix: str = "f") -> list[str]:
    """Symlink each of ``files`` as ``<folder>/<prefix>NNNNNN.<format>``; the paths Spark is to read.

    The links keep the format's extension (``.csv.gz`` stays gzip) and must live as long as
    a DataFrame reads them. See :func:`original_file` for the way back.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, path in enumerate(files):
        p = Path(path)
        ext = {"csv": ".csv", "json": ".jsonl", "parquet": ".parquet"}[classify(p) or "csv"]
        if p.suffix == ".gz":
            ext += ".gz"
        link = folder / f"{prefix}{i:06d}{ext}"
        os.symlink(os.path.abspath(path), link)
        out.append(_spark_path(link))
    return out


def original_file(link_uri: Any, files: list[str], prefix: str = "f") -> Any:
    """The column of :func:`source_uri` of the raw file behind a link Spark read (``_metadata.file_path``)."""
    from pyspark.sql import functions as F

    index = F.regexp_extract(link_uri, rf"/{prefix}(\d+)\.[a-z.]+$", 1).cast("int")
    return F.element_at(F.array(*[F.lit(source_uri(f)) for f in files]), index + 1)


def java_cause(exc: BaseException) -> str:
    """The class of the innermost Java exception behind a PySpark error (else the Python class)."""
    j = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    name = None
    try:
        for _ in range(20):
            if j is None:
                break
            name = j.getClass().getSimpleName()
            j = j.getCause()
    except Exception:  # noqa: BLE001 - a gateway gone away: keep what was found
        pass
    return name or type(exc).__name__


# ----------------------------------------------------------------------------- readers


def read_text_lines(spark: Any, files: list[str], links: Path) -> Any:
    """``source_file, line, value`` for text files; ``line`` is 1-based within each file.

    The files are read through links made in the folder ``links`` (:func:`link_inputs`),
    which must stay until the frame is no longer used. Spark may split a large file into
    several byte ranges read by different tasks. Row ids (``monotonically_increasing_id``)
    are consecutive within a range, so a row's line is its offset in its range plus the
    lines of the file's earlier ranges; the ranges (a handful per file) are counted once
    and broadcast back. Gzip files are never split.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = spark.read.text(link_inputs(files, links, "t")).select(
        F.col("_metadata.file_path").alias("_link"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_id"),
        F.regexp_replace(F.regexp_replace("value", "^\ufeff", ""), "\r$", "").alias("value"),
    )
    earlier = Window.partitionBy("_link").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    blocks = (
        df.groupBy("_link", "_block")
        .agg(F.min("_id").alias("_first"), F.count(F.lit(1)).alias("_n"))
        .select("_link", "_block", "_first", F.coalesce(F.sum("_n").over(earlier), F.lit(0)).alias("_before"))
    )
    line = F.col("_id") - F.col("_first") + F.col("_before") + 1
    return df.join(F.broadcast(blocks), ["_link", "_block"]).select(
        original_file(F.col("_link"), files, "t").alias(SOURCE_FILE), line.alias("line"), "value"
    )


def _ambiguous(names: list[str], among: tuple[str, ...] | None = FIELDS) -> str | None:
    """``ambiguous_columns:a+A`` when names equal ignoring case (only those in ``among``, unless None)."""
    lower = [n.lower() for n in names]
    dup = [n for n, low in zip(names, lower) if lower.count(low) > 1 and (among is None or low in among)]
    return f"{vocab.AMBIGUOUS_COLUMNS}:{'+'.join(dup)}" if dup else None


def parse_csv(lines: Any) -> Any:
    """Split CSV lines into the contract's fields, using each file's own header line.

    Returns ``source_file, line, raw, user_id, track_id, played_at, ms_played, context, error``
    (``context`` null for a file without that column);
    ``error`` names what is wrong with a line that cannot be parsed at all, or with the
    file's header (a missing or ambiguous column), for each of its lines.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    headers = {r[SOURCE_FILE]: r["value"] for r in lines.filter("line = 1").collect()}
    body = lines.filter((F.col("line") > 1) & (F.trim("value") != ""))
    parts = []
    for header in sorted(set(headers.values())):
        spelled = [h.strip().strip('"') for h in header.split(",")]
        names = [h.lower() for h in spelled]
        files = [f for f, h in headers.items() if h == header]
        rows = body.filter(F.col(SOURCE_FILE).isin(files))
        missing = [f for f in FIELDS if f not in names]
        header_error = f"{vocab.MISSING_COLUMNS}:{'+'.join(missing)}" if missing else _ambiguous(spelled, ALL_FIELDS)
        if header_error:
            parts.append(
                rows.select(
                    SOURCE_FILE,
                    "line",
                    F.col("value").alias("raw"),
                    *[F.lit(None).cast("string").alias(f) for f in ALL_FIELDS],
                    F.lit(header_error).alias("error"),
                )
            )
            continue
        schema = ", ".join(f"`c{i}` STRING" for i in range(len(names)))
        parsed = F.from_csv("value", schema, {"mode": "PERMISSIVE"})
        n_fields = F.size(F.split("value", ","))
        wrong_count = (~F.col("value").contains('"')) & (n_fields != len(names))
        cols = [
            (parsed.getField(f"c{names.index(f)}") if f in names else F.lit(None).cast("string")).alias(f)
            for f in ALL_FIELDS
        ]
        parts.append(
            rows.select(
                SOURCE_FILE,
                "line",
                F.col("value").alias("raw"),
                *cols,
                F.when(wrong_count, F.lit(vocab.MALFORMED_CSV)).alias("error"),
            )
        )
    return functools.reduce(DataFrame.unionByName, parts) if parts else None


def parse_json(lines: Any) -> Any:
    """Parse JSON lines; a line that is not a JSON object gets ``error = malformed_json``.

    Keys are matched case-insensitively, as CSV headers and Parquet columns are: the exact
    name first, else the key that equals it ignoring case; ``context`` is null on a line
    without it. A line with two keys of a field (``context`` included) that differ only in
    case is ``ambiguous_columns:<keys>`` (a key given twice exactly is JSON's own
    last-wins), one whose field holds an array or an object is
    ``non_scalar_value:<fields>``. Values of any other JSON type come back as their text
    (``180000``, ``2026-11-09T08:00:00Z``) for validation.
    """
    from pyspark.sql import functions as F

    parsed = F.from_json("value", "map<string,string>", {"mode": "PERMISSIVE"})
    rows = lines.filter(F.trim("value") != "").select(
        SOURCE_FILE, "line", F.col("value").alias("raw"), parsed.alias("p")
    )
    bad = F.col("p").isNull() | ~F.trim("raw").startswith("{")

    def same_name(f: str) -> Any:
        return F.map_filter("p", _named(f))

    values = [
        F.when(~bad, F.coalesce(F.col("p")[f], F.get(F.map_values(same_name(f)), 0))).alias(f) for f in ALL_FIELDS
    ]
    # keys that differ only in case: looked for only on a line with keys besides the fields' exact names
    exact = functools.reduce(lambda a, b: a + b, [F.map_contains_key("p", f).cast("int") for f in ALL_FIELDS])
    collide = F.size("p") > exact
    no_keys = F.array().cast("array<string>")
    same_case = F.concat(
        *[F.when(F.size(same_name(f)) > 1, F.map_keys(same_name(f))).otherwise(no_keys) for f in ALL_FIELDS]
    )
    rows = rows.select(
        SOURCE_FILE, "line", "raw", bad.alias("_bad"), *values, F.when(~bad & collide, same_case).alias("_same_case")
    )
    # a nested value reads back as its JSON text: only such lines are parsed again, with types
    maybe_nested = functools.reduce(lambda a, b: a | b, [F.col(f).startswith(c) for f in ALL_FIELDS for c in "[{"])
    typed = F.from_json("raw", "map<string,variant>", {"mode": "PERMISSIVE"})
    nested = F.filter(
        F.array(*[F.lit(f) for f in ALL_FIELDS]),
        lambda f: F.coalesce(F.schema_of_variant(_typed_field(typed, f)).rlike("^(ARRAY|OBJECT)"), F.lit(False)),
    )
    error = (
        F.when(F.col("_bad"), F.lit(vocab.MALFORMED_JSON))
        .when(F.size("_same_case") > 0, F.concat(F.lit(f"{vocab.AMBIGUOUS_COLUMNS}:"), F.array_join("_same_case", "+")))
        .when(
            maybe_nested & (F.size(nested) > 0),
            F.concat(F.lit(f"{vocab.NON_SCALAR_VALUE}:"), F.array_join(nested, "+")),
        )
    )
    return rows.select(SOURCE_FILE, "line", "raw", *ALL_FIELDS, error.alias("error"))


def _named(name: Any) -> Any:
    """The ``map_filter`` predicate keeping the keys equal to ``name`` (lower-case) ignoring case."""
    from pyspark.sql import functions as F

    return lambda k, _v: F.lower(k) == name


def _typed_field(typed: Any, name: Any) -> Any:
    """Field ``name`` (a column) of the ``map<string,variant>`` parse, matched as :func:`parse_json` does."""
    from pyspark.sql import functions as F

    return F.coalesce(F.try_element_at(typed, name), F.get(F.map_values(F.map_filter(typed, _named(name))), 0))


def _parquet_problem(path: str) -> str | None:
    """What makes a whole Parquet file unusable, from its schema (read with pyarrow), else None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, not fatal here
        log.warning("%s: unreadable Parquet file: %s", path, exc)
        return f"{vocab.UNREADABLE_PARQUET}:{type(exc).__name__}"
    cols = {n.lower(): n for n in schema.names}
    missing = [f for f in FIELDS if f not in cols]
    if missing:
        return f"{vocab.MISSING_COLUMNS}:{'+'.join(missing)}"
    ambiguous = _ambiguous(schema.names, among=None)  # Spark refuses the whole file
    if ambiguous:
        return ambiguous
    nested = [f for f in ALL_FIELDS if f in cols and pa.types.is_nested(schema.field(cols[f]).type)]
    return f"{vocab.NON_SCALAR_COLUMN}:{'+'.join(nested)}" if nested else None


def read_parquet_files(spark: Any, files: list[str], links: Path) -> tuple[Any, dict[str, str]]:
    """Read Parquet files one by one (their schemas may differ); ``line`` is the row index.

    Read through links in the folder ``links`` (see :func:`read_text_lines`). A file that
    cannot be read, or whose schema lacks a contract column, has two whose names differ
    only in case or a nested one among them, is returned as a file-level error, keyed by
    :func:`source_uri`.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    parts, errors = [], {}
    for path, link in zip(files, link_inputs(files, links, "p")):
        problem = _parquet_problem(path)
        if problem:
            errors[source_uri(path)] = problem
            continue
        try:
            df = spark.read.parquet(link)
            cols = {c.lower(): c for c in df.columns}
            present = [f for f in ALL_FIELDS if f in cols]  # raw: the file's own fields (no context: as before)
            raw = F.to_json(F.struct(*[F.col(cols[f]).alias(f) for f in present]))
            parts.append(
                df.select(
                    F.lit(source_uri(path)).alias(SOURCE_FILE),
                    (F.col("_metadata.row_index") + 1).alias("line"),
                    raw.alias("raw"),
                    *[
                        (F.col(cols[f]).cast("string") if f in cols else F.lit(None).cast("string")).alias(f)
                        for f in ALL_FIELDS
                    ],
                    F.lit(None).cast("string").alias("error"),
                )
            )
        except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, not fatal here
            log.warning("%s: Spark cannot read it: %s", path, str(exc).splitlines()[0] if str(exc) else exc)
            errors[source_uri(path)] = f"{vocab.UNREADABLE_PARQUET}:{java_cause(exc)}"
    return (functools.reduce(DataFrame.unionByName, parts) if parts else None), errors


def parse_files(spark: Any, by_format: dict[str, list[str]], links: Path) -> tuple[Any, dict[str, str]]:
    """Every row of the given raw files, parsed (see the module docstring), and the file-level errors.

    ``by_format``: paths by format, as :class:`RawFiles` has them. Returns the rows of all of
    them as one frame (None when no file gave a frame) and, keyed by :func:`source_uri`, the
    Parquet files that cannot be used at all. Read through links made in ``links``.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    parts = []
    text_files = by_format.get("csv", []) + by_format.get("json", [])
    if text_files:
        lines = read_text_lines(spark, text_files, links).cache()
        is_csv = F.lower(SOURCE_FILE).rlike(r"\.csv(\.gz)?$")
        if by_format.get("csv"):
            parsed = parse_csv(lines.filter(is_csv))
            if parsed is not None:
                parts.append(parsed)
        if by_format.get("json"):
            parts.append(parse_json(lines.filter(~is_csv)))
    errors: dict[str, str] = {}
    if by_format.get("parquet"):
        pq_rows, errors = read_parquet_files(spark, by_format["parquet"], links)
        if pq_rows is not None:
            parts.append(pq_rows)
    return (functools.reduce(DataFrame.unionByName, parts) if parts else None), errors
