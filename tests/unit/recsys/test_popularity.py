"""Popularity counts listeners, never plays: one heavy repeater makes a track no more popular."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from jobs.config import MergeConf, load_config
from jobs.evaluation.offline import most_popular
from jobs.recsys.baselines import most_popular_ranking, recent_listeners, track_listeners
from jobs.recsys.inputs import build_inputs
from jobs.recsys.playlists import fallback_lists
from jobs.warehouse.weeks import cutoff

WEEK = "2026-W11"


def _inputs(repeated: str, once: str, popularity_days: int):
    """u0 plays ``repeated`` 500 times, u1 plays ``once`` once; both also play 'common' (2 listeners)."""
    cut = cutoff(WEEK)
    rows = [("u0", repeated)] * 500 + [("u1", once), ("u0", "common"), ("u1", "common"), ("u2", "x-other")]
    plays = pd.DataFrame(rows, columns=["user_id", "track_id"])
    plays["played_at"] = pd.Timestamp(cut - dt.timedelta(days=2))
    plays["ms_played"] = 200_000
    counts = plays.groupby(["user_id", "track_id"]).size().reset_index(name="plays")
    ids = sorted({repeated, once, "common", "x-other", "zz-unheard"})
    rng = np.random.default_rng(0)
    item_f = pd.DataFrame({"track_id": ids, "vector": list(rng.normal(size=(len(ids), 4)))})
    item_f["plays"] = item_f["track_id"].map(counts.groupby("track_id")["plays"].sum()).fillna(0).astype(int)
    user_f = pd.DataFrame({"user_id": ["u0", "u1", "u2"], "vector": list(rng.normal(size=(3, 4)))})
    tracks = pd.DataFrame(
        {"track_id": ids, "title": ids, "artist_id": [f"a{i}" for i in range(len(ids))], "release_date": "2020-01-01"}
    )
    artists = pd.DataFrame({"artist_id": tracks["artist_id"], "name": tracks["artist_id"]})
    merge = MergeConf(min_plays=1, popularity_days=popularity_days, k=4, artist_cap=2)
    config = load_config().model_copy(update={"merge": merge})
    return build_inputs(config, WEEK, user_f, item_f, counts, plays, tracks, artists), plays, merge


@pytest.mark.parametrize("popularity_days", [0, 7])
@pytest.mark.parametrize("repeated, once", [("t1", "t2"), ("t2", "t1")])
def test_a_track_one_listener_played_500_times_is_as_popular_as_one_played_once(repeated, once, popularity_days):
    inputs, plays, merge = _inputs(repeated, once, popularity_days)
    items = inputs.items
    at = {t: i for i, t in enumerate(items.track_ids)}
    # the merge's prior and the window's popularity: one listener each, 'common' two
    assert items.prior[at[repeated]] == items.prior[at[once]] == 1.0 and items.prior[at["common"]] == 2.0
    assert items.popularity[at[repeated]] == items.popularity[at[once]] == 1.0

    # the fallback list of a listener who heard neither: 'common' first, then t1 before t2 (ties by id), whoever repeated
    fallback = fallback_lists(items, {"u9": np.zeros(0, np.int64)}, ["u9"], merge)["u9"]
    assert [items.track_ids[i] for i in fallback[:3]] == ["common", "t1", "t2"]

    # the most popular references: the evaluation's lists and the baselines' scores
    listed = most_popular(inputs, 4, 2)
    assert [items.track_ids[i] for i in listed["u2"][:3]] == ["common", "t1", "t2"]
    ranking = most_popular_ranking(plays, ["u2"])
    scores = dict(zip(ranking.items, ranking.scores[0], strict=True))
    assert scores[repeated] == scores[once] == 1.0 and scores["common"] == 2.0
    assert track_listeners(plays).to_dict() == {"common": 2.0, "t1": 1.0, "t2": 1.0, "x-other": 1.0}
    assert recent_listeners(plays, cutoff(WEEK), weeks=1)[repeated] == 1.0


def test_a_prior_few_listeners_back_counts_for_less():
    from jobs.recsys.scoring import popularity_term

    inputs, _, merge = _inputs("t1", "t2", popularity_days=0)  # 3 listeners with counted plays in the window
    items = inputs.items
    assert items.prior_scale == 3 / (3 + 150)  # merge.popularity_shrinkage 150 by default
    term = popularity_term(items, merge.model_copy(update={"w_popularity": 4.0}))
    assert term.max() == np.float32(4.0 * 3 / 153)  # 'common', the top track, 2 listeners
    no_shrink = merge.model_copy(update={"popularity_shrinkage": 0.0})
    assert popularity_term(replace(items, prior_scale=1.0), no_shrink).max() == np.float32(merge.w_popularity)
