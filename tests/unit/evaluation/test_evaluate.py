"""Offline evaluation: the truth is first-time plays of the week, and the scores are known answers."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.evaluation import offline
from jobs.recsys.inputs import Inputs
from jobs.recsys.items import Items
from jobs.warehouse.store import Warehouse

UTC = dt.UTC


def _write_plays(root, rows):
    df = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"])
    df["played_at"] = pd.to_datetime(df["played_at"], utc=True)
    for day, g in df.groupby(df["played_at"].dt.date):
        folder = root / "plays" / f"day={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(g.drop(columns=[]), preserve_index=False), folder / "part-0.parquet")


def test_truth_is_counted_first_plays_during_the_week(tmp_path):
    _write_plays(
        tmp_path,
        [
            ("u1", "t1", "2026-11-10T10:00:00Z", 200_000),  # before W47: heard
            ("u1", "t1", "2026-11-17T10:00:00Z", 200_000),  # replay in W47: not a first play
            ("u1", "t2", "2026-11-17T11:00:00Z", 200_000),  # first play in W47: truth
            ("u1", "t3", "2026-11-18T11:00:00Z", 5_000),  # a skip: not counted
            ("u2", "t2", "2026-11-24T11:00:00Z", 200_000),  # the week after: not W47
        ],
    )
    truth = offline.first_plays(Warehouse(tmp_path), "2026-W47", 30_000)
    assert truth.to_dict("records") == [{"user_id": "u1", "track_id": "t2"}]
    with pytest.raises(offline.EvaluationError, match="ingest a later week"):
        offline.first_plays(Warehouse(tmp_path), "2026-W49", 30_000)


def test_score_lists_known_answers():
    items = Items(
        track_ids=np.array(["a", "b", "c", "d"], dtype=object),
        artist_idx=np.arange(4),
        song_key=np.arange(4),
        vectors=np.zeros((4, 1), np.float32),
        popularity=np.array([9.0, 5.0, 1.0, 0.0]),
        artist_names=np.array(["A", "B", "C", "D"], dtype=object),
        is_cold=np.array([False, False, False, True]),
        is_new=np.array([False, False, False, True]),
    )
    inputs = Inputs(items, pd.DataFrame(), set(), pd.DataFrame(), {}, {}, {}, {}, pd.DataFrame(), [])
    lists = {"u1": [3, 1], "u2": [0, 2]}
    truth = {"u1": {3}, "u2": {1}}
    out = offline.score_lists(lists, truth, inputs, 2, cold_truth={("u1", 3)})
    assert out["precision@2"] == pytest.approx(0.25)  # u1 1/2, u2 0/2
    assert out["recall@2"] == pytest.approx(0.5)
    assert out["catalog_coverage"] == 1.0
    assert out["novelty_mean_popularity_rank"] == pytest.approx((4 + 2 + 1 + 3) / 4)
    assert out["new_release_share"] == pytest.approx(0.25)
    assert out["cold_start_hit_rate"] == 1.0


def test_mean_percentile_rank_of_the_truth_among_unheard_items():
    items = Items(
        track_ids=np.array(["a", "b", "c", "d", "e"], dtype=object),
        artist_idx=np.arange(5),
        song_key=np.arange(5),
        vectors=np.zeros((5, 1), np.float32),
        popularity=np.zeros(5),
        artist_names=np.array(list("ABCDE"), dtype=object),
    )
    users = pd.DataFrame({"user_id": ["u1"], "vector": [np.array([1.0], np.float32)]})
    inputs = Inputs(items, users, set(), pd.DataFrame(), {"u1": np.array([0])}, {}, {}, {}, pd.DataFrame(), [])
    scores = np.array([9.0, 4.0, 3.0, 2.0, -np.inf])  # item 0 heard; e is not proposed
    mpr = offline.mean_percentile_rank(lambda uid, u: scores, inputs, {"u1": {1, 4}})
    # among unheard b, c, d, e: b is first (0.0), e last (1.0)
    assert mpr == pytest.approx(0.5)


def test_per_listener_values_and_percentile_rank_pairs_name_their_listener():
    truth = {"u1": {3}, "u2": {1, 2}}
    out = offline.per_listener({"u1": [3, 1], "u2": [0, 2]}, truth, ["u1", "u2"], 2)
    np.testing.assert_allclose(out["precision@2"], [0.5, 0.5])
    np.testing.assert_allclose(out["recall@2"], [1.0, 0.5])
    # a listener without a list scores no hit
    assert offline.per_listener({}, truth, ["u2"], 2)["recall@2"].tolist() == [0.0]
    items = Items(
        track_ids=np.array(list("abcd"), dtype=object),
        artist_idx=np.arange(4),
        song_key=np.arange(4),
        vectors=np.zeros((4, 1), np.float32),
        popularity=np.zeros(4),
        artist_names=np.array(list("ABCD"), dtype=object),
    )
    users = pd.DataFrame({"user_id": ["u1", "u2"], "vector": [np.ones(1, np.float32)] * 2})
    inputs = Inputs(items, users, set(), pd.DataFrame(), {}, {}, {}, {}, pd.DataFrame(), [])
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    ranks, owners = offline.percentile_rank_pairs(lambda uid, u: scores, inputs, truth)
    assert owners == ["u1", "u2", "u2"] and ranks == pytest.approx([1.0, 1 / 3, 2 / 3])
