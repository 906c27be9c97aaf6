"""Reading the catalog (``catalog/tracks.*``, ``catalog/artists.*``) into pandas.

The catalog is small next to the play logs, so every job reads it with pandas and
pyarrow (Spark jobs broadcast it). Accepted formats: ``.csv``, ``.jsonl``/``.json``
(JSON lines) and ``.parquet``. Columns are checked against the contracts in
:mod:`schemas.tables`; a missing column, an empty or duplicate id raises
:class:`CatalogError` naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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


def _read_any(path: Path) -> tuple[pd.DataFrame, int]:
    """Read a file as strings; returns the frame and the line number of its first row."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path), 1
    if path.suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=True, dtype=False, convert_dates=False), 1
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig"), 2


def read_catalog_table(data_root: Path, name: str) -> pd.DataFrame:
    """Read and validate catalog table ``name`` ("tracks" or "artists")."""
    path = find_table_file(data_root, name)
    contract = table(name)
    try:
        df, first_line = _read_any(path)
    except Exception as exc:  # noqa: BLE001 - any parser error becomes a clear one
        raise CatalogError(f"{path}: cannot be read: {exc}") from None
    missing = [c.name for c in contract.columns if c.name not in df.columns and not c.nullable]
    if missing:
        raise CatalogError(f"{path}: missing required columns {missing}; has {list(df.columns)}")
    out = pd.DataFrame(index=df.index)
    for col in contract.columns:
        series = df[col.name] if col.name in df.columns else pd.Series([None] * len(df), index=df.index)
        if col.type == "string":
            series = series.astype("string").str.strip()
            series = series.mask(series == "", pd.NA)
        elif col.type == "date":
            series = pd.to_datetime(series.replace("", None), errors="coerce").dt.date
        elif col.type == "int64":
            series = pd.to_numeric(series.replace("", None), errors="coerce").astype("Int64")
        if not col.nullable and series.isna().any():
            bad = int(series.isna().to_numpy().nonzero()[0][0])
            raise CatalogError(f"{path}: line {bad + first_line}: empty {col.name}")
        out[col.name] = series
    key = contract.columns[0].name
    dup = out[key].duplicated()
    if dup.any():
        bad = int(dup.to_numpy().nonzero()[0][0])
        raise CatalogError(f"{path}: line {bad + first_line}: duplicate {key} {out[key].iloc[bad]!r}")
    return out.reset_index(drop=True)


def read_catalog(data_root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tracks and artists; every track's artist must exist."""
    tracks = read_catalog_table(data_root, "tracks")
    artists = read_catalog_table(data_root, "artists")
    unknown = ~tracks["artist_id"].isin(artists["artist_id"])
    if unknown.any():
        row = tracks[unknown].iloc[0]
        raise CatalogError(
            f"{find_table_file(data_root, 'tracks')}: {int(unknown.sum())} tracks name an unknown artist, "
            f"first {row['track_id']!r} -> {row['artist_id']!r}"
        )
    return tracks, artists
