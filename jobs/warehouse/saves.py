"""Saves: the tracks listeners saved to their library, from ``<data>/raw/saves/`` to the ``saves`` table.

The input (optional; contract ``raw_saves`` in :mod:`schemas.tables`): ``.csv``, ``.jsonl`` or
``.json`` files (JSON lines; any of them optionally ``.gz``) directly under ``raw/saves/`` or
directly inside a date folder there, found by the plays' rule
(:func:`jobs.warehouse.raw_plays.list_raw_files`: hidden, ``_``-prefixed and ``.crc`` names and
other folders ignored); another extension (Parquet included) is skipped with a warning and
listed in the metrics. Each row gives ``user_id, track_id, saved_at``, matched ignoring case
like the plays' columns; ``saved_at`` follows ``played_at``'s rules (ISO-8601, UTC when no
offset, or epoch milliseconds). A CSV file's first line is its header; a UTF-8 byte-order
mark, CRLF ends and blank lines are read as they are.

Each row is checked (:func:`validate_saves`; the first rule it breaks wins) and a bad one gets
a :data:`schemas.vocab.QUARANTINE_REASONS` code: ``malformed_csv``, ``malformed_json``,
``missing_columns:<cols>``, ``ambiguous_columns:<names>``, ``non_scalar_value:<cols>``,
``bad_encoding``, ``missing_user_id``, ``missing_track_id`` (the plays' words for "no id"),
``bad_saved_at``, ``saved_before_service_start`` (``ingest.service_start``),
``unknown_track_id`` (not in the catalog) and ``saved_in_future`` (over
``ingest.max_future_days`` past the cutoff). A save on or after the run week's cutoff is not
bad, only not visible yet (``after_cutoff``, counted). The good rows are de-duplicated on
``(user_id, track_id)``, keeping the first save (earliest ``saved_at``; then file and line).

Pure pandas: saves are small. The ``ingest`` stage (:mod:`jobs.ingest`) calls
:func:`ingest_saves`, adds the bad rows to the week's ``quarantine`` partition (file, line,
reason, raw text, as for plays) and publishes ``saves/week=W/`` with
:meth:`~jobs.warehouse.store.Warehouse.write` (an empty partition when there is no
``raw/saves/``). :func:`read_saves` reads a week back (an empty frame when the partition is
missing, e.g. a warehouse ingested before saves existed). Writes nothing itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.warehouse.quarantine import MAX_EPOCH_MS, MISSING_IDS
from jobs.warehouse.raw_plays import classify, list_raw_files, source_uri, under_raw_dir
from jobs.warehouse.store import Warehouse
from schemas import vocab
from schemas.columns import REASON, SAVED_AT, SOURCE_FILE, TRACK_ID, USER_ID

log = logging.getLogger("ingest")

FIELDS = (USER_ID, TRACK_ID, SAVED_AT)
ROW_COLUMNS = [SOURCE_FILE, "line", "raw", *FIELDS, "error"]
EPOCH = re.compile(r"-?\d{1,16}")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
BOM = b"\xef\xbb\xbf"


def saves_dir(data: Path) -> Path:
    """``<data>/raw/saves``: the optional folder of saves."""
    return Path(data) / "raw" / "saves"


# ----------------------------------------------------------------------------- reading


def _lines(path: str) -> list[bytes]:
    """The file's lines as bytes (gzip undone, a leading byte-order mark dropped; CR, LF and CRLF end a line)."""
    data = Path(path).read_bytes()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data.removeprefix(BOM).splitlines()


def _decode(line: bytes) -> tuple[str, bool]:
    """The line as text and whether it was valid UTF-8 (else decoded with replacement characters)."""
    try:
        return line.decode("utf-8"), True
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="replace"), False


def _ambiguous(names: list[str]) -> str | None:
    """``ambiguous_columns:a+A`` when two names of a field equal each other ignoring case."""
    lower = [n.lower() for n in names]
    dup = [n for n, low in zip(names, lower) if lower.count(low) > 1 and low in FIELDS]
    return f"{vocab.AMBIGUOUS_COLUMNS}:{'+'.join(dup)}" if dup else None


def _row(uri: str, line: int, raw: str, values: dict[str, str | None], error: str | None) -> dict[str, Any]:
    return {SOURCE_FILE: uri, "line": line, "raw": raw, **{f: values.get(f) for f in FIELDS}, "error": error}


def read_csv_file(path: str) -> list[dict[str, Any]]:
    """The rows of one CSV file (its first line the header), each with its 1-based line and its error."""
    uri, rows = source_uri(path), []
    lines = _lines(path)
    if not lines:
        return rows
    header, _ = _decode(lines[0])
    spelled = [h.strip() for h in next(csv.reader([header]), [])]
    names = [h.lower() for h in spelled]
    missing = [f for f in FIELDS if f not in names]
    header_error = f"{vocab.MISSING_COLUMNS}:{'+'.join(missing)}" if missing else _ambiguous(spelled)
    for number, line in enumerate(lines[1:], start=2):
        text, ok = _decode(line)
        if not text.strip():
            continue
        if header_error:
            rows.append(_row(uri, number, text, {}, header_error))
            continue
        fields = next(csv.reader([text]), [])
        if len(fields) != len(names):
            rows.append(_row(uri, number, text, {}, vocab.MALFORMED_CSV))
            continue
        values = {f: fields[names.index(f)] for f in FIELDS}
        rows.append(_row(uri, number, text, values, None if ok else vocab.BAD_ENCODING))
    return rows


