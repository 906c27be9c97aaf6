"""The sequence steps' Spark engine gives the local engine's sessions, documents and listens, in its order."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs import song_vectors, taste_vectors
from jobs.sequence import spark_engine
from jobs.sequence.sessions import cut_sessions, session_documents, session_stats, top_tracks
from jobs.sequence.taste import listen_sequences
from jobs.warehouse.store import Warehouse, active_listeners
from tests.unit.sequence.test_sequence_jobs import WEEK, _world

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # Spark's window functions, 10 s to warm up: make test

GAP, MIN_MS = 30.0, 30_000
T0 = pd.Timestamp("2026-11-02 10:00", tz="UTC")


def _plays() -> pd.DataFrame:
    """Edge cases: a pause of exactly the gap (no split) and one microsecond longer (a split), a skip
    inside a session, two plays at the same instant (track id orders them), a one-song session, a tie
    in the listen counts, a listener with only a skip, and unsorted rows."""
    minute, second = pd.Timedelta(minutes=1), 200_000
    rows = [
        ("u1", "t3", T0, second),
        ("u1", "t1", T0 + 4 * minute, 10_000),  # a skip: keeps the session alive, not a listen
        ("u1", "t2", T0 + 4 * minute, second),  # same instant as the skip; t1 < t2
        # ends at T0 + 4 min + 200 s; the next starts exactly 30 minutes later: the same session
        ("u1", "t4", T0 + 4 * minute + pd.Timedelta(seconds=200) + 30 * minute, second),
        # one microsecond more than the gap after the last end: a new session of one song
        ("u1", "t5", T0 + 4 * minute + pd.Timedelta(seconds=400) + 60 * minute + pd.Timedelta(microseconds=1), second),
        ("u2", "t2", T0 + 2 * minute, second),
        ("u2", "t3", T0 + 6 * minute, second),
        ("u2", "t1", T0 + 10 * minute, second),
        ("u2", "t2", T0 + pd.Timedelta(days=1), second),
        ("u2", "t6", T0 + pd.Timedelta(days=1, minutes=3), second),
        ("u3", "t4", T0 + 5 * minute, 5_000),  # only a skip
        ("u0", "t6", T0 - pd.Timedelta(days=30), second),  # before the ALS window below
        ("u0", "t1", T0 - pd.Timedelta(days=30, minutes=-3), second),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"])
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)  # the order must not matter


@pytest.mark.parametrize("top_n", [2, 3, 10])
def test_sessions_and_documents_are_the_local_engines(spark, top_n):
    plays = _plays()
    local = cut_sessions(plays, GAP, MIN_MS)
    keep = top_tracks(local[~local["skipped"]], top_n)
    expected = (session_stats(local), keep, session_documents(local, set(keep)))
    got = spark_engine.spark_session_documents(spark.createDataFrame(plays), GAP, MIN_MS, top_n)
    assert got == expected
    assert expected[0] == {"sessions": 6, "listens": 11, "skips": 2, "listens_per_session": 1.83}
    if top_n == 10:  # u1's first session keeps t3, t2, t4 (the skip t1 left out); t5 and u2's t6 alone
        assert expected[2] == [["t6", "t1"], ["t3", "t2", "t4"], ["t2", "t3", "t1"], ["t2", "t6"]]


def test_each_play_gets_the_local_session_boundaries_and_positions(spark):
    plays = _plays()
    local = cut_sessions(plays, GAP, MIN_MS)
    got = spark_engine.spark_sessions(spark.createDataFrame(plays), GAP, MIN_MS).toPandas()
    got = got.sort_values(["user_id", "_start_us", "track_id"], ignore_index=True)
    # per listener the sessions count from 0; the local engine numbers them over all listeners
    first = local.groupby("user_id")["session"].transform("min")
    assert (got["session"].to_numpy() == (local["session"] - first).to_numpy()).all()
    assert got["position"].tolist() == local["position"].tolist()
    assert got["skipped"].tolist() == local["skipped"].tolist()


def test_listens_and_active_listeners_are_the_local_engines(spark):
    plays = _plays()
    song_ids = ["t1", "t2", "t4", "t6"]  # the songs with a vector, in the song table's order
    cut = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    listens, active = spark_engine.spark_listens(spark.createDataFrame(plays), MIN_MS, song_ids, cut, 2)
    expected = listen_sequences(cut_sessions(plays, GAP, MIN_MS), song_ids)
    pd.testing.assert_frame_equal(listens, expected, check_dtype=False)
    assert listens["played_at"].dt.tz is not None and listens["song"].dtype == np.int64
    assert active == active_listeners(plays, cut, 2) == {"u1", "u2", "u3"}


def test_both_jobs_give_the_same_vectors_on_either_engine(spark, tmp_path, monkeypatch):
    sessions = []

    def session(_config, name, fn):  # the session fixture's, in place of a new one
        sessions.append(name)
        return fn(spark)

    monkeypatch.setattr(song_vectors, "with_spark", session)
    monkeypatch.setattr(taste_vectors, "with_spark", session)
    out = {}
    for engine in ("local", "spark"):
        config = _world(tmp_path / engine)
        for part in (config.paths.warehouse / "plays").rglob("*.parquet"):  # microseconds, as ingest writes them
            pq.write_table(pq.read_table(part), part, coerce_timestamps="us")
        config = config.model_copy(update={"sequence": config.sequence.model_copy(update={"engine": engine})})
        songs = song_vectors.run(config, WEEK)
        Warehouse(config.paths.warehouse).write_metrics("song_vectors", WEEK, songs)
        tastes = taste_vectors.run(config, WEEK)
        wh = Warehouse(config.paths.warehouse)
        out[engine] = (songs, tastes, wh.read("song_vectors", WEEK), wh.read("taste_vectors", WEEK))
    assert sessions == ["dw-song-vectors", "dw-taste-vectors"]  # only the spark engine starts one
    (ls, lt, lsv, ltv), (ss, st, ssv, stv) = out["local"], out["spark"]
    assert {k: v for k, v in ls.items() if k not in ("engine", "word2vec", "annoy")} == {
        k: v for k, v in ss.items() if k not in ("engine", "word2vec", "annoy")
    }
    assert (ls["engine"], ss["engine"], lt["engine"], st["engine"]) == ("local", "spark", "local", "spark")
    assert lt["listens"] == st["listens"] and lt["pairs"] == st["pairs"] and lt["taste_vectors"] == st["taste_vectors"]
    pd.testing.assert_frame_equal(lsv, ssv)
    pd.testing.assert_frame_equal(ltv, stv)
