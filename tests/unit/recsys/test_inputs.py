"""The merge's per-listener indexes (:func:`jobs.recsys.inputs.build_inputs`), against known answers."""

import datetime as dt

import numpy as np
import pandas as pd

from jobs.config import MergeConf, load_config
from jobs.recsys.inputs import build_inputs, runs_by_key
from jobs.warehouse.weeks import cutoff

WEEK = "2026-W11"


def test_runs_by_key_keeps_the_order_of_first_appearance_and_cuts_each_run() -> None:
    keys = np.array(["b", "b", "b", "a", "c", "c"], dtype=object)
    values = np.array([5, 4, 3, 9, 1, 2])
    runs = runs_by_key(keys, values, limit=2)
    assert list(runs) == ["b", "a", "c"]
    assert [runs[k].tolist() for k in runs] == [[5, 4], [9], [1, 2]]
    assert [v.tolist() for v in runs_by_key(keys, values).values()] == [[5, 4, 3], [9], [1, 2]]
    assert runs_by_key(np.array([], dtype=object), np.array([])) == {}


def test_heard_items_most_played_tracks_and_artists_per_listener() -> None:
    plays_of = {("u2", "t1"): 1, ("u1", "t3"): 4, ("u1", "t1"): 2, ("u1", "t2"): 2, ("u1", "t4"): 1, ("u2", "t4"): 3}
    rows = [pair for pair, n in plays_of.items() for _ in range(n)]
    plays = pd.DataFrame(rows, columns=["user_id", "track_id"])
    plays["played_at"] = pd.Timestamp(cutoff(WEEK) - dt.timedelta(days=2))
    plays["ms_played"] = 200_000
    counts = plays.groupby(["user_id", "track_id"]).size().reset_index(name="plays")
    ids = ["t1", "t2", "t3", "t4", "t5"]
    rng = np.random.default_rng(0)
    item_f = pd.DataFrame({"track_id": ids, "vector": list(rng.normal(size=(5, 4)))})
    item_f["plays"] = item_f["track_id"].map(counts.groupby("track_id")["plays"].sum()).fillna(0).astype(int)
    user_f = pd.DataFrame({"user_id": ["u1", "u2"], "vector": list(rng.normal(size=(2, 4)))})
    artist = {"t1": "a1", "t2": "a1", "t3": "a2", "t4": "a3", "t5": "a3"}
    tracks = pd.DataFrame({"track_id": ids, "title": ids, "artist_id": [artist[t] for t in ids]})
    tracks["release_date"] = "2020-01-01"
    artists = pd.DataFrame({"artist_id": ["a1", "a2", "a3"], "name": ["A1", "A2", "A3"]})
    config = load_config().model_copy(update={"merge": MergeConf(min_plays=1, top_artists=2)})
    inputs = build_inputs(config, WEEK, user_f, item_f, counts, plays, tracks, artists)
    # item indices follow the catalog's track ids: t1 -> 0 ... t5 -> 4; artists a1 -> 0, a2 -> 1, a3 -> 2
    assert {u: v.tolist() for u, v in inputs.heard_by_user.items()} == {"u1": [0, 1, 2, 3], "u2": [0, 3]}
    # most played first, ties by track id
    assert {u: v.tolist() for u, v in inputs.top_by_user.items()} == {"u1": [2, 0, 1, 3], "u2": [3, 0]}
    # a1 has 4 plays of u1 (t1, t2), a2 4 (t3): a tie by artist index; the top 2 of 3 artists kept
    assert {u: v.tolist() for u, v in inputs.top_artists.items()} == {"u1": [0, 1], "u2": [2, 0]}
    assert {u: v.tolist() for u, v in inputs.shares.items()} == {"u1": [0.5, 0.5], "u2": [0.75, 0.25]}
    alpha, eps = config.als.alpha, config.als.eps
    expected = 1.0 + alpha * np.log1p(np.array([4.0, 2.0, 2.0, 1.0]) / eps)
    np.testing.assert_array_equal(inputs.top_confidence["u1"], expected)
