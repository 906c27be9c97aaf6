"""What the listener models learn from (:mod:`jobs.rl.history`), against known answers: the content
model's pairs, the weeks of plays, and the per-week listener and track counts.

The ISO week of each play is taken from its UTC day: a play on Sunday 23:59 belongs to that
week, one on Monday 00:00 to the next, and the last days of 2026 to 2026-W53.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.config import build_config
from jobs.rl.history import History, _days, _week_labels
from schemas.columns import MS_PLAYED, PLAYED_AT, SAVED_AT, TRACK_ID, USER_ID


def _history(plays: pd.DataFrame, saves: pd.DataFrame) -> History:
    """A History over in-memory tables (no warehouse): the fields ``content_pairs`` reads."""
    h = History.__new__(History)
    h.rl = build_config({}).rl
    h.first = "2026-W48"
    h.plays = plays.assign(**{PLAYED_AT: pd.to_datetime(plays[PLAYED_AT], utc=True)})
    h.saves = saves
    h.duration = pd.Series({"a": 200_000.0, "b": 200_000.0, "c": 200_000.0})
    h.attributes = pd.DataFrame(
        {
            TRACK_ID: ["a", "b"],
            "tempo_bpm": [120.0, 90.0],
            "key": ["C", "A"],
            "mode": ["major", "minor"],
            "loudness_lufs": [-9.0, -12.0],
            "time_signature": [4, 3],
        }
    )
    h.audio_vectors = {"a": np.ones(4, dtype=np.float32) / 2, "b": np.ones(4, dtype=np.float32) / 2}
    h.exposures, h._exposure_rows = pd.DataFrame(), None
    h._context, h._items, h._codes = {}, {}, None
    return h


def test_week_labels_follow_iso_weeks_of_utc_days() -> None:
    stamps = pd.to_datetime(
        pd.Series(
            [
                "2026-11-29T23:59:59+00:00",  # Sunday: 2026-W48
                "2026-11-30T00:00:00+00:00",  # Monday: 2026-W49
                "2026-11-30T00:30:00+01:00",  # Sunday 23:30 UTC: 2026-W48
                "2026-12-31T12:00:00+00:00",  # 2026 has 53 ISO weeks
                "2027-01-04T08:00:00+00:00",  # first Monday of 2027-W01
            ]
        ),
        utc=True,
    )
    assert list(_week_labels(_days(stamps))) == ["2026-W48", "2026-W49", "2026-W48", "2026-W53", "2027-W01"]
    assert _week_labels(np.array([], dtype=np.int64)).shape == (0,)


def test_content_pairs_take_the_first_week_and_the_maxima_of_each_pair() -> None:
    plays = pd.DataFrame(
        {
            USER_ID: ["u1", "u1", "u1", "u2", "u2", "u1", "u2"],
            TRACK_ID: ["a", "a", "b", "a", "c", "a", "b"],
            PLAYED_AT: [
                "2026-12-07T10:00:00Z",  # u1/a in W50: a skip (10 s)
                "2026-11-30T00:00:00Z",  # u1/a in W49: a full play
                "2026-11-29T23:59:00Z",  # u1/b in W48: a listen, not complete
                "2026-12-31T09:00:00Z",  # u2/a in W53: complete
                "2026-12-01T09:00:00Z",  # u2/c: no audio, never a pair
                "2026-11-20T09:00:00Z",  # before the history weeks: ignored
                "2026-12-02T09:00:00Z",  # u2/b: skipped, then saved in W51
            ],
            MS_PLAYED: [10_000, 190_000, 60_000, 200_000, 200_000, 200_000, 5_000],
        }
    )
    saves = pd.DataFrame({USER_ID: ["u2"], TRACK_ID: ["b"], SAVED_AT: ["2026-12-14T10:00:00Z"]})
    pairs = _history(plays, saves).content_pairs()
    expected = pd.DataFrame(
        {
            USER_ID: ["u1", "u1", "u2", "u2"],
            TRACK_ID: ["a", "b", "a", "b"],
            "week": ["2026-W49", "2026-W48", "2026-W53", "2026-W49"],
            "skipped": np.array([1, 0, 0, 1], dtype=np.float32),
            "listened": np.array([1, 1, 1, 1], dtype=np.float32),
            "completed": np.array([1, 0, 1, 1], dtype=np.float32),
        }
    )
    pd.testing.assert_frame_equal(pairs, expected, check_dtype=False)  # float64 once saves are concatenated


def test_context_and_items_count_what_came_before_each_week() -> None:
    plays = pd.DataFrame(
        {
            USER_ID: ["u1", "u1", "u1", "u2", "u2", "u3", "u1"],
            TRACK_ID: ["a", "a", "b", "a", "c", "b", "c"],
            PLAYED_AT: [
                "2026-10-01T10:00:00Z",  # u1/a long ago: heard, not recent for W49
                "2026-11-20T10:00:00Z",  # u1/a again, within 28 days of W49's cutoff
                "2026-11-29T23:59:00Z",  # u1/b: the last minute before W49
                "2026-11-10T10:00:00Z",  # u2/a
                "2026-11-30T00:00:00Z",  # u2/c: at W49's cutoff, so not before it
                "2026-11-25T10:00:00Z",  # u3/b
                "2026-12-03T10:00:00Z",  # u1/c in W49
            ],
            MS_PLAYED: [200_000] * 7,
        }
    )
    h = _history(plays, pd.DataFrame(columns=[USER_ID, TRACK_ID, SAVED_AT]))
    ctx = h.context_at("2026-W49").sort_index()
    assert list(ctx.index) == ["u1", "u2", "u3"]
    assert ctx["heard"].tolist() == [2, 1, 1]
    assert ctx["recent"].tolist() == [2, 1, 1]  # 2026-11-02 .. 2026-11-29
    assert ctx[["dw_n", "dw_listen", "dw_skip"]].to_numpy().sum() == 0
    items = h.items_at("2026-W49").sort_index()
    assert list(items.index) == ["a", "b"]
    assert items["popularity"].tolist() == [2.0, 2.0]  # distinct recent listeners: a by u1, u2; b by u1, u3
    assert items["played"].all()
    later = h.items_at("2026-W50").sort_index()
    assert list(later.index) == ["a", "b", "c"] and later["popularity"].tolist() == [2.0, 2.0, 2.0]
    assert h.context_at("2026-W50").sort_index()["heard"].tolist() == [3, 2, 1]