def _as_text(value: Any) -> str | None:
    """A JSON scalar as the text validation reads (a whole float as an integer: 1.7e12 is epoch ms)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_json_file(path: str) -> list[dict[str, Any]]:
    """The rows of one JSON-lines file, each with its 1-based line and its error.

    Keys are matched as :func:`jobs.warehouse.raw_plays.parse_json` matches them: the exact
    name first, else the key equal to it ignoring case; two keys of a field differing only in
    case are ``ambiguous_columns``, an array or object as a field's value ``non_scalar_value``.
    """
    uri, rows = source_uri(path), []
    for number, line in enumerate(_lines(path), start=1):
        text, ok = _decode(line)
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            rows.append(_row(uri, number, text, {}, vocab.MALFORMED_JSON))
            continue
        same_case = [k for f in FIELDS for k in obj if k.lower() == f and sum(x.lower() == f for x in obj) > 1]
        if same_case:
            rows.append(_row(uri, number, text, {}, f"{vocab.AMBIGUOUS_COLUMNS}:{'+'.join(same_case)}"))
            continue
        raw_values = {
            f: obj[f] if f in obj else next((v for k, v in obj.items() if k.lower() == f), None) for f in FIELDS
        }
        nested = [f for f, v in raw_values.items() if isinstance(v, list | dict)]
        if nested:
            rows.append(_row(uri, number, text, {}, f"{vocab.NON_SCALAR_VALUE}:{'+'.join(nested)}"))
            continue
        values = {f: _as_text(v) for f, v in raw_values.items()}
        rows.append(_row(uri, number, text, values, None if ok else vocab.BAD_ENCODING))
    return rows


@dataclass
class SaveFiles:
    """The raw saves files to read and the ones skipped (another format) or ignored (hidden, other folders)."""

    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ignored: int = 0


def list_save_files(folder: Path) -> SaveFiles:
    """The files under ``raw/saves/`` (none when the folder does not exist), by the plays' layout rule."""
    if not folder.is_dir():
        return SaveFiles()
    found = list_raw_files(folder)
    for path in found.skipped + found.by_format["parquet"]:
        log.warning("skipping %s: not a saves file (.csv, .jsonl, .json, optionally .gz)", path)
    return SaveFiles(
        sorted(found.by_format["csv"] + found.by_format["json"]),
        sorted(found.skipped + found.by_format["parquet"]),
        len(found.ignored),
    )


def read_raw_saves(files: list[str]) -> pd.DataFrame:
    """Every row of ``files``: ``source_file, line, raw, user_id, track_id, saved_at`` (text) and ``error``."""
    rows: list[dict[str, Any]] = []
    for path in files:
        rows += read_csv_file(path) if classify(Path(path)) == "csv" else read_json_file(path)
    return pd.DataFrame(rows, columns=ROW_COLUMNS).astype({"line": "int64"})


# ----------------------------------------------------------------------------- validation


