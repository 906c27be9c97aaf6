"""What a play and an exposure answered (skip, listen, complete) and where a play sat in its session."""

import datetime as dt

import numpy as np
import pandas as pd

from jobs.rl.responses import exposure_responses, list_history, play_responses, session_places

MONDAY = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def test_play_responses_from_ms_played_duration_and_the_skipped_context():
    out = play_responses(
        np.array([5_000, 30_000, 170_000, 200_000, 200_000]),
        np.array([200_000, 200_000, 200_000, 0, 200_000]),
        np.array([False, False, False, False, True]),
        listen_ms=30_000,
        complete_share=0.85,
    )
    # skip, listen, complete
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 1, 0], [1, 0, 0]])


def test_session_places_restart_after_a_pause_and_count_earlier_answers():
    t0 = pd.Timestamp("2026-11-20 10:00", tz="UTC")
    plays = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b"],
            "played_at": [
                t0,
                t0 + pd.Timedelta(minutes=4),
                t0 + pd.Timedelta(minutes=8),
                t0 + pd.Timedelta(hours=2),
                t0,
            ],
        }
    ).iloc[[3, 1, 0, 4, 2]]  # any order in, aligned out
    resp = np.array([[0, 1, 0], [1, 0, 0], [0, 1, 1], [0, 1, 0], [0, 1, 0]], dtype=np.float32)  # rows as given
    out = session_places(plays, resp)
    assert out.index.tolist() == plays.index.tolist()
    by_row = out.sort_index()
    assert by_row["position"].tolist() == [1, 2, 3, 1, 1]
    # row 2 (third place): before it row 0 listened, row 1 skipped
    assert by_row.loc[2, "prev_listen"] == 0.5 and by_row.loc[2, "prev_skip"] == 0.5
    assert by_row.loc[3, "prev_listen"] == 0.0  # a new session


def test_exposure_responses_take_the_weeks_discover_weekly_plays_and_saves():
    exposures = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b"],
            "track_id": ["t1", "t2", "t3", "t1"],
            "position": [1, 2, 3, 1],
            "week": "2026-W48",
        }
    )
    plays = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b"],
            "track_id": ["t1", "t2", "t1", "t1", "t1"],
            "played_at": [MONDAY + dt.timedelta(hours=h) for h in (1, 2, 3, 4, 24 * 8)],
            "ms_played": [10_000, 200_000, 60_000, 100_000, 200_000],
            "context": ["discover_weekly", "discover_weekly", "discover_weekly", None, None],
        }
    )
    saves = pd.DataFrame({"user_id": ["a"], "track_id": ["t3"], "saved_at": [MONDAY + dt.timedelta(days=1)]})
    durations = pd.Series({"t1": 200_000, "t2": 200_000, "t3": 200_000})
    out = exposure_responses(exposures, plays, saves, MONDAY, durations, 30_000, 0.9)
    # a/t1: the longest play (60 s) listens; a/t2 completes; a/t3 saved: complete; b/t1: 100 s (the 8th-day play is
    # another week; b says nothing about where plays came from, so any play counts)
    np.testing.assert_array_equal(out, [[0, 1, 0], [0, 1, 1], [0, 1, 1], [0, 1, 0]])
    prev = list_history(exposures, out)
    assert prev["prev_listen"].tolist() == [0.0, 1.0, 1.0, 0.0]
