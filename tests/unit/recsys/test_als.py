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


def _plays_with_context(spark, rows):
    return spark.createDataFrame(
        pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played", "context"]),
        "user_id string, track_id string, played_at timestamp, ms_played long, context string",
    )


@pytest.mark.spark
def test_a_skipped_context_is_a_skip_whatever_its_length(spark):
    day = dt.datetime(2026, 11, 10, tzinfo=UTC)
    rows = [
        ("u1", "t1", day, 200_000, "spotify.clickrow.skipped"),  # 200 s, but the log says skipped
        ("u1", "t1", day + dt.timedelta(hours=1), 200_000, "spotify.skipped"),
        ("u1", "t1", day + dt.timedelta(hours=2), 10_000, "spotify.trackdone"),  # short: a skip as before
        ("u1", "t2", day, 200_000, "spotify.clickrow"),  # counted
        ("u1", "t2", day + dt.timedelta(hours=1), 200_000, None),  # counted
        ("u2", "t2", day, 200_000, "discover_weekly"),  # counted
        ("u2", "t1", day, 200_000, "spotify.skipped_x"),  # not the suffix: counted
    ]
    plays, start = _plays_with_context(spark, rows), END - dt.timedelta(weeks=2)
    counts = als_recipe.window_counts(plays, start, END, 30_000, 0).orderBy("user_id", "track_id").toPandas()
    assert counts[["user_id", "track_id", "plays"]].values.tolist() == [
        ["u1", "t2", 2],
        ["u2", "t1", 1],
        ["u2", "t2", 1],
    ]
    skips = als_recipe.window_skips(plays, start, END, 30_000).toPandas()
    assert skips.to_dict("records") == [{"user_id": "u1", "track_id": "t1", "skips": 3}]
    # two of them >= 30 s: without their context (u1, t1) is counted twice, one skip
    bare = _plays(spark, [r[:4] for r in rows])
    bare_counts = als_recipe.window_counts(bare, start, END, 30_000, 0).toPandas()
    assert bare_counts.set_index(["user_id", "track_id"])["plays"].to_dict() == {
        ("u1", "t1"): 2,
        ("u1", "t2"): 2,
        ("u2", "t1"): 1,
        ("u2", "t2"): 1,
    }
    assert als_recipe.window_skips(bare, start, END, 30_000).toPandas().to_dict("records") == [
        {"user_id": "u1", "track_id": "t1", "skips": 1}
    ]
    # and the repeated explicit skips rate (u1, t1) negative as short ones would
    conf = AlsConf(eps=1.0, skip_weight=0.5)
    counts = als_recipe.window_counts(plays, start, END, conf.min_ms_played, 0)
    got = _rated(als_recipe.window_ratings(plays, counts, conf, start, END))
    assert got[("u1", "t1")] == pytest.approx(-0.5 * math.log1p(2))


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


def _frame(spark, rows, columns, schema):
    return spark.createDataFrame(pd.DataFrame(rows, columns=columns), schema)


def _counts(spark, rows):
    return _frame(
        spark,
        rows,
        ["user_id", "track_id", "plays", "weight"],
        "user_id string, track_id string, plays long, weight double",
    )


def _pairs(spark, rows):
    return _frame(spark, rows, ["user_id", "track_id"], "user_id string, track_id string")


def _skips(spark, rows):
    return _frame(spark, rows, ["user_id", "track_id", "skips"], "user_id string, track_id string, skips long")


def _rated(df):
    return {(r["user_id"], r["track_id"]): r["rating"] for r in df.collect()}


# counted plays: listeners u1, u2, u3 and tracks t1, t2, t3 are the ones fitted
SIGNAL_COUNTS = [
    ("u1", "t1", 2, 2.0),
    ("u1", "t2", 1, 1.0),
    ("u2", "t2", 3, 3.0),
    ("u2", "t3", 1, 1.0),
    ("u3", "t3", 1, 1.0),
]
SAVED = [
    ("u1", "t1"),  # saved and played: the weight grows by save_weight
    ("u1", "t3"),  # saved, never counted: rated from the save alone (and its skips do not count)
    ("u9", "t1"),  # a listener without counted plays: left out
    ("u1", "t9"),  # a track without counted plays: left out
]
SKIPS = [
    ("u2", "t1", 3),  # no counted play, not saved, 3 skips: negative
    ("u1", "t3", 5),  # saved: the save wins
    ("u1", "t2", 4),  # counted plays win
    ("u3", "t1", 1),  # one skip says nothing
    ("u9", "t2", 6),  # a listener without counted plays: left out
    ("u3", "t9", 6),  # a track without counted plays: left out
]


@pytest.mark.spark
def test_saves_add_to_the_weight_and_repeated_skips_rate_negative(spark):
    eps, save_w, skip_w = 2.0, 2.0, 0.5
    counts, saved, skips = _counts(spark, SIGNAL_COUNTS), _pairs(spark, SAVED), _skips(spark, SKIPS)
    got = _rated(als_recipe.ratings(counts, eps, saved, save_w, skips, skip_w))
    assert got == pytest.approx(
        {
            ("u1", "t1"): math.log1p((2.0 + save_w) / eps),
            ("u1", "t2"): math.log1p(1.0 / eps),
            ("u2", "t2"): math.log1p(3.0 / eps),
            ("u2", "t3"): math.log1p(1.0 / eps),
            ("u3", "t3"): math.log1p(1.0 / eps),
            ("u1", "t3"): math.log1p(save_w / eps),
            ("u2", "t1"): -skip_w * math.log1p(3 - 1),
        }
    )
    alpha = 8.0  # Spark: preference 0 for a rating <= 0, confidence 1 + alpha * |rating|
    assert 1 + alpha * abs(got[("u2", "t1")]) == pytest.approx(1 + alpha * 0.5 * math.log(3))


