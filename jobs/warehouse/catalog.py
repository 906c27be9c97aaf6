"""Reading the catalog (``catalog/tracks.*``, ``catalog/artists.*``) into pandas.

The catalog is small next to the play logs, so every job reads it with pandas and
pyarrow (Spark jobs broadcast it). Accepted formats: ``.csv``, ``.jsonl``/``.json``
(JSON lines) and ``.parquet``. Columns are checked against the contracts in
:mod:`schemas.tables`; a missing column, a table without rows, an empty required value,
a duplicate id or a ``release_date`` that is not an ISO-8601 date (``YYYY-MM-DD``; a bare
``YYYY`` or ``YYYY-MM`` is its first day, a time after the date is ignored) raises
:class:`CatalogError` naming the file and the line (a CSV line counts every physical
line, so a quoted value holding a newline moves the lines after it).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pandas as pd

from schemas.columns import ARTIST_ID
from schemas.tables import table

FORMATS = (".csv", ".jsonl", ".json", ".parquet")


class CatalogError(ValueError):
    """The catalog is missing or does not follow its contract."""


def find_table_file(data_root: Path, name: str) -> Path:
    """The single ``catalog/<name>.<fmt>`` file under ``data_root``."""
    found = [Path(data_root) / "catalog" / f"{name}{ext}" for ext in FORMATS]
    found = [p for p in found if p.exists()]
    if not found:
        raise CatalogError(f"{Path(data_root) / 'catalog'}: no {name}.csv, .jsonl, .json or .parquet")
    if len(found) > 1:
        raise CatalogError(f"{Path(data_root) / 'catalog'}: {name} is given twice: {[p.name for p in found]}")
    return found[0]


ISO_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ].*)?)?)?")


def _read_any(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """Read a file as strings; returns the frame and the line number (row, for Parquet) of each row."""
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
        return df, list(range(1, len(df) + 1))
    if path.suffix in (".jsonl", ".json"):
        df = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        return df, list(range(1, len(df) + 1))
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lines = _csv_record_lines(path)
    return df, lines if len(lines) == len(df) else list(range(2, len(df) + 2))


def _csv_record_lines(path: Path) -> list[int]:
    """The line each data record of a CSV file starts on (blank lines skipped, as pandas does)."""
    starts, line = [], 1
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        for record in reader:
            if len(record) > 1 or (record and record[0].strip()):
                starts.append(line)
            line = reader.line_num + 1
    return starts[1:]  # the first is the header


def _iso_date(value: object) -> str | None:
    """``value`` as ``YYYY-MM-DD``, None when empty; ValueError when it is no ISO-8601 date."""
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, dt.date):  # date, datetime and pandas Timestamp (Parquet)
        return value.strftime("%Y-%m-%d")
    text = str(value).strip() if isinstance(value, str) else None
    if text == "":
        return None
    match = ISO_DATE.fullmatch(text or "")
    if not match:
        raise ValueError(value)
    year, month, day = (int(g) if g else 1 for g in match.groups())
    return dt.date(year, month, day).isoformat()  # ValueError for 2026-02-30


def _dates(series: pd.Series, path: Path, column: str, lines: list[int]) -> pd.Series:
    """Parse a date column; any value that is no ISO date is a CatalogError naming its lines."""
    out, bad = [], []
    for i, value in enumerate(series.tolist()):
        try:
            out.append(_iso_date(value))
        except ValueError:
            out.append(None)
            bad.append(i)
    if bad:
        shown = ", ".join(f"line {lines[i]}: {series.iloc[i]!r}" for i in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise CatalogError(f"{path}: {len(bad)} {column} value(s) are not ISO-8601 dates (YYYY-MM-DD): {shown}{more}")
    return pd.to_datetime(pd.Series(out, index=series.index, dtype=object), format="%Y-%m-%d").dt.date


def read_catalog_table(data_root: Path, name: str) -> pd.DataFrame:
    """Read and validate catalog table ``name`` ("tracks" or "artists")."""
    path = find_table_file(data_root, name)
    contract = table(name)
    try:
        df, lines = _read_any(path)
    except Exception as exc:  # noqa: BLE001 - any parser error becomes a clear one
        raise CatalogError(f"{path}: cannot be read: {exc}") from None
    missing = [c.name for c in contract.columns if c.name not in df.columns and not c.nullable]
    if missing:
        raise CatalogError(f"{path}: missing required columns {missing}; has {list(df.columns)}")
    if df.empty:
        raise CatalogError(f"{path}: no {name}: the file has no rows")
    out = pd.DataFrame(index=df.index)
    for col in contract.columns:
        series = df[col.name] if col.name in df.columns else pd.Series([None] * len(df), index=df.index)
        if col.type == "string":
            series = series.astype("string").str.strip()
            series = series.mask(series == "", pd.NA)
        elif col.type == "date":
            series = _dates(series, path, col.name, lines)
        elif col.type == "int64":
            series = pd.to_numeric(series.replace("", None), errors="coerce").astype("Int64")
        if not col.nullable and series.isna().any():
            bad = int(series.isna().to_numpy().nonzero()[0][0])
            raise CatalogError(f"{path}: line {lines[bad]}: empty {col.name}")
        out[col.name] = series
    key = contract.columns[0].name
    dup = out[key].duplicated()
    if dup.any():
        bad = int(dup.to_numpy().nonzero()[0][0])
        raise CatalogError(f"{path}: line {lines[bad]}: duplicate {key} {out[key].iloc[bad]!r}")
    return out.reset_index(drop=True)


def read_catalog(data_root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tracks and artists; every track's artist must exist."""
    tracks = read_catalog_table(data_root, "tracks")
    artists = read_catalog_table(data_root, "artists")
    unknown = ~tracks[ARTIST_ID].isin(artists[ARTIST_ID])
    if unknown.any():
        row = tracks[unknown].iloc[0]
        raise CatalogError(
            f"{find_table_file(data_root, 'tracks')}: {int(unknown.sum())} tracks name an unknown artist, "
            f"first {row['track_id']!r} -> {row['artist_id']!r}"
        )
    return tracks, artists
