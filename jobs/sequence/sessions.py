"""Listening sessions and word2vec documents: pure functions over DataFrames.

A *session* is a run of one listener's plays with no pause longer than ``gap_minutes``
between the end of a play (``played_at + ms_played``) and the start of the next. Skips
(``ms_played < min_ms_played``) stay in the session (they keep it alive and are counted,
``skipped = True``) but they are not listens: they never enter a document, the RNN's
histories or the top-N counts. A *document* is the ordered listens of one session, or
the songs of one user-made playlist by position, restricted to the top N songs; only
documents of at least two songs are kept (a lone song has no context).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.warehouse.weeks import utc_nanoseconds
from schemas.columns import MS_PLAYED, PLAYED_AT, PLAYLIST_ID, POSITION, TRACK_ID, USER_ID


def listener_time_order(plays: pd.DataFrame) -> np.ndarray:
    """The row order of a stable sort of ``plays`` by listener, time and track id (``sort_values`` on the
    three columns, on integer codes: sorted codes keep the ids' order)."""
    return np.lexsort(
        (
            pd.factorize(plays[TRACK_ID], sort=True)[0],
            utc_nanoseconds(plays[PLAYED_AT]),
            pd.factorize(plays[USER_ID], sort=True)[0],
        )
    )


def cut_sessions(plays: pd.DataFrame, gap_minutes: float, min_ms_played: int) -> pd.DataFrame:
    """``plays`` (user_id, track_id, played_at, ms_played) with ``session``, ``position`` and ``skipped``.

    Rows are sorted by listener, start time and track id. ``session`` numbers the sessions
    0, 1, ... in that order (unique over all listeners); ``position`` is the play's place in
    its session, from 0, skips included; ``skipped`` is ``ms_played < min_ms_played``. A new
    session starts at a listener's first play and whenever the pause since the previous
    play ended is longer than ``gap_minutes`` (a pause of exactly the limit does not split).
    """
    out = plays[[USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED]]
    out = out.iloc[listener_time_order(out)].reset_index(drop=True)
    start = pd.to_datetime(out[PLAYED_AT], utc=True)
    end = start + pd.to_timedelta(out[MS_PLAYED].astype("int64"), unit="ms")
    same_user = out[USER_ID].eq(out[USER_ID].shift())
    pause = start - end.shift()
    new = ~same_user | (pause > pd.Timedelta(minutes=gap_minutes))
    out["session"] = np.cumsum(new.to_numpy()) - 1
    out[POSITION] = out.groupby("session").cumcount()
    out["skipped"] = out[MS_PLAYED] < min_ms_played
    return out


def top_tracks(listens: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` most listened tracks of ``listens`` (one row per listen), ties by track id."""
    counts = listens.groupby(TRACK_ID).size().reset_index(name="n")
    counts = counts.sort_values(["n", TRACK_ID], ascending=[False, True])
    return counts[TRACK_ID].head(n).tolist()


def session_documents(sessions: pd.DataFrame, keep: set[str]) -> list[list[str]]:
    """Each session's listens (not skips) among ``keep``, in order; sessions with fewer than 2 such songs dropped."""
    listens = sessions[~sessions["skipped"] & sessions[TRACK_ID].isin(keep)]
    order = np.argsort(listens["session"].to_numpy(), kind="stable")
    return _documents(listens["session"].to_numpy()[order], listens[TRACK_ID].to_numpy()[order])


def playlist_documents(playlists: pd.DataFrame | None, keep: set[str]) -> list[list[str]]:
    """Each playlist's songs among ``keep`` by position (playlists by id); fewer than 2 songs: dropped."""
    if playlists is None or playlists.empty:
        return []
    rows = playlists[playlists[TRACK_ID].isin(keep)].sort_values([PLAYLIST_ID, POSITION], kind="stable")
    return _documents(pd.factorize(rows[PLAYLIST_ID], sort=True)[0], rows[TRACK_ID].to_numpy())


def _documents(keys: np.ndarray, tracks: np.ndarray) -> list[list[str]]:
    """The runs of equal ``keys`` (sorted) as lists of their ``tracks``, in order; runs of fewer than 2 dropped."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], len(keys)].astype(np.int64)
    return [tracks[a:b].tolist() for a, b in zip(starts, ends, strict=True) if b - a >= 2]


def session_stats(sessions: pd.DataFrame) -> dict[str, float]:
    """Counts for the run metrics: sessions, listens and skips, mean listens per session."""
    listens = int((~sessions["skipped"]).sum())
    n = int(sessions["session"].nunique()) if len(sessions) else 0
    return {
        "sessions": n,
        "listens": listens,
        "skips": int(sessions["skipped"].sum()),
        "listens_per_session": round(listens / n, 2) if n else 0.0,
    }