@pytest.mark.spark
def test_a_zero_weight_turns_saves_or_skips_off(spark):
    eps = 1.0
    counts, saved, skips = _counts(spark, SIGNAL_COUNTS), _pairs(spark, SAVED), _skips(spark, SKIPS)
    plain = {(u, t): math.log1p(w / eps) for u, t, _, w in SIGNAL_COUNTS}
    assert _rated(als_recipe.ratings(counts, eps)) == pytest.approx(plain)  # neither: with_rating's
    assert _rated(als_recipe.ratings(counts, eps, saved, 0.0, skips, 0.0)) == pytest.approx(plain)
    no_saves = _rated(als_recipe.ratings(counts, eps, saved, 0.0, skips, 0.5))
    # without saves (u1, t3) is a plain repeated skip
    assert no_saves == pytest.approx({**plain, ("u2", "t1"): -0.5 * math.log1p(2), ("u1", "t3"): -0.5 * math.log1p(4)})
    no_skips = _rated(als_recipe.ratings(counts, eps, saved, 2.0, skips, 0.0))
    assert no_skips == pytest.approx({**plain, ("u1", "t1"): math.log1p(4.0), ("u1", "t3"): math.log1p(2.0)})


@pytest.mark.spark
def test_window_ratings_count_only_the_saves_and_skips_inside_the_window(spark):
    start = END - dt.timedelta(weeks=2)
    rows = [
        ("u1", "t1", END - dt.timedelta(days=1), 200_000),
        ("u2", "t2", END - dt.timedelta(days=1), 200_000),
        ("u2", "t1", END - dt.timedelta(days=2), 5_000),  # skips of u2 on t1: two in the window
        ("u2", "t1", END - dt.timedelta(days=3), 5_000),
        ("u2", "t1", END - dt.timedelta(days=30), 5_000),  # before the window
        ("u1", "t2", END - dt.timedelta(days=3), 5_000),  # one skip in the window, one after the cutoff
        ("u1", "t2", END + dt.timedelta(days=1), 5_000),
    ]
    plays = _plays(spark, rows)
    saves = _frame(
        spark,
        [("u2", "t1", END - dt.timedelta(days=40)), ("u1", "t2", END - dt.timedelta(days=5))],
        ["user_id", "track_id", "saved_at"],
        "user_id string, track_id string, saved_at timestamp",
    )
    conf = AlsConf(eps=1.0, save_weight=2.0, skip_weight=0.5)
    counts = als_recipe.window_counts(plays, start, END, conf.min_ms_played, 0)
    got = _rated(als_recipe.window_ratings(plays, counts, conf, start, END, saves))
    assert got == pytest.approx(
        {
            ("u1", "t1"): math.log1p(1.0),
            ("u2", "t2"): math.log1p(1.0),
            ("u1", "t2"): math.log1p(2.0),  # saved in the window (its single skip would say nothing)
            ("u2", "t1"): -0.5 * math.log1p(1),  # the save before the window does not count; 2 skips do
        }
    )
    assert _rated(als_recipe.window_ratings(plays, counts, conf, start, END)) == pytest.approx(
        {("u1", "t1"): math.log1p(1.0), ("u2", "t2"): math.log1p(1.0), ("u2", "t1"): -0.5 * math.log1p(1)}
    )


@pytest.mark.spark
def test_a_fit_with_negative_ratings_keeps_the_listeners_and_tracks_of_the_plays(spark):
    spark.sparkContext.setCheckpointDir("/tmp/dw-test-ckpt")
    counts = _counts(spark, SIGNAL_COUNTS)
    rated = als_recipe.ratings(counts, 1.0, _pairs(spark, SAVED), 2.0, _skips(spark, SKIPS), 0.5)
    conf = AlsConf(rank=2, max_iter=3, num_blocks=1, seed=1, checkpoint_interval=-1)
    users, items = als_recipe.fit_als(counts, conf, rated)
    assert users["user_id"].tolist() == ["u1", "u2", "u3"] and items["track_id"].tolist() == ["t1", "t2", "t3"]
    assert np.isfinite(as_matrix(users["vector"])).all()


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


@pytest.mark.spark
@pytest.mark.slow
def test_the_als_stage_reads_the_weeks_saves_and_counts_its_signals(spark, tmp_path):
    from jobs import als as als_stage
    from jobs.warehouse.store import Warehouse
    from tests.integration.test_als_consistency import WEEK, _normal_plays, _play, _world

    plays = [*_normal_plays(), _play("u0", "t01", 4, 5_000), _play("u0", "t01", 5, 5_000)]  # u0 skips t01 twice
    config = _world(tmp_path, plays)
    before = als_stage.run(spark, config, WEEK)  # no saves partition (ingested before saves): no saves
    assert before["signals"]["saves_in_window"] == 0 and before["signals"]["skip_pairs"] == 1
    wh = Warehouse(config.paths.warehouse)
    counts_before = wh.read("play_counts", WEEK)
    saved = pd.DataFrame(
        {
            "user_id": ["u0", "u1", "u1"],
            "track_id": ["t03", "t01", "t05"],
            "saved_at": pd.to_datetime(["2026-11-10", "2026-11-11", "2026-01-01"], utc=True),  # the last: too old
        }
    )
    wh.write("saves", WEEK, saved)
    after = als_stage.run(spark, config, WEEK)
    assert after["signals"]["saves_in_window"] == 2
    assert after["signals"]["pairs_rated"] >= before["signals"]["pairs_rated"]
    # saves and skips change the ratings, never who is fitted nor the published counts
    assert (after["users"], after["tracks"]) == (before["users"], before["tracks"])
    pd.testing.assert_frame_equal(wh.read("play_counts", WEEK), counts_before)
