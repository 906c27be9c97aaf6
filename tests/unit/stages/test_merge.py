"""Merge: diversity rules, the popular fill, explanations and every publishing check."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs import merge
from jobs.config import MergeConf
from jobs.recsys.diversity import pick_diverse
from jobs.recsys.items import Items, build_items
from jobs.recsys.playlists import recommend_block
from jobs.recsys.scoring import blend_scores
from jobs.validate import check_playlists
from jobs.warehouse.store import MissingInputError, Warehouse


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
        np.array([[1.0]], np.float32),
        heard=[np.array([1])],
        top_played=[np.array([1])],
        items=items,
        blend=MergeConf(w_popularity=0.0, k=4, artist_cap=2),
    )
    got = [(p.item, round(p.score, 3), p.source) for p in lists[0]]
    # t1 heard; t0 ok; t2 ok (artist 0 now at cap 2); t3, t4 next; scores divided by the best unheard (0.9)
    assert got == [(0, 1.0, "als"), (2, 0.778, "als"), (3, 0.667, "als"), (4, 0.556, "als")]
    reasons = [p.reason for p in lists[0]]
    assert reasons[0] == "More from Artist 0, whom you play"
    assert reasons[2] == "Because you play Artist 0"


def test_recommend_block_takes_k_and_the_artist_cap_from_the_blend():
    items = _items([[0.9], [0.8], [0.7], [0.6], [0.5]], artists=[0, 0, 1, 1, 2])
    none = [np.zeros(0, int)]
    lists = recommend_block(
        np.array([[1.0]], np.float32), none, none, items, MergeConf(w_popularity=0.0, k=2, artist_cap=1)
    )
    assert [p.item for p in lists[0]] == [0, 2]  # one per artist, two in all
    lists = recommend_block(
        np.array([[1.0]], np.float32), none, none, items, MergeConf(w_popularity=0.0, k=3, artist_cap=2)
    )
    assert [p.item for p in lists[0]] == [0, 1, 2]


def test_popular_tracks_fill_only_where_als_runs_short():
    # ALS predicts a positive preference for two unheard tracks only; popularity fills the third place
    items = _items([[1.0], [0.5], [0.2], [-0.1], [-0.3]], artists=[0, 1, 2, 3, 4], popularity=[90, 1, 2, 5, 70])
    three = MergeConf(w_popularity=0.0, k=3, artist_cap=2)
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([0])], [np.array([0])], items, three)
    assert [(p.item, p.source) for p in lists[0]] == [(1, "als"), (2, "als"), (4, "popular")]
    assert lists[0][2][3] == "Popular with listeners this week"
    # enough positive ALS scores: no fill
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([], int)], [np.array([], int)], items, three)
    assert [p.source for p in lists[0]] == ["als"] * 3
    # the catalog runs out of unheard tracks: a short list, which the merge skips and counts
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([0, 1, 2])], [np.array([0])], items, three)
    assert [p.item for p in lists[0]] == [4, 3]


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
    blend = MergeConf(w_popularity=0.0, k=4, artist_cap=2, w_audio=1.0, cold_slots=1, min_cold_score=0.5)
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([], int)], [np.array([0])], items, blend)
    got = [(p.item, p.source) for p in lists[0]]
    # t1 and t2 are never played (audio); only one cold slot, so t2 waits and t3, t4 follow
    assert got == [(0, "als"), (1, "audio"), (3, "als"), (4, "als")]
    assert lists[0][1][3] == "New release that sounds like Song 0 by Artist 0"
    # below min_cold_score a never-played track is not proposed at all
    strict = MergeConf(w_popularity=0.0, k=4, artist_cap=2, w_audio=1.0, cold_slots=5, min_cold_score=0.95)
    lists = recommend_block(np.array([[1.0]], np.float32), [np.array([], int)], [np.array([0])], items, strict)
    assert [p.item for p in lists[0]] == [0, 3, 4, 5]


def test_culture_source_brings_artists_similar_to_the_listeners_favourites():
    neighbours = {0: (np.array([5]), np.array([0.9]))}
    items = _blend_items(cold=[False] * 6, neighbours=neighbours, terms=["", "", "", "", "", "hypnotic, warehouse"])
    user = np.array([[1.0]], np.float32)
    plain = recommend_block(
        user,
        [np.array([0])],
        [np.array([0])],
        items,
        MergeConf(w_popularity=0.0, k=3, w_culture=0.0),
        top_artists=[np.array([0])],
        artist_shares=[np.array([1.0])],
    )
    boosted = recommend_block(
        user,
        [np.array([0])],
        [np.array([0])],
        items,
        MergeConf(w_popularity=0.0, k=3, w_culture=2.0),
        top_artists=[np.array([0])],
        artist_shares=[np.array([1.0])],
    )
    assert 5 not in [p.item for p in plain[0]]
    first = boosted[0][0]
    assert first.item == 5 and first.source == "culture"
    assert first.reason == "Fans describe it as hypnotic, warehouse"


def test_blend_scores_exclude_heard_items():
    items = _blend_items(cold=[False] * 6)
    score, source = blend_scores(
        np.array([1.0], np.float32), np.array([0, 1]), np.zeros(0, int), np.zeros(0), items, MergeConf(w_popularity=0.0)
    )
    assert np.isneginf(score[:2]).all() and score[2] == pytest.approx(1.0)  # best unheard is the unit
    assert (source[2:] == 0).all()


def _table(rows, week="2026-W47"):
    df = pd.DataFrame(rows, columns=["user_id", "position", "track_id", "artist_id", "score", "source", "reason"])
    df["week"] = week
    return df


def _good(k=3):
    return _table([("u1", p, f"t{p}", f"a{p}", 1.0 - p / 10, "als", "Because you play X") for p in range(1, k + 1)])


CATALOG = pd.DataFrame(
    [
        ("t1", "One", "a1"),
        ("t2", "Two", "a2"),
        ("t3", "Three", "a3"),
        ("t4", "Four", "a1"),
        ("t5", "Five", "a1"),
        ("t2v", "two ", "a2"),  # another version of t2
        ("t99", "Heard", "a3"),
        ("c1", "C1", "a2"),
        ("c2", "C2", "a3"),
    ],
    columns=["track_id", "title", "artist_id"],
).set_index("track_id")


def test_check_playlists_accepts_a_good_table():
    heard = pd.DataFrame({"user_id": ["u1"], "track_id": ["t99"]})
    assert check_playlists(_good(), heard, {"u1"}, k=3, cap=2, cold_tracks=set(), cold_slots=0, catalog=CATALOG) == []


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (lambda t: t.iloc[:2], "do not have exactly 3 rows"),
        (lambda t: t.assign(position=[1, 2, 4]), "positions are not 1..3"),
        (lambda t: t.assign(track_id=["t1", "t1", "t3"]), "a track appears twice"),
        (lambda t: t.assign(track_id=["t1", "t2", "t99"]), "already played"),
        (lambda t: t.assign(track_id=["t1", "t4", "t5"], artist_id="a1"), "more than 2 tracks by one artist"),
        (lambda t: t.assign(reason=["", "x", "y"]), "empty values in reason"),
        (lambda t: t.assign(reason=["  ", "x", "y"]), "empty values in reason"),
        (lambda t: t.assign(source=["als", "magic", "als"]), "unknown source values"),
        (lambda t: t.assign(artist_id=["a1", "a9", "a3"]), "artist_id differs from the catalog"),
        (lambda t: t.assign(track_id=["t1", "t2", "t404"]), "tracks not in the catalog"),
        (lambda t: t.drop(columns=["reason"]), "columns"),
        (lambda t: t.assign(user_id="u2"), "eligible listeners have no playlist"),
        (lambda t: t.assign(track_id=["t1", "c1", "c2"]), "never-played tracks in a playlist"),
        (lambda t: t.assign(track_id=["t1", "t2", "t2v"], artist_id=["a1", "a2", "a2"]), "two versions of one song"),
        (
            lambda t: t.assign(score=[float("inf"), 0.5, 0.4]),
            "1 scores are not finite numbers (inf or NaN), e.g. u1/t1",
        ),
        (lambda t: t.assign(score=[0.9, float("nan"), 0.4]), "1 scores are not finite numbers"),
    ],
)
def test_check_playlists_catches_each_broken_rule(breaks, message):
    heard = pd.DataFrame({"user_id": ["u1"], "track_id": ["t99"]})
    problems = check_playlists(
        breaks(_good()), heard, {"u1"}, k=3, cap=2, cold_tracks={"c1", "c2"}, cold_slots=1, catalog=CATALOG
    )
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    ("active", "eligible", "excluded", "thin", "message"),
    [
        ({"u1", "u2"}, {"u1"}, {}, "fallback", "have no playlist and no reason"),
        ({"u1"}, {"u1", "u9"}, {}, "fallback", "had no play in the window"),
        ({"u1", "u2"}, {"u1"}, {"u2": "thin_history"}, "fallback", "left out for 'thin_history'"),
        ({"u1", "u2"}, {"u1", "u2"}, {"u2": "too_few_unheard_tracks"}, "fallback", "both in the table and left out"),
    ],
)
def test_check_coverage_accounts_for_every_active_listener(active, eligible, excluded, thin, message):
    from jobs.validate import check_coverage

    problems = check_coverage(active, eligible, excluded, thin)
    assert any(message in p for p in problems), problems


def test_check_coverage_accepts_stated_reasons():
    from jobs.validate import check_coverage

    left_out = {"u2": "thin_history", "u3": "too_few_unheard_tracks"}
    assert check_coverage({"u1", "u2", "u3"}, {"u1"}, left_out, "skip") == []
    assert check_coverage({"u1", "u3"}, {"u1"}, {"u3": "too_few_unheard_tracks"}, "fallback") == []


def test_missing_inputs_name_the_job_to_run(tmp_path):
    with pytest.raises(MissingInputError, match="run the als job for 2026-W47 first"):
        Warehouse(tmp_path).read("user_factors", "2026-W47")
    with pytest.raises(MissingInputError, match="run the ingest job"):
        Warehouse(tmp_path).plays_before_week("2026-W47")
    from jobs import validate
    from tests.conftest import make_config

    with pytest.raises(validate.ValidationError, match="nothing to validate"):
        validate.run(make_config(tmp_path, tmp_path), "2026-W47")


def test_the_merge_job_fails_naming_the_missing_input(tmp_path):
    config, _ = _validate_world(tmp_path, _good())  # a catalog and plays, but no ALS output
    with pytest.raises(
        merge.MergeError, match="user_factors/week=2026-W47: missing; run the als job for 2026-W47 first"
    ):
        merge.run(config, "2026-W47")


def _last_good() -> bytes:
    """The already published week of :func:`_validate_world`: listener u1's three rows, as Parquet bytes."""
    import io

    import pyarrow.parquet as pq

    from schemas.tables import arrow_schema

    schema = arrow_schema("discover_weekly")
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(_good()[schema.names], schema=schema, preserve_index=False), buffer)
    return buffer.getvalue()