def parse_time(text: Any) -> pd.Timestamp | None:
    """Epoch milliseconds or ISO-8601 (UTC when no offset), truncated to microseconds; None when neither.

    The rules of ``played_at`` (:func:`jobs.warehouse.quarantine.validate`)."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if EPOCH.fullmatch(text):
        ms = int(text)
        return pd.Timestamp(ms, unit="ms", tz="UTC") if 0 <= ms < MAX_EPOCH_MS else None
    if not ISO.fullmatch(text):
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, OverflowError):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor("us")


def _missing(value: Any) -> bool:
    return not isinstance(value, str) or value.strip().lower() in MISSING_IDS


def validate_saves(
    rows: pd.DataFrame,
    track_ids: set[str],
    service_start: dt.datetime,
    cutoff: dt.datetime,
    max_future_days: int = 366,
) -> pd.DataFrame:
    """``rows`` (from :func:`read_raw_saves`) with ids trimmed, ``saved_at_ts`` and ``reason`` (None when good).

    The first failing rule wins; a save at or after ``cutoff`` gets ``after_cutoff`` (a later
    week's, not bad) unless it lies more than ``max_future_days`` past it (``saved_in_future``).
    """
    out = rows.copy()
    out[USER_ID] = out[USER_ID].map(lambda v: v.strip() if isinstance(v, str) else v)
    out[TRACK_ID] = out[TRACK_ID].map(lambda v: v.strip() if isinstance(v, str) else v)
    out["saved_at_ts"] = pd.Series([parse_time(v) for v in out[SAVED_AT]], index=out.index, dtype="object")
    start = pd.Timestamp(service_start)
    cut = pd.Timestamp(cutoff)
    future = cut + pd.Timedelta(days=max_future_days)

    def reason(r: Any) -> str | None:
        if r.error is not None and r.error == r.error:
            return r.error
        if _missing(r.user_id):
            return vocab.MISSING_USER_ID
        if _missing(r.track_id):
            return vocab.MISSING_TRACK_ID
        ts = r.saved_at_ts
        if ts is None:
            return vocab.BAD_SAVED_AT
        if ts < start:
            return vocab.SAVED_BEFORE_SERVICE_START
        if r.track_id not in track_ids:
            return vocab.UNKNOWN_TRACK_ID
        if ts >= future:
            return vocab.SAVED_IN_FUTURE
        if ts >= cut:
            return vocab.AFTER_CUTOFF
        return None

    out[REASON] = [reason(r) for r in out.itertuples(index=False)] if len(out) else pd.Series(dtype="object")
    return out


def first_saves(good: pd.DataFrame) -> pd.DataFrame:
    """One row per ``(user_id, track_id)``: the earliest save (then the first file and line), sorted by id."""
    ordered = good.assign(_ts=pd.to_datetime(good["saved_at_ts"], utc=True)).sort_values(
        ["_ts", SOURCE_FILE, "line"], kind="stable"
    )
    first = ordered.drop_duplicates([USER_ID, TRACK_ID], keep="first")
    frame = pd.DataFrame({USER_ID: first[USER_ID], TRACK_ID: first[TRACK_ID], SAVED_AT: first["_ts"]})
    return frame.sort_values([USER_ID, TRACK_ID], ignore_index=True)


# ----------------------------------------------------------------------------- the ingest step


def empty_saves() -> pd.DataFrame:
    """A ``saves`` frame without rows: ``user_id``, ``track_id`` (text) and ``saved_at`` (UTC)."""
    return pd.DataFrame(
        {
            USER_ID: pd.Series(dtype="object"),
            TRACK_ID: pd.Series(dtype="object"),
            SAVED_AT: pd.Series(dtype="datetime64[us, UTC]"),
        }
    )


@dataclass
class SavesResult:
    """What :func:`ingest_saves` found: the table's rows, the quarantined rows and the counts."""

    saves: pd.DataFrame
    quarantine: pd.DataFrame  # source_file, line, reason, raw (the quarantine contract's columns)
    metrics: dict[str, Any]


def ingest_saves(
    data: Path,
    track_ids: set[str],
    service_start: dt.datetime,
    cutoff: dt.datetime,
    max_future_days: int = 366,
) -> SavesResult:
    """Read, check and de-duplicate ``<data>/raw/saves/``; nothing there gives no rows.

    ``metrics``: ``files``, ``read`` (rows read), ``good`` (valid, before the cutoff),
    ``quarantined`` with ``reasons`` and ``by_file`` (path under ``raw/saves/``),
    ``after_cutoff``, ``duplicates_dropped``, ``written`` (rows of the table), ``skipped_files``
    and ``ignored_files``.
    """
    folder = saves_dir(data)
    found = list_save_files(folder)
    rows = validate_saves(read_raw_saves(found.files), track_ids, service_start, cutoff, max_future_days)
    reasons = rows[REASON]
    bad = rows[reasons.notna() & (reasons != vocab.AFTER_CUTOFF)]
    good = rows[reasons.isna()]
    saves = first_saves(good) if len(good) else empty_saves()
    by_file: dict[str, dict[str, int]] = {}
    for (path, why), n in bad.groupby([SOURCE_FILE, REASON]).size().items():
        by_file.setdefault(under_raw_dir(path, folder), {})[why] = int(n)
    metrics = {
        "files": len(found.files),
        "read": len(rows),
        "good": len(good),
        "quarantined": len(bad),
        "reasons": {k: int(v) for k, v in sorted(bad[REASON].value_counts().items())},
        "by_file": dict(sorted(by_file.items())),
        vocab.AFTER_CUTOFF: int((reasons == vocab.AFTER_CUTOFF).sum()),
        "duplicates_dropped": len(good) - len(saves),
        "written": len(saves),
        "skipped_files": found.skipped,
        "ignored_files": found.ignored,
    }
    if len(bad):
        log.warning("%d of %d saves quarantined: %s", len(bad), len(rows), metrics["reasons"])
    quarantine = bad[[SOURCE_FILE, "line", REASON, "raw"]].reset_index(drop=True)
    return SavesResult(saves, quarantine, metrics)


# ----------------------------------------------------------------------------- reading the table


def read_saves(warehouse: Path | str | Warehouse, week: str) -> pd.DataFrame:
    """Week ``week``'s ``saves`` partition: ``user_id, track_id, saved_at`` (UTC).

    An empty frame with those columns when the partition is missing (a warehouse ingested
    before saves existed reads as one without saves).
    """
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(Path(warehouse))
    frame = wh.read_optional("saves", week, columns=list(FIELDS))
    return empty_saves() if frame is None else frame[list(FIELDS)]
