"""User-made playlists (optional input): ``<data>/raw/playlists/*``, read with pandas.

Contract (``raw_playlists`` in :mod:`schemas.tables`): ``playlist_id, owner, position,
track_id``, one row per song, in ``.csv`` (``.csv.gz``), ``.jsonl``/``.json`` (JSON lines,
``.gz`` too) or ``.parquet`` files directly under ``raw/playlists/`` (names starting with
``.`` or ``_`` are ignored). Column names are matched case-insensitively; ``owner`` may be
missing. No folder, or no file in it, means no playlists (``None``): they are optional.

A file that breaks the contract fails with :class:`PlaylistError` naming the file, the
line (CSV: the physical line, header = 1; JSON lines and Parquet: the row, from 1) and
what is wrong: a missing column, an empty ``playlist_id`` or ``track_id``, or the same
(playlist, position) twice. A row whose ``position`` is not a whole number from 1 to
:data:`MAX_POSITION` (``x``, ``0``, ``1.5``, ``inf``, ``1e30``) is set aside with reason
``bad_position``: counted, and its file, line and text kept for the first few
(``quarantined``, ``quarantine_examples``); the rest of its playlist is kept. Songs that
are not in the catalog are dropped and counted (``unknown_tracks``), as a catalog may be
smaller than the playlists that mention it. Reads only; writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from schemas.columns import PLAYLIST_ID, POSITION, REASON, SOURCE_FILE, TRACK_ID
from schemas.vocab import BAD_POSITION

REQUIRED = (PLAYLIST_ID, POSITION, TRACK_ID)
MAX_POSITION = 1_000_000  # far above any service's playlist length; int64 and float64 hold it exactly
EXAMPLES = 5  # set-aside rows quoted in the counts
SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")


class PlaylistError(ValueError):
    """A playlist file does not follow the ``raw_playlists`` contract; the message names the file and line."""


def playlist_files(data_root: Path) -> list[Path]:
    """The playlist files under ``<data_root>/raw/playlists/``, sorted (none when the folder is missing)."""
    folder = Path(data_root) / "raw" / "playlists"
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith((".", "_")) and p.name.lower().endswith(SUFFIXES)
    )


def _read(path: Path) -> tuple[pd.DataFrame, int]:
    """The file as text columns, lower-cased names, and the line number of its first row."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            frame, first = pd.read_parquet(path), 1
        elif ".json" in name:
            frame, first = pd.read_json(path, lines=True, dtype=False, convert_dates=False), 1
        else:
            frame, first = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig"), 2
    except Exception as exc:  # noqa: BLE001 - any parser error becomes one clear line
        raise PlaylistError(f"{path}: cannot be read as a playlist file: {exc}") from None
    lower = [str(c).strip().lower() for c in frame.columns]
    if len(set(lower)) != len(lower):
        raise PlaylistError(f"{path}: two columns differ only in case: {list(frame.columns)}")
    frame.columns = lower
    return frame, first


def read_file(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One playlist file checked against the contract: playlist_id, owner, position (int64), track_id,
    and the rows set aside (source_file, line, reason, raw: the position as written)."""
    frame, first = _read(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise PlaylistError(f"{path}: missing columns {missing}; has {list(frame.columns)}")
    out = pd.DataFrame(index=frame.index)
    for col in (PLAYLIST_ID, TRACK_ID, "owner"):
        values = frame[col] if col in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        values = values.astype("string").str.strip()
        empty = values.isna() | (values == "")
        if col != "owner" and empty.any():
            line = first + int(empty.to_numpy().nonzero()[0][0])
            raise PlaylistError(f"{path}: line {line}: empty {col}")
        out[col] = values.mask(empty, None)
    text = frame[POSITION].astype("string").str.strip()
    position = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = ~((position >= 1) & (position <= MAX_POSITION) & (position == position.round()))  # NaN and inf fail
    lines = pd.Series(range(first, first + len(frame)), index=frame.index)
    aside = pd.DataFrame(
        {SOURCE_FILE: str(path), "line": lines[bad], REASON: BAD_POSITION, "raw": text[bad].fillna("")}
    )
    out, position, lines = out[~bad], position[~bad], lines[~bad]
    out[POSITION] = position.astype("int64")
    dup = out.duplicated([PLAYLIST_ID, POSITION])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise PlaylistError(
            f"{path}: line {lines.iloc[i]}: playlist {out['playlist_id'].iloc[i]!r} has position "
            f"{out['position'].iloc[i]} twice"
        )
    return out[[PLAYLIST_ID, "owner", POSITION, TRACK_ID]].reset_index(drop=True), aside.reset_index(drop=True)


def read_playlists(data_root: Path, catalog_ids: set[str]) -> tuple[pd.DataFrame | None, dict[str, int]]:
    """Every playlist file, songs outside the catalog dropped; ``None`` when there are no files.

    Returns the rows (playlist_id, owner, position, track_id) and counts for the run metrics
    (files, playlists, rows, unknown_tracks, and ``quarantined`` by reason with the first
    ``quarantine_examples`` when rows were set aside). A playlist id found in two files is one
    playlist; its (playlist, position) pairs must still be unique.
    """
    files = playlist_files(data_root)
    if not files:
        return None, {"files": 0}
    read = [read_file(p) for p in files]
    rows = pd.concat([r for r, _ in read], ignore_index=True)
    aside = pd.concat([a for _, a in read], ignore_index=True)
    dup = rows.duplicated([PLAYLIST_ID, POSITION])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise PlaylistError(
            f"{Path(data_root) / 'raw' / 'playlists'}: playlist {rows['playlist_id'].iloc[i]!r} has position "
            f"{rows['position'].iloc[i]} in two files"
        )
    known = rows[TRACK_ID].isin(catalog_ids)
    kept = rows[known].reset_index(drop=True)
    counts = {
        "files": len(files),
        "playlists": int(kept[PLAYLIST_ID].nunique()),
        "rows": len(kept),
        "unknown_tracks": int((~known).sum()),
    }
    if len(aside):
        counts["quarantined"] = {str(k): int(v) for k, v in aside[REASON].value_counts().sort_index().items()}
        counts["quarantine_examples"] = aside.head(EXAMPLES).to_dict("records")
    return kept, counts
