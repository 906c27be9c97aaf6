"""The raw play logs of the sample world: a few rows broken on purpose, one file per day.

``corrupt_rows`` turns a share of the clean plays into the kinds of bad input real logs
carry (a missing user id, an unreadable time, a negative duration, an unknown track, a
duplicate) and says which rows it touched (``truth/injected_bad_rows.csv``).
``write_raw_plays`` writes ``raw/plays/YYYY-MM-DD.{csv,jsonl,parquet}``, the three formats
in turn: CSV with ISO times, JSON lines and Parquet with epoch milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID


def corrupt_rows(plays: pd.DataFrame, share: float, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn a few rows into the kinds of bad input real logs carry; returns (rows, what was done)."""
    n_bad = int(len(plays) * share)
    if n_bad == 0:
        return plays, pd.DataFrame(columns=["row", "kind"])
    out = plays.astype({PLAYED_AT: object, MS_PLAYED: object}).copy()
    idx = rng.choice(len(out), n_bad, replace=False)
    kinds = np.array(["missing_user_id", "bad_played_at", "negative_ms_played", "unknown_track_id", "duplicate"])
    chosen = kinds[rng.integers(0, len(kinds), n_bad)]
    dups = []
    for i, kind in zip(idx, chosen, strict=True):
        if kind == "missing_user_id":
            out.at[i, USER_ID] = ""
        elif kind == "bad_played_at":
            out.at[i, PLAYED_AT] = "yesterday evening"
        elif kind == "negative_ms_played":
            out.at[i, MS_PLAYED] = -int(rng.integers(1, 100_000))
        elif kind == "unknown_track_id":
            out.at[i, TRACK_ID] = f"t9{int(rng.integers(0, 99999)):05d}x"
        else:
            dups.append(out.iloc[[i]])
    if dups:
        out = pd.concat([out, *dups]).sort_index(kind="stable").reset_index(drop=True)
    return out, pd.DataFrame({"row": idx, "kind": chosen})


def _fmt_time(value: object, style: str) -> object:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if style == "iso" else int(ts.value // 1_000_000)
    return value


def write_raw_plays(plays: pd.DataFrame, out: Path) -> list[str]:
    """One file per day, formats in turn: CSV (ISO times), JSON lines (epoch ms), Parquet (epoch ms)."""
    out.mkdir(parents=True, exist_ok=True)
    days = pd.to_datetime(plays[PLAYED_AT].map(lambda v: v if isinstance(v, np.datetime64 | pd.Timestamp) else pd.NaT))
    # bad timestamps stay in the file of the row before them
    day_str = days.dt.strftime("%Y-%m-%d").replace("NaT", None).ffill().bfill()
    files = []
    for i, (day, chunk) in enumerate(plays.groupby(day_str, sort=True)):
        fmt = ("csv", "jsonl", "parquet")[i % 3]
        path = out / f"{day}.{fmt}"
        if fmt == "csv":
            c = chunk.assign(played_at=chunk[PLAYED_AT].map(lambda v: _fmt_time(v, "iso")))
            c.to_csv(path, index=False, lineterminator="\n")
        elif fmt == "jsonl":
            c = chunk.assign(played_at=chunk[PLAYED_AT].map(lambda v: _fmt_time(v, "ms")))
            with path.open("w", encoding="utf-8") as fh:
                for rec in c.to_dict("records"):
                    fh.write(json.dumps(rec) + "\n")
        else:
            c = chunk.assign(played_at=chunk[PLAYED_AT].map(lambda v: _fmt_time(v, "ms")))
            pq.write_table(pa.Table.from_pandas(c.astype(str), preserve_index=False), path)
        files.append(path.name)
    return files
