"""Taste clusters: k chosen per listener, places allotted by share, the figures, and the job's table."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import taste_clusters
from jobs.config import MergeConf, TasteClustersConf
from jobs.recsys.clusters import (
    cluster_tracks,
    intra_list_diversity,
    largest_remainder,
    pick_allotted,
    top_clusters_covered,
    unit,
)
from jobs.recsys.items import Items
from jobs.recsys.playlists import recommend_block
from jobs.warehouse.store import Warehouse
from schemas.tables import arrow_schema
from tests.conftest import make_config

WEEK = "2026-W47"  # cutoff Monday 2026-11-16


def _blob(rng, direction, n, noise=0.05):
    return np.asarray(direction, dtype=np.float64) + noise * rng.standard_normal((n, len(direction)))


def test_two_groups_far_apart_are_two_clusters_with_their_play_shares():
    rng = np.random.default_rng(0)
    a = _blob(rng, np.eye(8)[0], 10)
    b = _blob(rng, np.eye(8)[3], 6)
    plays = np.r_[np.full(10, 1.0), np.full(6, 5.0)]  # b: 30 of 40 plays
    found = cluster_tracks(np.vstack([a, b]), plays, max_clusters=5, seed=1)
    assert len(found.shares) == 2
    # numbered by share: b (30 plays) is cluster 0, a (10 plays) cluster 1; every member where it belongs
    assert found.labels.tolist() == [1] * 10 + [0] * 6
    np.testing.assert_allclose(found.shares, [0.75, 0.25])
    assert found.silhouette > 0.8
    np.testing.assert_allclose(found.centroids @ np.eye(8)[[3, 0]].T, np.eye(2), atol=0.05)


def test_one_tight_group_is_one_cluster():
    rng = np.random.default_rng(1)
    found = cluster_tracks(_blob(rng, np.ones(8), 20), np.ones(20), 5, seed=1)
    assert len(found.shares) == 1
    assert found.labels.tolist() == [0] * 20
    assert found.shares.tolist() == [1.0]
    assert np.isnan(found.silhouette)


def test_three_groups_make_three_clusters_and_a_seed_repeats_them():
    rng = np.random.default_rng(2)
    x = np.vstack([_blob(rng, np.eye(6)[i], 8) for i in (0, 2, 4)])
    plays = np.r_[np.full(8, 3.0), np.full(8, 2.0), np.full(8, 1.0)]
    first = cluster_tracks(x, plays, 5, seed=[13, 7])
    again = cluster_tracks(x, plays, 5, seed=[13, 7])
    assert first.labels.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    np.testing.assert_allclose(first.shares, [0.5, 1 / 3, 1 / 6])
    assert first.labels.tolist() == again.labels.tolist()
    np.testing.assert_array_equal(first.centroids, again.centroids)


def test_too_few_tracks_to_split_are_one_cluster():
    found = cluster_tracks(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([2.0, 1.0]), 5, seed=0)
    assert found.shares.tolist() == [1.0]
    with pytest.raises(ValueError, match="at least one track"):
        cluster_tracks(np.zeros((0, 2)), np.zeros(0), 5, seed=0)


def test_largest_remainder_gives_whole_places_in_proportion():
    assert largest_remainder(np.array([0.5, 0.3, 0.2]), 30).tolist() == [15, 9, 6]
    # 4.5, 3.5, 2.0: floors 4, 3, 2; the one place left goes to the first of the tied remainders
    assert largest_remainder(np.array([0.45, 0.35, 0.2]), 10).tolist() == [5, 3, 2]
    assert largest_remainder(np.array([1, 1, 1]) / 3, 31).tolist() == [11, 10, 10]
    # 27.3, 2.1, 0.6: floors 27, 2, 0; one place left, to the largest remainder (0.6)
    assert largest_remainder(np.array([0.91, 0.07, 0.02]), 30).tolist() == [27, 2, 1]
    assert largest_remainder(np.array([0.6, 0.4]), 0).tolist() == [0, 0]


def test_pick_allotted_takes_each_clusters_best_up_to_its_quota_then_fills_by_score():
    order = np.arange(20)  # items 0..19, best first
    cluster = np.array([0] * 12 + [1] * 6 + [-1] * 2)  # the best 12 are cluster 0
    artist, song = np.arange(20), np.arange(20)
    chosen, met = pick_allotted(order, cluster, np.array([7, 3]), artist, song, k=10, cap=2)
    assert chosen == [0, 1, 2, 3, 4, 5, 6, 12, 13, 14]  # in score order
    assert met
    # quotas for 6 places; the other 4 by score (items 6..9 of cluster 0)
    chosen, met = pick_allotted(order, cluster, np.array([4, 2]), artist, song, k=10, cap=2)
    assert chosen == [0, 1, 2, 3, 4, 5, 6, 7, 12, 13]
    # cluster 1 runs short (6 items): the quota is not met and the best of the rest fill
    chosen, met = pick_allotted(order, cluster, np.array([2, 8]), artist, song, k=10, cap=2)
    assert chosen == [0, 1, 2, 3, 12, 13, 14, 15, 16, 17]
    assert not met
    # the artist cap still holds inside a cluster: items 0..3 share an artist
    capped = np.array([0, 0, 0, 0, *range(1, 17)])
    chosen, _ = pick_allotted(order, cluster, np.array([5, 0]), capped, song, k=5, cap=2)
    assert chosen == [0, 1, 4, 5, 6]


def _two_sound_items():
    """Ten tracks: 0-5 sound like A (audio e0), 6-9 like B (e1); ALS prefers every A track to every B one."""
    n = 10
    audio = np.zeros((n, 4), np.float32)
    audio[:6, 0] = 1.0
    audio[6:, 1] = 1.0
    return Items(
        track_ids=np.array([f"t{i}" for i in range(n)], dtype=object),
        artist_idx=np.arange(n),
        song_key=np.arange(n),
        vectors=np.linspace(1.0, 0.1, n, dtype=np.float32)[:, None],
        popularity=np.zeros(n),
        artist_names=np.array([f"A{i}" for i in range(n)], dtype=object),
        audio=audio,
        has_audio=np.ones(n, bool),
    )


@pytest.mark.parametrize(
    ("strength", "expected"),
    [(0.0, [0, 1, 2, 3, 4]), (1.0, [0, 1, 2, 6, 7]), (0.4, [0, 1, 2, 3, 6])],
)
def test_the_blend_allots_places_to_clusters_by_share_of_listening(strength, expected):
    items = _two_sound_items()
    taste = (np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32), np.array([0.6, 0.4]))
    none = [np.zeros(0, np.int64)]
    blend = MergeConf(k=5, artist_cap=2, cluster_allotment=strength)
    lists = recommend_block(np.array([[1.0]], np.float32), none, none, items, blend, clusters=[taste])
    # 1.0: 3 of 5 places to A (60%), 2 to B; 0.4: 2 places allotted (1 A, 1 B), 3 by score (A)
    assert [p.item for p in lists[0]] == expected


def test_listeners_with_one_cluster_or_none_are_ranked_as_without_allotment():
    items = _two_sound_items()
    none = [np.zeros(0, np.int64)]
    blend = MergeConf(k=5, artist_cap=2, cluster_allotment=1.0)
    one = (np.array([[0, 1, 0, 0]], np.float32), np.array([1.0]))
    for taste in (one, None):
        lists = recommend_block(np.array([[1.0]], np.float32), none, none, items, blend, clusters=[taste])
        assert [p.item for p in lists[0]] == [0, 1, 2, 3, 4]


def test_intra_list_diversity_and_top_cluster_coverage_are_known_answers():
    audio = unit(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float64)).astype(np.float32)
    has = np.array([True, True, True, False])
    assert intra_list_diversity(np.array([0, 2]), audio, has) == pytest.approx(1.0)
    assert intra_list_diversity(np.array([0, 1, 2]), audio, has) == pytest.approx(2 / 3)  # pairs 0, 1, 1
    assert np.isnan(intra_list_diversity(np.array([0, 3]), audio, has))  # one track with audio
    centroids = np.eye(3, dtype=np.float32)
    assert top_clusters_covered(np.array([0, 2]), audio, has, centroids[:2])
    assert not top_clusters_covered(np.array([0, 1]), audio, has, centroids[:2])
    assert not top_clusters_covered(np.array([0, 2, 3]), audio, has, centroids)  # item 3 has no audio


def test_cluster_listeners_rows_follow_the_plays():
    audio = pd.DataFrame(
        {
            "track_id": ["a1", "a2", "a3", "b1", "b2", "b3", "c1"],
            "vector": [[1.0, 0.02 * i, 0.0] for i in range(3)]
            + [[0.0, 0.02 * i, 1.0] for i in range(3)]
            + [[0.0, 1.0, 0.0]],
        }
    )
    counts = pd.DataFrame(
        [("u1", t, n) for t, n in [("a1", 5), ("a2", 4), ("a3", 3), ("b1", 1), ("b2", 1), ("b3", 2)]]
        + [("u2", "a1", 2), ("u2", "a2", 1), ("u2", "zz", 9)],  # zz has no audio vector
        columns=["user_id", "track_id", "plays"],
    )
    rows = taste_clusters.cluster_listeners(counts, audio, TasteClustersConf())
    got = rows[["user_id", "cluster", "clusters", "plays", "tracks", "top_track_id"]].values.tolist()
    assert got == [["u1", 0, 2, 12, 3, "a1"], ["u1", 1, 2, 4, 3, "b3"], ["u2", 0, 1, 3, 2, "a1"]]
    np.testing.assert_allclose(rows["share"], [0.75, 0.25, 1.0])
    assert rows["silhouette"].isna().tolist() == [False, False, True]


def _write_plays(root, rows):
    df = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"])
    df["played_at"] = pd.to_datetime(df["played_at"], utc=True)
    for day, g in df.groupby(df["played_at"].dt.date):
        folder = root / "plays" / f"day={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(g, preserve_index=False), folder / "part-0.parquet")


def test_the_job_writes_the_contract_from_recent_counted_plays_and_skips_without_audio(tmp_path):
    config = make_config(tmp_path / "data", tmp_path / "wh", taste_clusters={"recent_weeks": 2})
    wh = Warehouse(config.paths.warehouse)
    _write_plays(
        config.paths.warehouse,
        [
            ("u1", "a1", "2026-11-10T10:00:00Z", 200_000),
            ("u1", "a1", "2026-11-11T10:00:00Z", 200_000),
            ("u1", "b1", "2026-11-12T10:00:00Z", 200_000),
            ("u1", "b1", "2026-11-13T10:00:00Z", 5_000),  # a skip: not a listen
            ("u1", "c1", "2026-10-01T10:00:00Z", 200_000),  # before the 2 recent weeks
            ("u2", "b1", "2026-11-16T10:00:00Z", 200_000),  # the run week itself: not seen
        ],
    )
    # no audio vectors: a skip that says why and removes an earlier run's partition
    stale = wh.partition("taste_clusters", WEEK)
    stale.mkdir(parents=True)
    metrics = taste_clusters.run(config, WEEK)
    assert metrics == {"week": WEEK, "skipped": f"no audio_vectors for {WEEK}"}
    assert not stale.exists()

    vectors = {"a1": [1.0, 0.0], "b1": [0.0, 1.0], "c1": [0.7, 0.7]}
    wh.write(
        "audio_vectors",
        WEEK,
        pd.DataFrame({"track_id": list(vectors), "vector": list(vectors.values())}),
        made_from={"spectrograms": None},
    )
    metrics = taste_clusters.run(config, WEEK)
    assert metrics["listeners"] == 1 and metrics["clusters_per_listener"] == {"1": 1}
    part = wh.partition("taste_clusters", WEEK)
    assert pq.read_schema(next(part.glob("*.parquet"))) == arrow_schema("taste_clusters")
    table = wh.read("taste_clusters", WEEK)
    assert table[["user_id", "cluster", "clusters", "plays", "tracks", "top_track_id"]].values.tolist() == [
        ["u1", 0, 1, 3, 2, "a1"]
    ]
    assert table["share"].tolist() == [1.0]


def test_recent_counts_keep_the_window_before_the_cutoff():
    cut = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    plays = pd.DataFrame(
        {
            "user_id": ["u", "u", "u", "u"],
            "track_id": ["t1", "t1", "t2", "t3"],
            "played_at": pd.to_datetime(
                ["2026-11-15T23:59:59Z", "2026-11-02T00:00:00Z", "2026-11-01T23:59:59Z", "2026-11-16T00:00:00Z"]
            ),
            "ms_played": [30_000, 40_000, 90_000, 90_000],
        }
    )
    assert taste_clusters.recent_counts(plays, cut, 2, 30_000).values.tolist() == [["u", "t1", 2]]


def test_the_evaluation_compares_allotment_with_its_reference_on_the_same_listeners():
    from jobs.evaluation.offline import allotment_effect
    from jobs.recsys.inputs import Inputs

    items = _two_sound_items()
    taste = (np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32), np.array([0.6, 0.4]))
    inputs = Inputs(
        items,
        pd.DataFrame(),
        set(),
        pd.DataFrame(),
        {},
        {},
        {},
        {},
        pd.DataFrame(),
        [],
        clusters={"u1": taste, "u2": taste},
    )
    rankings = {
        "blend": {"u1": [0, 1, 6], "u2": [0, 6, 7]},
        "blend_no_clusters": {"u1": [0, 1, 2], "u2": [0, 1, 2]},
    }
    truth = {"u1": {6}, "u2": {1, 2}}
    out = allotment_effect(rankings, truth, inputs, k=3)
    # recall: u1 1 vs 0, u2 0 vs 1; both clusters covered with allotment, never without
    assert out["recall@3"]["with"]["mean"] == 0.5 and out["recall@3"]["without"]["mean"] == 0.5
    assert out["recall@3"]["difference"]["mean"] == 0.0
    assert out["top3_clusters_covered_share"]["with"]["mean"] == 1.0
    assert out["top3_clusters_covered_share"]["without"]["mean"] == 0.0
    # diversity: u1 pairs (0,1)=0 (0,6)=1 (1,6)=1 -> 2/3; u2 (0,6)=1 (0,7)=1 (6,7)=0 -> 2/3; without: 0
    assert out["intra_list_diversity"]["with"]["mean"] == pytest.approx(2 / 3, abs=1e-4)
    assert out["intra_list_diversity"]["difference"]["mean"] == pytest.approx(2 / 3, abs=1e-4)
    rankings.pop("blend_no_clusters")
    assert "skipped" in allotment_effect(rankings, truth, inputs, k=3)
