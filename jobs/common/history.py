"""What listeners played before a week: the ``plays`` table up to the week's cutoff.

Reads ``<warehouse>/plays/`` (every play, skips included, partitioned by day) with pyarrow,
keeping only the plays before the week's cutoff. The merge uses it for what a listener
has heard (never recommended again) and who is owed a playlist; the validate job
recomputes both from the same plays to check the merge. Nothing is written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from jobs.common.io import MissingTableError
from jobs.common.paths import table_dir
from jobs.common.weeks import cutoff as week_cutoff


def read_plays(warehouse: Path, week: str) -> pd.DataFrame:
    """Every play before the week's cutoff (skips included): user_id, track_id, played_at."""
    plays = table_dir(warehouse, "plays")
    if not plays.exists():
        raise MissingTableError(f"{plays}: missing; run the ingest job for {week} first")
    dataset = ds.dataset(plays, format="parquet", partitioning="hive", exclude_invalid_files=True)
    cut = pa.scalar(week_cutoff(week), type=pa.timestamp("us", tz="UTC"))
    return dataset.to_table(
        columns=["user_id", "track_id", "played_at"], filter=ds.field("played_at") < cut
    ).to_pandas()


def heard_pairs(plays: pd.DataFrame) -> pd.DataFrame:
    """Distinct (user_id, track_id) of ``plays``: what each listener has heard, skips included."""
    return plays[["user_id", "track_id"]].drop_duplicates(ignore_index=True)


def read_heard(warehouse: Path, week: str) -> pd.DataFrame:
    """Distinct (user_id, track_id) played before the week's cutoff, skips included."""
    return heard_pairs(read_plays(warehouse, week))


def active_listeners(plays: pd.DataFrame, cut: dt.datetime, window_weeks: int) -> set[str]:
    """Listeners with any play (skips included) in the ``window_weeks`` before ``cut``: who is owed a list."""
    window_start = pd.Timestamp(cut - dt.timedelta(weeks=window_weeks))
    return set(plays.loc[(plays["played_at"] >= window_start) & (plays["played_at"] < pd.Timestamp(cut)), "user_id"])