LAST_GOOD = _last_good()


def _validate_world(tmp_path, table):
    """A warehouse with plays, an already published week and a pending table for validate.run."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import make_config

    data, wh = tmp_path / "data", tmp_path / "wh"
    (data / "catalog").mkdir(parents=True)
    CATALOG.reset_index().assign(album="x", release_date="2020-01-01", duration_ms=1, audio_path="").to_csv(
        data / "catalog" / "tracks.csv", index=False
    )
    pd.DataFrame({"artist_id": ["a1", "a2", "a3"], "name": ["A1", "A2", "A3"]}).to_csv(
        data / "catalog" / "artists.csv", index=False
    )
    day = wh / "plays" / "day=2026-11-10"
    day.mkdir(parents=True)
    played_at = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC)
    pq.write_table(
        pa.table({"user_id": ["u1"], "track_id": ["t99"], "played_at": [played_at], "ms_played": [200_000]}),
        day / "part-0.parquet",
    )
    published = wh / "discover_weekly" / "week=2026-W47"
    published.mkdir(parents=True)
    (published / "part-0.parquet").write_bytes(LAST_GOOD)
    merge.write_pending(table.drop(columns=["week"]), {"u1"}, wh, "2026-W47", {}, data=data)
    return make_config(data, wh, merge={"k": 3}), published


def test_a_failed_check_publishes_nothing_and_keeps_the_last_good_week(tmp_path):
    from jobs import validate

    bad = _good().assign(track_id=["t1", "t2", "t99"])  # t99 was already played by u1
    config, published = _validate_world(tmp_path, bad)
    with pytest.raises(validate.ValidationError, match="already played"):
        validate.run(config, "2026-W47")
    assert [p.name for p in published.iterdir()] == ["part-0.parquet"]
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD
    assert Warehouse(config.paths.warehouse).pending("2026-W47").exists()  # kept for inspection


def test_validate_publishes_a_good_table_in_place_of_the_old_week(tmp_path):
    import pyarrow.parquet as pq

    from jobs import validate

    config, published = _validate_world(tmp_path, _good())
    metrics = validate.run(config, "2026-W47")
    assert metrics["rows"] == 3 and metrics["active_listeners"] == 1
    got = pq.read_table(published).to_pandas()
    assert got["track_id"].tolist() == ["t1", "t2", "t3"]
    assert not Warehouse(config.paths.warehouse).pending("2026-W47").exists()


def test_validate_accounts_for_every_listener_and_query_finds_the_weeks_catalog_without_data(tmp_path):
    from jobs import validate
    from jobs.tools.query import playlist

    config, _ = _validate_world(tmp_path, _good())
    metrics = validate.run(config, "2026-W47")
    assert metrics["accounting"] == {
        "in_data": 1,
        "active": 1,
        "personal": 1,
        "fallback": 0,
        "without_playlist": {},
    }
    # the user points at the warehouse alone: the configured data folder is elsewhere (the sample world's)
    week, user, rows = playlist(config.paths.warehouse, tmp_path / "nowhere", None, None)
    assert (week, user) == ("2026-W47", "u1") and rows["artist"].tolist() == ["A1", "A2", "A3"]


def test_a_file_schema_off_the_contract_is_not_published(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jobs import validate

    config, published = _validate_world(tmp_path, _good())
    part = Warehouse(config.paths.warehouse).pending("2026-W47") / "table" / "part-0.parquet"
    t = pq.read_table(part)
    t = t.set_column(t.schema.get_field_index("position"), "position", t["position"].cast(pa.int64()))
    pq.write_table(t, part)
    with pytest.raises(validate.ValidationError, match="differs from the contract"):
        validate.run(config, "2026-W47")
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD


def test_blend_weights_come_from_the_configuration_and_its_environment():
    from jobs.config import load_config

    env = {"DW__MERGE__W_AUDIO": "0.25", "DW__MERGE__W_CULTURE": "0.5", "DW__MERGE__COLD_SLOTS": "2"}
    blend = load_config(environ=env).merge
    assert (blend.w_audio, blend.w_culture, blend.cold_slots) == (0.25, 0.5, 2)
    default = load_config(environ={}).merge
    assert (default.k, default.artist_cap, default.w_als, default.min_cold_score) == (30, 2, 1.0, 0.5)


def test_build_items_keys_versions_drops_unreleased_and_flags_new_releases():
    import datetime as dt

    vectors = pd.DataFrame(
        {
            "track_id": ["s1", "s2", "s3", "s4"],
            "vector": [np.ones(2, dtype=np.float32)] * 4,
            "source": ["als", "als", "audio", "audio"],
        }
    )
    tracks = pd.DataFrame(
        {
            "track_id": ["s1", "s2", "s3", "s4"],
            "title": ["Song", " song ", "Fresh", "Tomorrow"],
            "artist_id": ["a1", "a1", "a2", "a2"],
            "release_date": pd.to_datetime(["2020-01-01", "2021-01-01", "2026-11-12", "2026-11-17"]).date,
        }
    )
    artists = pd.DataFrame({"artist_id": ["a1", "a2"], "name": ["One", "Two"]})
    items = build_items(
        vectors,
        pd.Series({"s1": 5.0, "s2": 1.0}),
        tracks,
        artists,
        dt.date(2026, 11, 9),
        None,
        None,
        dt.date(2026, 11, 16),
    )
    assert items.track_ids.tolist() == ["s1", "s2", "s3"]  # s4 is released after the week's Monday
    assert items.song_key[0] == items.song_key[1] != items.song_key[2]  # "Song" and " song " are one song
    assert items.is_new.tolist() == [False, False, True]
    assert items.is_cold.tolist() == [False, False, True]
    assert items.popularity.tolist() == [5.0, 1.0, 0.0]
