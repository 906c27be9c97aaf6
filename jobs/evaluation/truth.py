"""A week's truth: what listeners played for the first time during week ``W``.

Every judge of a week's playlists (the ``evaluate`` stage, ``make tune``, ``make eval-real``
and the studies) scores against the same truth: a *counted* play (``ms_played >=
als.min_ms_played``) during ``W`` of a track the listener never played before ``W`` (a skip
before ``W`` counts as heard, as it does for the playlists). Pure functions over a plays
frame (``user_id, track_id, played_at, ms_played``).
"""

from __future__ import annotations

import pandas as pd

from jobs.warehouse.weeks import cutoff
from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID


def week_plays(plays: pd.DataFrame, week: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(plays before week, plays during week)``: the week is ``[cutoff, cutoff + 7 days)``."""
    cut = pd.Timestamp(cutoff(week))
    before = plays[plays[PLAYED_AT] < cut]
    during = plays[(plays[PLAYED_AT] >= cut) & (plays[PLAYED_AT] < cut + pd.Timedelta(days=7))]
    return before, during


def counted_pairs(during: pd.DataFrame, min_ms: int) -> pd.DataFrame:
    """The distinct ``(user_id, track_id)`` pairs with a counted play, in first-seen order."""
    return during[during[MS_PLAYED] >= min_ms][[USER_ID, TRACK_ID]].drop_duplicates()


def first_time_pairs(during: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """The pairs of ``during`` (distinct pairs) never played in ``before``, in their order."""
    heard = before[[USER_ID, TRACK_ID]].drop_duplicates()
    merged = during.merge(heard, on=[USER_ID, TRACK_ID], how="left", indicator=True)
    return merged[merged["_merge"] == "left_only"][[USER_ID, TRACK_ID]].reset_index(drop=True)


def week_truth(plays: pd.DataFrame, week: str, min_ms: int) -> tuple[pd.DataFrame, dict, dict]:
    """``(plays before the week, heard per listener, first-time tracks per listener with history)``.

    Only listeners with a play before the week have truth: the others had no playlist to judge.
    """
    before, during = week_plays(plays, week)
    heard = before.groupby(USER_ID)[TRACK_ID].agg(set).to_dict()
    firsts = first_time_pairs(counted_pairs(during, min_ms), before)
    firsts = firsts[firsts[USER_ID].isin(heard)]
    truth = firsts.groupby(USER_ID)[TRACK_ID].agg(set).to_dict()
    return before, heard, truth
