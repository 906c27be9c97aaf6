"""The song_vectors and taste_vectors jobs on a small hand-made warehouse: outputs, the index beside them, skips."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import song_vectors, taste_vectors
from jobs.sequence.ann import INDEX_FILE, META_FILE, load_index, query
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import shift
from tests.conftest import make_config

WEEK = "2026-W47"  # cutoff Monday 2026-11-16


def _world(tmp_path, sessions=40, playlists=None):
    """Listeners who play songs of one of two groups in 5-song sessions 8 hours apart, before the week."""
    data, wh = tmp_path / "data", tmp_path / "wh"
    (data / "catalog").mkdir(parents=True)
    ids = [f"t{i:02d}" for i in range(12)]
    pd.DataFrame(
        {"track_id": ids, "title": [f"Song {i}" for i in range(12)], "artist_id": "a1", "album": "", "release_date": ""}
    ).assign(duration_ms="", audio_path="").to_csv(data / "catalog" / "tracks.csv", index=False)
    pd.DataFrame({"artist_id": ["a1"], "name": ["Artist"]}).to_csv(data / "catalog" / "artists.csv", index=False)
    rng = np.random.default_rng(0)
    rows, t0 = [], pd.Timestamp("2026-11-02", tz="UTC")
    for s in range(sessions):
        group = ids[:6] if s % 2 else ids[6:]
        start = t0 + pd.Timedelta(hours=8 * s)
        for j, t in enumerate(rng.choice(group, size=5, replace=False)):
            rows.append((f"u{s % 4}", str(t), start + pd.Timedelta(minutes=4 * j), 200_000))
    rows.append(("u0", "t00", pd.Timestamp("2026-11-16 00:00", tz="UTC"), 200_000))  # at the cutoff: not seen
    plays = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"])
    for day, g in plays.groupby(plays["played_at"].dt.date):
        folder = wh / "plays" / f"day={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(g, preserve_index=False), folder / "part-0.parquet")
    if playlists is not None:
        (data / "raw" / "playlists").mkdir(parents=True)
        (data / "raw" / "playlists" / "p.csv").write_text(playlists)
    conf = {"min_count": 1, "dimension": 8, "epochs": 5, "min_documents": 10, "min_sequences": 10}
    return make_config(data, wh, sequence=conf)


def test_song_vectors_job_writes_vectors_with_their_index_and_reruns_replace_them(tmp_path):
    config = _world(tmp_path, playlists="playlist_id,owner,position,track_id\np1,u9,1,t00\np1,u9,2,t11\n")
    metrics = song_vectors.run(config, WEEK)
    assert metrics["documents"] == {"sessions": 40, "playlists": 1}
    assert metrics["sessions"] == 40 and metrics["listens"] == 200  # the play at the cutoff is not read
    assert metrics["playlists"] == {"files": 1, "playlists": 1, "rows": 2, "unknown_tracks": 0}
    wh = Warehouse(config.paths.warehouse)
    frame = wh.read("song_vectors", WEEK)
    assert frame["track_id"].tolist() == [f"t{i:02d}" for i in range(12)]
    assert frame["count"].sum() == 202  # 200 listens + 2 playlist songs
    part = wh.partition("song_vectors", WEEK)
    assert (part / INDEX_FILE).is_file() and json.loads((part / META_FILE).read_text())["items"] == 12
    index = load_index(part, 8, 12)
    assert query(index, frame["vector"][3], 1)[0][0] == 3
    assert metrics["annoy"]["recall"] == 1.0  # 12 songs: exact
    again = song_vectors.run(config, WEEK)  # seeded: a rerun replaces the week with the same vectors
    assert again["word2vec"]["songs"] == 12
    assert np.array_equal(np.stack(wh.read("song_vectors", WEEK)["vector"]), np.stack(frame["vector"]))


def test_too_few_sessions_is_a_skip_that_removes_the_weeks_outputs_and_skips_the_taste_vectors(tmp_path):
    config = _world(tmp_path)
    song_vectors.run(config, WEEK)
    wh = Warehouse(config.paths.warehouse)
    assert wh.has("song_vectors", WEEK)
    few = config.model_copy(update={"sequence": config.sequence.model_copy(update={"min_documents": 41})})
    metrics = song_vectors.run(few, WEEK)
    assert metrics["skipped"] == "only 40 documents of 2+ songs (sessions and playlists); need 41"
    assert not wh.has("song_vectors", WEEK)
    wh.write_metrics("song_vectors", WEEK, metrics)  # what week_job does with the result
    out = taste_vectors.run(few, WEEK)
    assert out == {"week": WEEK, "skipped": f"song_vectors skipped: {metrics['skipped']}"}


@pytest.mark.tf
@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_taste_vectors_job_writes_one_vector_per_active_listener(tmp_path):
    config = _world(tmp_path)
    small = config.sequence.model_copy(update={"units": 4, "rnn_epochs": 1, "holdout_days": 3})
    config = config.model_copy(update={"sequence": small})
    song_vectors.run(config, WEEK)
    metrics = taste_vectors.run(config, WEEK)
    frame = Warehouse(config.paths.warehouse).read("taste_vectors", WEEK)
    assert frame["user_id"].tolist() == ["u0", "u1", "u2", "u3"]
    assert all(len(v) == 8 for v in frame["vector"]) and all(len(r) == 10 for r in frame["recent"])
    assert metrics["pairs"] == 200 - 4 and metrics["taste_vectors"] == 4
    ev = metrics["evaluation"]
    assert set(ev["hit_rate"]) == {"rnn", "mean_of_history", "last_song", "popular"}
    assert ev["pairs"] > 0 and ev["k"] == 10
    assert metrics["warm_start"] == {"full_training": "no earlier week has RNN weights"}
    # the next week starts from these weights, turned onto its own song vectors
    nxt = shift(WEEK, 1)
    song_vectors.run(config, nxt)
    later = taste_vectors.run(config, nxt)
    assert later["warm_start"] == {"from_week": WEEK, "full_train_week": WEEK}
    assert later["training"]["warm_start"] and later["training"]["epochs"] <= config.sequence.warm_epochs
    every_week = config.model_copy(update={"sequence": config.sequence.model_copy(update={"full_retrain_weeks": 1})})
    assert taste_vectors.run(every_week, nxt)["warm_start"]["full_training"].startswith("scheduled full retrain")


@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_the_merge_refuses_taste_vectors_of_an_older_song_vectors_run_naming_the_job(tmp_path):
    from jobs.recsys.inputs import read_sequence
    from jobs.warehouse.store import InconsistentInputError

    config = _world(tmp_path)
    small = config.sequence.model_copy(update={"units": 4, "rnn_epochs": 1, "evaluate": False})
    config = config.model_copy(update={"sequence": small})
    wh = Warehouse(config.paths.warehouse)
    song_vectors.run(config, WEEK)
    taste_vectors.run(config, WEEK)
    song_vectors.run(config, WEEK)  # the same seed: the same vectors, so the taste vectors still match
    assert len(wh.read("taste_vectors", WEEK)) == 4

    other = config.model_copy(update={"sequence": small.model_copy(update={"seed": 14})})
    song_vectors.run(other, WEEK)  # another word2vec space; the taste vectors were trained in the old one
    with pytest.raises(InconsistentInputError, match=r"rerun the taste_vectors job for 2026-W47") as err:
        read_sequence(wh, WEEK, None, {}, 10, [])  # the merge's read, before it touches the items
    assert "computed from song_vectors 2026-W47 with contents" in str(err.value)

    taste_vectors.run(other, WEEK)  # the job it names
    assert len(wh.read("taste_vectors", WEEK)) == 4


def test_lineage_records_a_missing_upstream_and_refuses_one_that_appears_or_goes(tmp_path):
    from jobs.warehouse.store import InconsistentInputError

    wh = Warehouse(tmp_path)
    terms = pd.DataFrame({"artist_id": ["a1"], "term": ["shoegaze"], "term_type": ["np"], "score": [1.0]})
    wh.write("cultural_terms", WEEK, terms, made_from={"pages": wh.digest("pages", WEEK)})  # no pages: None
    assert len(wh.read("cultural_terms", WEEK)) == 1
    pages = pd.DataFrame({"url": ["http://127.0.0.1/a1"], "outcome": ["ok"]}).reindex(columns=_columns("pages"))
    pages["fetched_at"] = pd.Timestamp("2026-11-10", tz="UTC")
    wh.write("pages", WEEK, pages)  # a crawl since
    with pytest.raises(InconsistentInputError, match=r"with no partition, but pages 2026-W47 is now contents"):
        wh.read("cultural_terms", WEEK)
    with pytest.raises(ValueError, match=r"made_from must give the digests of \['pages'\]"):
        wh.write("artist_similarity", WEEK, pd.DataFrame(columns=["artist_id", "neighbor_id", "similarity"]))


def _columns(name):
    from schemas.tables import table

    return [c.name for c in table(name).data_columns]


@pytest.mark.parametrize("text", ["{", "{}", "[]", '{"digest": "x", "made_from": null}'])
def test_a_corrupt_content_stamp_is_refused_naming_the_file_and_the_job(tmp_path, text):
    from jobs.warehouse.store import InconsistentInputError

    wh = Warehouse(tmp_path)
    wh.write("song_vectors", WEEK, pd.DataFrame({"track_id": ["t"], "vector": [[1.0]], "count": [1]}))
    made_from = {"song_vectors": wh.digest("song_vectors", WEEK)}
    wh.write(
        "taste_vectors",
        WEEK,
        pd.DataFrame({"user_id": ["u"], "vector": [[1.0]], "recent": [["t"]]}),
        made_from=made_from,
    )
    stamp = wh.partition("taste_vectors", WEEK) / "_content.json"
    stamp.write_text(text)
    with pytest.raises(InconsistentInputError, match=rf"{stamp}: .*; rerun the taste_vectors job for {WEEK}"):
        wh.read("taste_vectors", WEEK)
    (wh.partition("song_vectors", WEEK) / "_content.json").write_text(text)
    with pytest.raises(InconsistentInputError, match=r"rerun the song_vectors job"):
        wh.digest("song_vectors", WEEK)
