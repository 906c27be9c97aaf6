"""ALS: window counting, the confidence transform, a checkerboard fit and the holdout scoring."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from jobs.config import AlsConf
from jobs.evaluation.metrics import as_matrix
from jobs.recsys import als as als_recipe

UTC = dt.UTC
END = dt.datetime(2026, 11, 16, tzinfo=UTC)


def _plays(spark, rows):
    return spark.createDataFrame(
        pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"]),
        "user_id string, track_id string, played_at timestamp, ms_played long",
    )


@pytest.mark.spark
def test_window_counts_skip_short_plays_and_plays_outside_the_window(spark):
    rows = [
        ("u1", "t1", dt.datetime(2026, 11, 15, tzinfo=UTC), 200_000),
        ("u1", "t1", dt.datetime(2026, 11, 8, tzinfo=UTC), 200_000),
        ("u1", "t1", dt.datetime(2026, 11, 9, tzinfo=UTC), 10_000),  # a skip: not counted
        ("u1", "t2", dt.datetime(2026, 11, 16, tzinfo=UTC), 200_000),  # at the cutoff: next week's
        ("u2", "t2", dt.datetime(2026, 10, 1, tzinfo=UTC), 200_000),  # before the window
    ]
    start = END - dt.timedelta(weeks=2)
    out = als_recipe.window_counts(_plays(spark, rows), start, END, 30_000, 0).toPandas()
    assert out.to_dict("records") == [{"user_id": "u1", "track_id": "t1", "plays": 2, "weight": 2.0}]


@pytest.mark.spark
def test_recency_decay_halves_weight_every_half_life(spark):
    rows = [("u1", "t1", END - dt.timedelta(days=7), 60_000), ("u1", "t1", END - dt.timedelta(days=14), 60_000)]
    out = als_recipe.window_counts(_plays(spark, rows), END - dt.timedelta(weeks=4), END, 30_000, 7).toPandas()
    assert out["plays"].tolist() == [2]
    assert out["weight"].iloc[0] == pytest.approx(0.5 + 0.25)


@pytest.mark.spark
def test_rating_gives_the_hu_koren_volinsky_confidence(spark):
    df = spark.createDataFrame(pd.DataFrame({"weight": [0.0, 1.0, 9.0]}))
    eps = 2.0
    ratings = [r["rating"] for r in als_recipe.with_rating(df, eps).collect()]
    alpha = 8.0
    # Spark's implicit ALS uses c = 1 + alpha * rating
    assert [1 + alpha * r for r in ratings] == pytest.approx([1 + alpha * math.log(1 + w / eps) for w in [0, 1, 9]])


@pytest.mark.spark
def test_index_ids_are_dense_and_sorted(spark):
    df = spark.createDataFrame(pd.DataFrame({"user_id": ["b", "a", "c", "a"]}))
    out = als_recipe.index_ids(df, "user_id", "u").orderBy("u").toPandas()
    assert out.to_dict("list") == {"user_id": ["a", "b", "c"], "u": [0, 1, 2]}


@pytest.mark.spark
def test_index_ids_match_a_global_sort_on_awkward_ids(spark):
    """The same 0-based indices as numbering the distinct ids after one global sort (the old
    single-partition window), on ids whose order is easy to get wrong: case, digits, length,
    punctuation, accents; spread over several partitions, with repeats."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ids = [
        "u10",
        "u9",
        "U1",
        "u1",
        "u-1",
        "u_1",
        "u 1",
        "a",
        "aa",
        "A",
        "0",
        "00",
        "10",
        "9",
        "caf\u00e9",
        "cafe",
        "\u00fc",
    ]
    df = spark.createDataFrame(pd.DataFrame({"user_id": ids * 3}).sample(frac=1.0, random_state=1)).repartition(4)
    reference = df.select("user_id").distinct()
    reference = reference.withColumn("u", (F.row_number().over(Window.orderBy("user_id")) - 1).cast("int"))
    want = reference.toPandas().sort_values("u", ignore_index=True)
    got = als_recipe.index_ids(df, "user_id", "u").toPandas().sort_values("u", ignore_index=True)
    assert got["u"].tolist() == list(range(len(set(ids))))
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.spark
@pytest.mark.slow
def test_checkerboard_fit_separates_two_taste_groups(spark):
    """Users 0-5 play tracks 0-5, users 6-11 play 6-11 (one track each left out): the left-out
    track of the user's own block must outscore every track of the other block."""
    rows = []
    for u in range(12):
        block = range(0, 6) if u < 6 else range(6, 12)
        for t in block:
            if t % 6 == u % 6:
                continue  # held out
            rows.append((f"u{u:02d}", f"t{t:02d}", 3, 3.0))
    counts = spark.createDataFrame(pd.DataFrame(rows, columns=["user_id", "track_id", "plays", "weight"]))
    conf = AlsConf(rank=2, max_iter=15, reg_param=0.1, alpha=10.0, num_blocks=1, seed=1)
    spark.sparkContext.setCheckpointDir("/tmp/dw-test-ckpt")
    users, items = als_recipe.fit_als(counts, conf)
    U, V = as_matrix(users["vector"]), as_matrix(items["vector"])
    assert U.shape == (12, 2) and V.shape == (12, 2)
    scores = U @ V.T
    for u in range(12):
        own = (u % 6) + (0 if u < 6 else 6)
        other = range(6, 12) if u < 6 else range(0, 6)
        assert scores[u, own] > max(scores[u, t] for t in other), u
    # the same seed gives the same factors
    users2, _ = als_recipe.fit_als(counts, conf)
    np.testing.assert_array_equal(U, as_matrix(users2["vector"]))


