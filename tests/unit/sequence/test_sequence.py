"""Sessions, playlists, word2vec song vectors, Annoy and the blend's sequence source (no TensorFlow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.config import MergeConf, SequenceConf
from jobs.evaluation.metrics import as_matrix
from jobs.recsys.items import Items
from jobs.recsys.playlists import recommend_block
from jobs.recsys.scoring import dot_scores
from jobs.sequence.ann import AnnoyIndexError, build_index, load_index, query, save_index
from jobs.sequence.candidates import sequence_candidates
from jobs.sequence.sessions import cut_sessions, playlist_documents, session_documents, top_tracks
from jobs.sequence.word2vec import nearest, train_song_vectors
from jobs.warehouse.raw_playlists import PlaylistError, read_playlists

ROOT = Path(__file__).resolve().parents[3]


def _plays(rows):
    frame = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"])
    frame["played_at"] = pd.to_datetime(frame["played_at"], utc=True)
    return frame


def test_sessions_split_on_pauses_longer_than_the_limit_and_keep_skips():
    plays = _plays(
        [
            ("a", "t5", "2026-01-01 10:45:00", 200_000),
            ("a", "t1", "2026-01-01 10:00:00", 180_000),  # ends 10:03
            ("a", "t2", "2026-01-01 10:04:00", 180_000),  # 1 min pause: same session; ends 10:07
            ("a", "t3", "2026-01-01 10:40:00", 180_000),  # 33 min pause: a new session; ends 10:43
            ("a", "t4", "2026-01-01 10:44:00", 5_000),  # a skip: kept, not a listen
            ("b", "t1", "2026-01-01 10:00:00", 1_800_000),  # ends 10:30
            ("b", "t2", "2026-01-01 11:00:00", 60_000),  # a pause of exactly 30 min does not split
            ("b", "t3", "2026-01-01 11:31:01", 60_000),  # 30 min 1 s after 11:01: splits
        ]
    )
    s = cut_sessions(plays, gap_minutes=30, min_ms_played=30_000)
    got = list(zip(s["user_id"], s["track_id"], s["session"], s["position"], s["skipped"], strict=True))
    assert got == [
        ("a", "t1", 0, 0, False),
        ("a", "t2", 0, 1, False),
        ("a", "t3", 1, 0, False),
        ("a", "t4", 1, 1, True),
        ("a", "t5", 1, 2, False),
        ("b", "t1", 2, 0, False),
        ("b", "t2", 2, 1, False),
        ("b", "t3", 3, 0, False),
    ]
    keep = {"t1", "t2", "t3", "t4", "t5"}
    # the skip is no listen: session 1 reads t3, t5; session 3 has one song and no document
    assert session_documents(s, keep) == [["t1", "t2"], ["t3", "t5"], ["t1", "t2"]]
    assert session_documents(s, {"t1", "t3", "t5"}) == [["t3", "t5"]]
    assert top_tracks(s[~s["skipped"]], 2) == ["t1", "t2"]  # 2 listens each, ties by id; t4 was only skipped


def test_playlists_are_optional_and_read_by_position(tmp_path):
    assert read_playlists(tmp_path, {"t1"}) == (None, {"files": 0})
    folder = tmp_path / "raw" / "playlists"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("Playlist_ID,owner,position,track_id\np1,u1,2,t2\np1,u1,1,t1\np1,u1,3,tX\np2,,1,t3\n")
    (folder / "_ignored.csv").write_text("not,a,playlist\n")
    rows, counts = read_playlists(tmp_path, {"t1", "t2", "t3"})
    assert counts == {"files": 1, "playlists": 2, "rows": 3, "unknown_tracks": 1}
    assert playlist_documents(rows, {"t1", "t2", "t3"}) == [["t1", "t2"]]  # p2 has one song
    assert rows["owner"].isna().tolist() == [False, False, True]


def test_rows_with_a_position_that_is_no_whole_number_in_range_are_set_aside_with_file_and_line(tmp_path):
    folder = tmp_path / "raw" / "playlists"
    folder.mkdir(parents=True)
    text = "playlist_id,position,track_id\np1,1,t1\np1,inf,t2\np1,1e30,t1\np1,x,t2\np1,0,t1\np1,1.5,t2\np1,2.0,t2\n"
    (folder / "b.csv").write_text(text)
    rows, counts = read_playlists(tmp_path, {"t1", "t2"})
    assert rows["position"].tolist() == [1, 2] and rows["track_id"].tolist() == ["t1", "t2"]
    assert counts["rows"] == 2 and counts["quarantined"] == {"bad_position": 5}
    where = [(e["line"], e["raw"], e["reason"]) for e in counts["quarantine_examples"]]
    assert where == [(3, "inf", "bad_position"), (4, "1e30", "bad_position"), (5, "x", "bad_position"),
                     (6, "0", "bad_position"), (7, "1.5", "bad_position")]  # fmt: skip
    assert all(e["source_file"] == str(folder / "b.csv") for e in counts["quarantine_examples"])
    json.dumps(counts)  # goes into the run metrics as it is


@pytest.mark.parametrize(
    "text, message",
    [
        ("playlist_id,position,track_id\np1,1,t1\n,2,t2\n", "line 3: empty playlist_id"),
        ("playlist_id,position,track_id\np1,1,t1\np1,1,t2\n", "line 3: playlist 'p1' has position 1 twice"),
        ("playlist_id,track_id\np1,t1\n", "missing columns ['position']"),
    ],
)
def test_a_bad_playlist_file_fails_naming_file_and_line(tmp_path, text, message):
    folder = tmp_path / "raw" / "playlists"
    folder.mkdir(parents=True)
    (folder / "b.csv").write_text(text)
    with pytest.raises(PlaylistError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_playlists(tmp_path, {"t1", "t2"})


def _grouped_documents():
    """Six groups of eight songs, each document from one group; songs A and B always together, in any group."""
    rng = np.random.default_rng(0)
    groups = [[f"g{g}t{i}" for i in range(8)] for g in range(6)]
    docs = []
    for d in range(600):
        doc = [str(t) for t in rng.choice(groups[d % 6], size=5, replace=False)]
        if d % 4 == 0:
            at = int(rng.integers(0, 6))
            doc[at:at] = ["A", "B"]
        docs.append(doc)
    return docs


W2V = SequenceConf(dimension=16, window=3, min_count=1, epochs=20)


def test_two_songs_always_played_together_are_each_others_nearest_neighbours():
    frame, facts = train_song_vectors(_grouped_documents(), W2V)
    ids = frame["track_id"].tolist()
    assert facts["vocabulary"] == 50 and len(ids) == 50
    first = nearest(as_matrix(frame["vector"]), as_matrix(frame["vector"]), 2)[:, 1]  # [:, 0] is the song itself
    assert ids[first[ids.index("A")]] == "B"
    assert ids[first[ids.index("B")]] == "A"
    # and every other song's nearest is from its own group
    assert all(ids[first[i]][:2] == ids[i][:2] for i in range(len(ids)) if ids[i] not in ("A", "B"))


SCRIPT = """
import sys
from jobs.config import SequenceConf
from tests.unit.sequence.test_sequence import _grouped_documents
from jobs.sequence.word2vec import train_song_vectors
frame, _ = train_song_vectors(_grouped_documents(), SequenceConf(dimension=16, window=3, min_count=1, epochs=5))
sys.stdout.buffer.write(b"".join(v.tobytes() for v in frame["vector"]) + "|".join(frame["track_id"]).encode())
"""


@pytest.mark.slow  # two fresh interpreters importing gensim: 10-30 s on a busy machine
def test_song_vectors_same_in_two_processes():
    """Two processes with different hash salts (PYTHONHASHSEED) give byte-identical vectors."""
    outs = []
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, check=True, cwd=ROOT)
        outs.append(run.stdout)
    assert len(outs[0]) > 50 * 16 * 4
    assert outs[0] == outs[1]


def test_annoy_returns_the_exact_neighbour_on_a_small_set(tmp_path):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    queries = vectors[:50] + 0.05 * rng.normal(size=(50, 8)).astype(np.float32)
    exact = nearest(vectors, queries, 1)[:, 0]
    save_index(build_index(vectors, n_trees=10, seed=1), tmp_path, 10)
    index = load_index(tmp_path, 8, 300)
    got = [query(index, q, 1)[0][0] for q in queries]
    assert got == exact.tolist()
    ids, cos = query(index, vectors[7], 3)
    assert ids[0] == 7 and cos[0] == pytest.approx(1.0, abs=1e-5) and cos[0] >= cos[1] >= cos[2]
    with pytest.raises(AnnoyIndexError, match="rerun the song_vectors job"):
        load_index(tmp_path, 8, 301)


def _items(n):
    return Items(
        track_ids=np.array([f"t{i}" for i in range(n)], dtype=object),
        artist_idx=np.arange(n),
        song_key=np.arange(n),
        vectors=np.full((n, 1), 0.1, np.float32),
        popularity=np.zeros(n),
        artist_names=np.array([f"Artist {a}" for a in range(n)], dtype=object),
        titles=np.array([f"Song {i}" for i in range(n)], dtype=object),
    )


def test_the_sequence_source_takes_unheard_songs_nearest_the_taste_vector_and_names_a_recent_song(tmp_path):
    # songs on a circle: t_i at angle 20 i degrees; the taste vector points at t3
    angles = np.deg2rad(20 * np.arange(8))
    songs = pd.DataFrame(
        {"track_id": [f"t{i}" for i in range(8)], "vector": list(np.c_[np.cos(angles), np.sin(angles)])}
    )
    index = build_index(as_matrix(songs["vector"]), n_trees=5, seed=0)
    taste = pd.DataFrame({"user_id": ["u"], "vector": [songs["vector"][3]], "recent": [["t0", "t6"]]})
    items = _items(8)
    heard = {"u": np.array([0, 3, 6])}
    cand = sequence_candidates(songs, index, taste, items, heard, m=3)
    idx, close, anchor = cand["u"]
    assert idx.tolist() == [2, 4, 1] or idx.tolist() == [4, 2, 1]  # t2 and t4 tie at 20 degrees; t3 is heard
    assert close[0] == pytest.approx(1.0) and close[2] == pytest.approx(np.cos(np.deg2rad(40)) / np.cos(np.deg2rad(20)))
    assert dict(zip(idx.tolist(), anchor.tolist(), strict=True)) == {2: 0, 4: 6, 1: 0}  # the nearer recent song
    blend = MergeConf(k=3, artist_cap=1, w_als=0.2, w_audio=0.2, w_sequence=1.0)
    lists = recommend_block(
        np.array([[1.0]], np.float32), [heard["u"]], [np.zeros(0, int)], items, blend, sequence=[cand["u"]]
    )
    rows = {p.item: (p.source, p.reason) for p in lists[0]}
    assert set(rows) == {1, 2, 4}  # every ALS score ties (0.2 after scaling): the sequence term decides
    assert rows[4] == ("sequence", "Because you've been listening to Song 6 lately")
    assert rows[2] == ("sequence", "Because you've been listening to Song 0 lately")
    assert [p.item for p in lists[0]][2] == 1  # the farthest of the three comes last
    # without the source (w_sequence = 0) the ALS ties fall back to the index order
    plain = recommend_block(
        np.array([[1.0]], np.float32),
        [heard["u"]],
        [np.zeros(0, int)],
        items,
        blend.model_copy(update={"w_sequence": 0.0}),
        sequence=[cand["u"]],
    )
    assert [(p.item, p.source) for p in plain[0]] == [(1, "als"), (2, "als"), (4, "als")]


def test_above_the_configured_size_annoy_finds_the_audio_candidates_by_inner_product():
    rng = np.random.default_rng(4)
    n, warm = 60, 20
    vectors = rng.normal(size=(n, 6)).astype(np.float32) * rng.uniform(0.5, 2.0, size=(n, 1)).astype(np.float32)
    items = Items(
        track_ids=np.array([f"t{i}" for i in range(n)], dtype=object),
        artist_idx=np.arange(n),
        song_key=np.arange(n),
        vectors=vectors,
        popularity=np.zeros(n),
        artist_names=np.array([f"A{i}" for i in range(n)], dtype=object),
        is_cold=np.arange(n) >= warm,  # 40 never-played tracks
    )
    users = rng.normal(size=(5, 6)).astype(np.float32)
    exact = users @ vectors.T
    assert np.array_equal(dot_scores(users, items, MergeConf(annoy_min_cold=40)), exact)  # at the size: exact
    got = dot_scores(users, items, MergeConf(annoy_min_cold=39, audio_candidates=5))
    assert np.array_equal(got[:, :warm], exact[:, :warm])  # played tracks: always every one
    found = 0
    for r in range(5):
        filled = np.flatnonzero(got[r, warm:]) + warm
        assert len(filled) == 5 and np.allclose(got[r, filled], exact[r, filled])  # 5 tracks, exact products
        found += len(set(filled) & set(warm + np.argsort(-exact[r, warm:])[:5]))
    assert found == 25  # the 5 largest products of each: a search of 5x Annoy's default covers these 40 tracks


def test_the_bench_scores_annoys_candidates_on_the_final_list_too():
    from bench.annoy_recall import audio_candidates

    whole = audio_candidates(300, listeners=5, m=300, dim=8)  # the candidates are the whole catalog
    assert whole["recall"] == 1.0 and whole["recall_final_30"] == 1.0
    part = audio_candidates(4000, listeners=10, m=40, dim=8, final=10)
    assert 0.5 < part["recall"] <= 1 and 0.5 < part["recall_final_10"] <= 1


def test_sequence_term_is_the_reindexed_closeness_times_the_weight_in_the_same_numbers():
    from jobs.sequence.candidates import NONE, sequence_term

    rng = np.random.default_rng(3)
    for trial in range(50):
        items = rng.choice(500, size=int(rng.integers(1, 60)), replace=False).astype(np.int64)
        close = rng.random(len(items)).astype(np.float32)
        if trial % 5 == 0:
            close[0] = np.nan  # a closeness that is not a number counts as none
        idx = rng.integers(0, 520, size=int(rng.integers(0, 80)))
        weight = float(rng.random())
        expected = weight * pd.Series(close, index=items).reindex(idx).fillna(0.0).to_numpy(dtype=np.float64)
        got = sequence_term(idx, (items, close, np.zeros(len(items), np.int64)), weight)
        assert got.dtype == np.float64 and np.array_equal(got, expected), trial
    assert np.array_equal(sequence_term(np.array([1, 2]), NONE, 0.5), np.zeros(2))
    assert np.array_equal(sequence_term(np.array([1]), (np.array([1]), np.array([0.5], np.float32), NONE[2]), 0.0), [0])
