"""Merge: diversity rules, the popular fill, explanations and every publishing check."""

import numpy as np
import pandas as pd
import pytest

from jobs import merge
from jobs.merge import Blend, Items, blend_scores, pick_diverse, recommend_block
from jobs.validate import check_playlists


def _items(vectors, artists, songs=None, popularity=None):
    n = len(vectors)
    return Items(
        track_ids=np.array([f"t{i}" for i in range(n)], dtype=object),
        artist_idx=np.array(artists),
        song_key=np.array(songs if songs is not None else range(n)),
        vectors=np.array(vectors, dtype=np.float32),
        popularity=np.array(popularity if popularity is not None else [0.0] * n),
        artist_names=np.array([f"Artist {a}" for a in range(max(artists) + 1)], dtype=object),
    )


def test_pick_diverse_caps_artists_and_song_versions():
    artist = np.array([0, 0, 0, 1, 1, 2])
    song = np.array([0, 1, 2, 3, 3, 4])  # items 3 and 4 are two versions of one song
    assert pick_diverse(np.arange(6), artist, song, k=10, cap=2) == [0, 1, 3, 5]
    assert pick_diverse(np.arange(6), artist, song, k=2, cap=2) == [0, 1]
    assert pick_diverse(np.array([5, 4]), artist, song, k=3, cap=2, taken=[3]) == [3, 5]


def test_recommend_block_ranks_unheard_tracks_and_explains_them():
    # one dimension: the user's vector is [1], track scores are their values
    items = _items([[0.9], [0.8], [0.7], [0.6], [0.5], [0.1]], artists=[0, 0, 0, 1, 2, 3])
    lists = recommend_block(
        np.array([[1.0]], np.float32), heard=[np.array([1])], top_played=[np.array([1])], items=items, k=4, cap=2
    )
    got = [(i, round(s, 3), src) for i, s, src, _ in lists[0]]
    # t1 heard; t0 ok; t2 ok (artist 0 now at cap 2); t3, t4 next; scores divided by the best unheard (0.9)
    assert got == [(0, 1.0, "als"), (2, 0.778, "als"), (3, 0.667, "als"), (4, 0.556, "als")]
    reasons = [r for *_, r in lists[0]]
    assert reasons[0] == "More from Artist 0, whom you play"
    assert reasons[2] == "Because you play Artist 0"


def test_popular_tracks_fill_only_where_als_runs_short():
    # ALS predicts a positive preference for two unheard tracks only; popularity fills the third place
    items = _items([[1.0], [0.5], [0.2], [-0.1], [-0.3]], artists=[0, 1, 2, 3, 4], popularity=[90, 1, 2, 5, 70])
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([0])], [np.array([0])], items, k=3, cap=2)
    assert [(i, src) for i, _, src, _ in lists[0]] == [(1, "als"), (2, "als"), (4, "popular")]
    assert lists[0][2][3] == "Popular with listeners this week"
    # enough positive ALS scores: no fill
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([], int)], [np.array([], int)], items, k=3, cap=2)
    assert [src for _, _, src, _ in lists[0]] == ["als"] * 3
    # the catalog runs out of unheard tracks: a short list, which the merge skips and counts
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([0, 1, 2])], [np.array([0])], items, k=3, cap=2)
    assert [i for i, *_ in lists[0]] == [4, 3]


def _blend_items(cold, new=None, neighbours=None, terms=None):
    """Six tracks by six artists on one axis: scores 1.0, 0.9, ... for a user vector [1]."""
    vec = [[1.0], [0.9], [0.8], [0.7], [0.6], [0.05]]
    return Items(
        track_ids=np.array([f"t{i}" for i in range(6)], dtype=object),
        artist_idx=np.arange(6),
        song_key=np.arange(6),
        vectors=np.array(vec, dtype=np.float32),
        popularity=np.arange(6, 0, -1.0),
        artist_names=np.array([f"Artist {a}" for a in range(6)], dtype=object),
        titles=np.array([f"Song {i}" for i in range(6)], dtype=object),
        is_cold=np.array(cold),
        is_new=np.array(new if new is not None else [False] * 6),
        artist_terms=np.array(terms if terms is not None else [""] * 6, dtype=object),
        artist_neighbours=neighbours,
    )


def test_blend_puts_als_and_audio_on_one_scale_and_caps_cold_slots():
    items = _blend_items(cold=[False, True, True, False, False, False], new=[False, True, False, False, False, False])
    blend = Blend(k=4, artist_cap=2, w_audio=1.0, cold_slots=1, min_cold_score=0.5)
    lists = recommend_block(
        np.array([[1.0]], np.float32), [np.array([], int)], [np.array([0])], items, 4, 2, blend=blend
    )
    got = [(i, src) for i, _, src, _ in lists[0]]
    # t1 and t2 are never played (audio); only one cold slot, so t2 waits and t3, t4 follow
    assert got == [(0, "als"), (1, "audio"), (3, "als"), (4, "als")]
    assert lists[0][1][3] == "New release that sounds like Song 0 by Artist 0"
    # below min_cold_score a never-played track is not proposed at all
    strict = Blend(k=4, artist_cap=2, w_audio=1.0, cold_slots=5, min_cold_score=0.95)
    lists = recommend_block(
        np.array([[1.0]], np.float32), [np.array([], int)], [np.array([0])], items, 4, 2, blend=strict
    )
    assert [i for i, *_ in lists[0]] == [0, 3, 4, 5]