def test_evaluate_holdout_on_hand_made_vectors():
    items = pd.DataFrame(
        {
            "track_id": ["a", "b", "c", "d"],
            "vector": [np.array(v, dtype=np.float32) for v in ([1, 0], [0.9, 0], [0, 1], [0.5, 0])],
        }
    )
    users = pd.DataFrame(
        {"user_id": ["u1", "u2"], "vector": [np.array([1, 0], np.float32), np.array([0, 1], np.float32)]}
    )
    seen = pd.DataFrame({"user_id": ["u1"], "track_id": ["a"]})
    holdout = pd.DataFrame({"user_id": ["u1", "u2"], "track_id": ["b", "zzz"]})  # zzz has no vector
    popularity = pd.Series({"c": 10, "d": 5, "b": 1})
    out = als_recipe.evaluate_holdout(users, items, seen, holdout, popularity, k=1)
    # ALS: u1 -> b (hit), u2 -> c (miss, its item has no vector)
    assert out["als"]["precision@1"] == pytest.approx(0.5)
    assert out["als"]["recall@1"] == pytest.approx(0.5)
    assert out["als"]["mean_percentile_rank"] == pytest.approx(0.0)  # b is u1's top unseen item
    # most popular: both get c -> no hit
    assert out["most_popular"]["precision@1"] == 0.0
    assert out["most_popular"]["mean_percentile_rank"] == pytest.approx(1.0)  # b is least popular of b,c,d
    assert out["als"]["users"] == 2 and out["als"]["holdout_pairs"] == 2


def test_holdout_scores_put_als_beside_all_time_and_recent_popularity_with_intervals():
    items = pd.DataFrame(
        {
            "track_id": ["a", "b", "c", "d"],
            "vector": [np.array(v, dtype=np.float32) for v in ([1, 0], [0.9, 0], [0, 1], [0.5, 0])],
        }
    )
    users = pd.DataFrame(
        {"user_id": ["u1", "u2"], "vector": [np.array([1, 0], np.float32), np.array([0, 1], np.float32)]}
    )
    seen = pd.DataFrame({"user_id": ["u1"], "track_id": ["a"]})
    holdout = pd.DataFrame({"user_id": ["u1", "u2"], "track_id": ["b", "d"]})
    popularity = pd.Series({"c": 10.0, "d": 5.0, "b": 1.0})
    recent = pd.Series({"b": 3.0, "d": 3.0})  # b and d tie recently: all-time plays put d first
    scored = als_recipe.holdout_scores(users, items, seen, holdout, popularity, 1, recent)
    assert scored["users"] == ["u1", "u2"] and scored["pair_users"] == ["u1", "u2"]
    v = scored["values"]
    np.testing.assert_array_equal(v["als"]["precision@1"], [1.0, 0.0])  # u1 -> b; u2 -> c
    np.testing.assert_array_equal(v["most_popular"]["precision@1"], [0.0, 0.0])  # c for both
    np.testing.assert_array_equal(v["most_popular_recent"]["precision@1"], [0.0, 1.0])  # d for both
    block = als_recipe.holdout_comparison(scored)
    assert block["subject"] == "als" and set(block["systems"]) == {"als", "most_popular", "most_popular_recent"}
    assert set(block["paired"]) == {"als - most_popular", "als - most_popular_recent"}
    diff = block["paired"]["als - most_popular"]["precision@1"]
    assert diff["mean"] == pytest.approx(0.5) and diff["n"] == 2 and diff["groups"] == 2
    assert block["systems"]["als"]["mean_percentile_rank"]["n"] == 2  # one rank per (listener, track) pair
