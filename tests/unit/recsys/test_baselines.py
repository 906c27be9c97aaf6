import datetime as dt

import numpy as np
import pandas as pd
import pytest

from jobs.recsys import baselines as b

T0 = pd.Timestamp("2024-01-01", tz="UTC")
CUT = dt.datetime(2024, 1, 29, tzinfo=dt.UTC)  # 4 weeks after T0


def plays(rows):
    """(user, track, day after T0[, ms]) -> a plays frame."""
    return pd.DataFrame(
        [(u, t, T0 + pd.Timedelta(days=d), r[0] if r else 180_000) for u, t, d, *r in rows],
        columns=["user_id", "track_id", "played_at", "ms_played"],
    )


# a: t1 t2 / b: t1 t2 t3 / c: t1 t4; listeners per track: t1 3, t2 2, t3 1, t4 1
TOY = plays(
    [("a", "t1", 1), ("a", "t2", 2), ("b", "t1", 3), ("b", "t2", 4), ("b", "t3", 5), ("c", "t1", 6), ("c", "t4", 7)]
)


def test_most_popular_on_a_three_listener_history():
    recs = b.most_popular(TOY, ["a", "b", "c"], k=2)
    # a: unheard t3 and t4 tie at one listener each -> the smaller id first; b has only t4 left
    assert recs == {"a": ["t3", "t4"], "b": ["t4"], "c": ["t2", "t3"]}


def test_played_items_are_never_recommended_skips_included():
    # c skipped t2 (10 s): it does not count for popularity, but c has heard it
    history = pd.concat([TOY, plays([("c", "t2", 8, 10_000), ("d", "t3", 9)])], ignore_index=True)
    for fn in (b.most_popular, b.item_knn, b.implicit_als):
        recs = fn(history, ["a", "b", "c"], k=5)
        assert "t2" not in recs["c"] and "t1" not in recs["c"] and "t4" not in recs["c"], fn.__name__
        assert set(recs["b"]) == {"t4"}, fn.__name__
    assert b.counted_pairs(history).query("user_id == 'c'")["track_id"].tolist() == ["t1", "t4"]


def test_most_popular_recent_counts_only_the_last_weeks():
    # t9 has one recent listener (day 27); t1 is popular but old; t2 has no recent listener either
    history = pd.concat([TOY, plays([("b", "t9", 27)])], ignore_index=True)
    recs = b.most_popular_recent(history, CUT, ["a", "c"], k=3, weeks=1)
    assert recs["a"][0] == "t9"  # the only recent play wins
    assert recs["c"] == ["t9", "t2", "t3"]  # then the rest by all-history listeners (t2: 2, t3: 1)
    with pytest.raises(ValueError, match="cutoff"):
        b.most_popular_recent(history, dt.datetime(2024, 1, 5, tzinfo=dt.UTC), ["a"])


def test_item_knn_neighbours_are_cosine_of_listener_sets():
    W, _, items = b.knn_similarity(b.counted_pairs(TOY), neighbours=1)
    assert items.tolist() == ["t1", "t2", "t3", "t4"]
    dense = W.toarray()
    # each track keeps its one nearest: t1 -> t2 (2 / sqrt(3 * 2)), t2 -> t1, t3 -> t2 (1 / sqrt(2)), t4 -> t1
    assert [int(np.argmax(row)) for row in dense] == [1, 0, 1, 0]
    assert dense[0, 1] == pytest.approx(2 / np.sqrt(6))
    assert dense[2, 1] == pytest.approx(1 / np.sqrt(2))
    assert (dense > 0).sum(axis=1).tolist() == [1, 1, 1, 1]
    # full neighbourhoods: a (t1, t2) scores t3 = 1/sqrt(3) + 1/sqrt(2) above t4 = 1/sqrt(3)
    ranking = b.knn_ranking(b.counted_pairs(TOY), b.heard_pairs(TOY), ["a"], neighbours=20)
    scores = dict(zip(ranking.items, ranking.scores[0], strict=True))
    assert scores["t3"] == pytest.approx(1 / np.sqrt(3) + 1 / np.sqrt(2))
    assert scores["t4"] == pytest.approx(1 / np.sqrt(3))
    assert scores["t1"] == -np.inf and scores["t2"] == -np.inf
    assert b.item_knn(TOY, ["a"], k=2) == {"a": ["t3", "t4"]}


def test_implicit_als_is_seeded_and_knows_unknown_listeners():
    r1 = b.implicit_als_ranking(TOY, ["a", "z"])
    r2 = b.implicit_als_ranking(TOY, ["a", "z"])
    np.testing.assert_array_equal(r1.scores, r2.scores)
    assert r1.users.tolist() == ["a", "z"]
    assert (r1.scores[1] == 0).all()  # z has no history: no vector, no preference
    assert np.isneginf(r1.scores[0, :2]).all()  # a heard t1 and t2


def test_ids_read_as_numbers_still_exclude_heard_items():
    numeric = TOY.assign(user_id=TOY["user_id"].map({"a": 1, "b": 2, "c": 3}))
    assert b.most_popular(numeric, ["1"], k=2) == {"1": ["t3", "t4"]}


def test_references_refuse_plays_after_the_cutoff_and_return_all_four():
    refs = b.references(TOY, CUT, ["a", "b"])
    assert set(refs) == {"most_popular", "most_popular_4w", "implicit_als", "item_knn"}
    assert all(r.users.tolist() == ["a", "b"] for r in refs.values())
    with pytest.raises(ValueError, match="must not see"):
        b.references(TOY, dt.datetime(2024, 1, 3, tzinfo=dt.UTC), ["a"])