def test_culture_source_brings_artists_similar_to_the_listeners_favourites():
    neighbours = {0: (np.array([5]), np.array([0.9]))}
    items = _blend_items(cold=[False] * 6, neighbours=neighbours, terms=["", "", "", "", "", "hypnotic, warehouse"])
    user = np.array([[1.0]], np.float32)
    plain = recommend_block(
        user,
        [np.array([0])],
        [np.array([0])],
        items,
        3,
        2,
        top_artists=[np.array([0])],
        artist_shares=[np.array([1.0])],
        blend=Blend(k=3, w_culture=0.0),
    )
    boosted = recommend_block(
        user,
        [np.array([0])],
        [np.array([0])],
        items,
        3,
        2,
        top_artists=[np.array([0])],
        artist_shares=[np.array([1.0])],
        blend=Blend(k=3, w_culture=2.0),
    )
    assert 5 not in [i for i, *_ in plain[0]]
    first = boosted[0][0]
    assert first[0] == 5 and first[2] == "culture"
    assert first[3] == "Fans describe it as hypnotic, warehouse"


def test_blend_scores_exclude_heard_items():
    items = _blend_items(cold=[False] * 6)
    score, source = blend_scores(
        np.array([1.0], np.float32), np.array([0, 1]), np.zeros(0, int), np.zeros(0), items, Blend()
    )
    assert np.isneginf(score[:2]).all() and score[2] == pytest.approx(1.0)  # best unheard is the unit
    assert (source[2:] == 0).all()


def _table(rows, week="2026-W47"):
    df = pd.DataFrame(rows, columns=["user_id", "position", "track_id", "artist_id", "score", "source", "reason"])
    df["week"] = week
    return df


def _good(k=3):
    return _table([("u1", p, f"t{p}", f"a{p}", 1.0 - p / 10, "als", "Because you play X") for p in range(1, k + 1)])


def test_check_playlists_accepts_a_good_table():
    heard = pd.DataFrame({"user_id": ["u1"], "track_id": ["t99"]})
    titles = pd.Series({"t1": "One", "t2": "Two", "t3": "Three"})
    assert check_playlists(_good(), heard, {"u1"}, k=3, cap=2, cold_tracks=set(), cold_slots=0, titles=titles) == []


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (lambda t: t.iloc[:2], "do not have exactly 3 rows"),
        (lambda t: t.assign(position=[1, 2, 4]), "positions are not 1..3"),
        (lambda t: t.assign(track_id=["t1", "t1", "t3"]), "a track appears twice"),
        (lambda t: t.assign(track_id=["t1", "t2", "t99"]), "already played"),
        (lambda t: t.assign(artist_id=["a1", "a1", "a1"]), "more than 2 tracks by one artist"),
        (lambda t: t.assign(reason=["", "x", "y"]), "empty values in reason"),
        (lambda t: t.drop(columns=["reason"]), "columns"),
        (lambda t: t.assign(user_id="u2"), "eligible listeners have no playlist"),
        (lambda t: t.assign(track_id=["t1", "c1", "c2"]), "never-played tracks in a playlist"),
        (lambda t: t.assign(track_id=["t1", "t2", "t2v"], artist_id=["a1", "a2", "a2"]), "two versions of one song"),
    ],
)
def test_check_playlists_catches_each_broken_rule(breaks, message):
    heard = pd.DataFrame({"user_id": ["u1"], "track_id": ["t99"]})
    titles = pd.Series({"t1": "One", "t2": "Two", "t3": "Three", "t2v": "two ", "c1": "C1", "c2": "C2"})
    problems = check_playlists(
        breaks(_good()), heard, {"u1"}, k=3, cap=2, cold_tracks={"c1", "c2"}, cold_slots=1, titles=titles
    )
    assert any(message in p for p in problems), problems


def test_missing_inputs_name_the_job_to_run(tmp_path):
    with pytest.raises(merge.MergeError, match="run the job that writes user_factors"):
        merge.read_week_table(tmp_path, "user_factors", "2026-W47")
    with pytest.raises(merge.MergeError, match="run the ingest job"):
        merge.read_heard(tmp_path, "2026-W47")
    from jobs import validate
    from tests.conftest import make_config

    with pytest.raises(validate.ValidationError, match="nothing to validate"):
        validate.run(make_config(tmp_path, tmp_path), "2026-W47")
