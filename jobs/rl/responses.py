"""What each play and each Discover Weekly exposure answered, and where a play sat in its session. Pure.

Three responses (the user model's outputs, :data:`RESPONSES`):

* ``skip``: played for less than ``listen_ms`` (or its context ends in ``.skipped``);
* ``listen``: played for ``listen_ms`` or more (a stream);
* ``complete``: played for ``complete_share`` of the track's duration or more, or saved.

An exposure nobody played has none of them (not looked at, or looked past).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from jobs.warehouse.weeks import utc_nanoseconds
from schemas import vocab
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, POSITION, SAVED_AT, TRACK_ID, USER_ID

RESPONSES = ("skip", "listen", "complete")
SESSION_GAP = pd.Timedelta(minutes=30)  # a longer pause starts a new session
MAX_PLACE = 30  # organic places past it count as the last place


def play_responses(
    ms_played: np.ndarray, duration_ms: np.ndarray, skipped: np.ndarray, listen_ms: float, complete_share: float
) -> np.ndarray:
    """``(n, 3)`` 0/1 responses of ``n`` plays (columns :data:`RESPONSES`); an unknown duration never completes."""
    ms = np.asarray(ms_played, dtype=np.float64)
    duration = np.asarray(duration_ms, dtype=np.float64)
    listen = (ms >= listen_ms) & ~np.asarray(skipped, dtype=bool)
    complete = listen & (duration > 0) & (ms >= complete_share * np.where(duration > 0, duration, np.inf))
    return np.column_stack([~listen, listen, complete]).astype(np.float32)


def is_skipped(context: pd.Series | None, n: int) -> np.ndarray:
    """Plays whose context says the listener skipped them."""
    if context is None:
        return np.zeros(n, dtype=bool)
    return context.fillna("").str.endswith(vocab.SKIPPED_CONTEXT_SUFFIX).to_numpy()


def session_places(plays: pd.DataFrame, responses: np.ndarray) -> pd.DataFrame:
    """Each play's place in its listener's session (1-based, a pause over 30 minutes starts a new one; capped at
    :data:`MAX_PLACE`) and the shares of listens and skips among the session's earlier plays.

    ``plays`` has ``user_id`` and ``played_at``; ``responses`` its rows' :func:`play_responses`. The result
    is aligned with ``plays``' index."""
    n = len(plays)
    user = pd.factorize(plays[USER_ID])[0]
    when = utc_nanoseconds(plays[PLAYED_AT])
    order = np.lexsort((when, user))  # each listener's plays together, in time order (stable)
    u, w = user[order], when[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (u[1:] != u[:-1]) | (np.diff(w) > SESSION_GAP.value)
    starts = np.flatnonzero(new)
    session = np.cumsum(new) - 1  # each sorted play's session, 0-based
    place = np.arange(n) - starts[session] + 1

    def earlier(x: np.ndarray) -> np.ndarray:  # the sum of x over the session's earlier plays
        total = np.cumsum(x, dtype=np.float64)
        return total - (total - x)[starts][session] - x

    r = np.asarray(responses, dtype=np.float64)[order]
    listens, skips = earlier(r[:, 1]), earlier(r[:, 0])
    before = np.maximum(place - 1, 1)
    out = pd.DataFrame(
        {
            POSITION: np.minimum(place, MAX_PLACE),
            "prev_listen": np.where(place > 1, listens / before, 0.0),
            "prev_skip": np.where(place > 1, skips / before, 0.0),
        },
        index=plays.index[order],
    )
    return out.loc[plays.index]


def exposure_responses(
    exposures: pd.DataFrame,
    plays: pd.DataFrame,
    saves: pd.DataFrame | None,
    week_start: dt.datetime,
    duration_ms: pd.Series,
    listen_ms: float,
    complete_share: float,
) -> np.ndarray:
    """``(n, 3)`` responses of one week's exposures: from the longest play of the shown track by its listener in
    the 7 days from ``week_start`` (only plays with ``context = discover_weekly`` when the listener has any
    that week), a save that week counting as a completion. ``duration_ms``: track_id -> duration."""
    end = week_start + dt.timedelta(days=7)
    when = pd.to_datetime(plays[PLAYED_AT], utc=True)
    week = plays[(when >= week_start) & (when < end)]
    skipped = is_skipped(week[CONTEXT] if CONTEXT in week.columns else None, len(week))
    week = week.assign(_skipped=skipped)
    if CONTEXT in week.columns:
        from_dw = (week[CONTEXT] == vocab.DISCOVER_WEEKLY_CONTEXT).to_numpy()
        attributed = set(week.loc[from_dw, USER_ID])
        week = week[from_dw | ~week[USER_ID].isin(attributed).to_numpy()]
    best = week.sort_values(MS_PLAYED).drop_duplicates([USER_ID, TRACK_ID], keep="last")
    best = best.set_index([USER_ID, TRACK_ID])
    keys = pd.MultiIndex.from_arrays([exposures[USER_ID], exposures[TRACK_ID]])
    ms = best[MS_PLAYED].reindex(keys).to_numpy(dtype=np.float64)
    played = ~np.isnan(ms)
    skip_flag = best["_skipped"].reindex(keys, fill_value=False).to_numpy(dtype=bool)
    duration = duration_ms.reindex(exposures[TRACK_ID]).to_numpy(dtype=np.float64)
    out = play_responses(np.nan_to_num(ms), np.nan_to_num(duration), skip_flag, listen_ms, complete_share)
    out[~played] = 0.0
    if saves is not None and len(saves):
        at = pd.to_datetime(saves[SAVED_AT], utc=True)
        kept = saves[(at >= week_start) & (at < end)]
        saved = pd.MultiIndex.from_arrays([kept[USER_ID], kept[TRACK_ID]])
        hit = keys.isin(saved)
        out[hit, 1] = 1.0
        out[hit, 2] = 1.0
        out[hit, 0] = 0.0
    return out


def list_history(exposures: pd.DataFrame, responses: np.ndarray) -> pd.DataFrame:
    """Per exposure, the shares of listens and skips at the earlier places of its list (same listener and week)."""
    frame = pd.DataFrame(
        {"g": exposures[USER_ID].astype(str) + "/" + exposures["week"].astype(str), POSITION: exposures[POSITION]}
    )
    frame["skip"], frame["listen"] = responses[:, 0], responses[:, 1]
    frame = frame.sort_values(["g", POSITION], kind="stable")
    before = frame.groupby("g").cumcount().to_numpy()
    listens = frame.groupby("g")["listen"].cumsum().to_numpy() - frame["listen"].to_numpy()
    skips = frame.groupby("g")["skip"].cumsum().to_numpy() - frame["skip"].to_numpy()
    out = pd.DataFrame(
        {
            "prev_listen": np.where(before > 0, listens / np.maximum(before, 1), 0.0),
            "prev_skip": np.where(before > 0, skips / np.maximum(before, 1), 0.0),
        },
        index=frame.index,
    )
    return out.loc[exposures.index]
