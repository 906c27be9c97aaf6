"""Song vectors: word2vec (CBOW, negative sampling) over listening sessions and user-made playlists.

``--week W`` reads every play before ``W``'s cutoff (``plays``), the catalog and, when the
data has them, the playlists in ``<data>/raw/playlists/`` (:mod:`jobs.warehouse.raw_playlists`).
It cuts the plays into sessions (a pause over ``sequence.session_gap_minutes``; skips are
kept in a session but are not listens), keeps the ``sequence.top_n`` most listened songs,
and trains gensim's word2vec on the documents (each session's listens in order, each
playlist by position) with the ``sequence`` section's dimension, window, negatives, min
count, epochs and seed, deterministically (see :mod:`jobs.sequence.word2vec`).

Writes ``song_vectors/week=W/`` (track_id, vector, count) and, in the same partition and
the same atomic swap, the angular Annoy index over those vectors (``_annoy.ann``,
``_annoy.json``; ``sequence.n_trees`` trees, seeded), plus
``run_metrics/week=W/song_vectors.json``: sessions, listens, skips, documents, vocabulary,
training and index times, and Annoy's recall@10 against exact search on up to 500 songs.

With ``sequence.engine: spark`` the plays are cut into sessions on Spark and only the documents
reach this process (:mod:`jobs.sequence.spark_engine`; the same documents, so the same vectors).

Too little to learn from is a skip, not a failure (real data may have few sessions): with
fewer than ``sequence.min_documents`` documents of two or more songs the job writes
``{"skipped": <why>}``, exits 99 (Airflow: skipped) and removes an earlier run's partition of the week; the
taste vectors then skip too and the merge runs without the ``sequence`` source.

Run alone::

    python -m jobs.song_vectors --week 2026-W47
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from jobs.config import Config
from jobs.evaluation.metrics import as_matrix
from jobs.runtime.cli import skipped, week_job, with_spark
from jobs.sequence.ann import build_index, query, save_index
from jobs.sequence.sessions import (
    cut_sessions,
    playlist_documents,
    session_documents,
    session_stats,
    top_tracks,
)
from jobs.sequence.word2vec import nearest, train_song_vectors
from jobs.warehouse.catalog import read_catalog_table
from jobs.warehouse.raw_playlists import PlaylistError, read_playlists
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff
from schemas.columns import MS_PLAYED, PLAYED_AT, SOURCE_FILE, TRACK_ID, USER_ID, VECTOR

log = logging.getLogger("song_vectors")
logging.getLogger("gensim").setLevel(logging.WARNING)  # its per-epoch lines drown the job's own

PLAY_COLUMNS = (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED)


def annoy_recall(vectors: np.ndarray, index: Any, k: int = 10, sample: int = 500, seed: int = 0) -> dict[str, Any]:
    """Recall@k of the index against exact cosine search, for up to ``sample`` songs as queries (seeded)."""
    k = min(k, len(vectors))
    rows = np.random.default_rng(seed).permutation(len(vectors))[:sample]
    exact = nearest(vectors, vectors[rows], k)
    t0 = time.perf_counter()
    approx = [query(index, vectors[r], k)[0] for r in rows]
    seconds = time.perf_counter() - t0
    recall = float(np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact, strict=True)]))
    return {"k": k, "queries": len(rows), "recall": round(recall, 4), "query_ms": round(1e3 * seconds / len(rows), 4)}


def session_documents_of(config: Config, wh: Warehouse, week: str) -> tuple[dict[str, Any], list[str], list[list[str]]]:
    """The plays before the week cut into sessions: their counts, the top N listened songs, the session documents.

    In this process, or on Spark with ``sequence.engine: spark`` (:mod:`jobs.sequence.spark_engine`,
    the same values).
    """
    conf, min_ms = config.sequence, config.als.min_ms_played
    if conf.engine == "spark":
        from jobs.sequence.spark_engine import spark_session_documents

        return with_spark(
            config,
            "dw-song-vectors",
            lambda spark: spark_session_documents(
                wh.spark_plays_before(spark, cutoff(week)), conf.session_gap_minutes, min_ms, conf.top_n
            ),
        )
    plays = wh.plays_before(cutoff(week), columns=PLAY_COLUMNS)
    sessions = cut_sessions(plays, conf.session_gap_minutes, min_ms)
    keep = top_tracks(sessions[~sessions["skipped"]], conf.top_n)
    return session_stats(sessions), keep, session_documents(sessions, set(keep))


def run(config: Config, week: str) -> dict[str, Any]:
    conf = config.sequence
    wh = Warehouse(config.paths.warehouse)
    tracks = read_catalog_table(config.paths.data, "tracks")
    playlists, playlist_counts = read_playlists(Path(config.paths.data), set(tracks[TRACK_ID]))
    if playlist_counts.get("quarantined"):
        first = playlist_counts["quarantine_examples"][0]
        log.warning(
            "playlist rows set aside: %s (first: %s line %s, position %r)",
            playlist_counts["quarantined"],
            first[SOURCE_FILE],
            first["line"],
            first["raw"],
        )
    stats, top, docs_sessions = session_documents_of(config, wh, week)
    keep = set(top)
    docs_playlists = playlist_documents(playlists, keep)
    documents = docs_sessions + docs_playlists
    metrics: dict[str, Any] = {
        "week": week,
        **stats,
        "engine": conf.engine,
        "playlists": playlist_counts,
        "top_n": len(keep),
        "documents": {"sessions": len(docs_sessions), "playlists": len(docs_playlists)},
    }
    if len(documents) < conf.min_documents:
        reason = f"only {len(documents)} documents of 2+ songs (sessions and playlists); need {conf.min_documents}"
        metrics.pop("week")
        return skipped(wh, week, reason, [wh.partition("song_vectors", week)], **metrics)
    t0 = time.perf_counter()
    frame, facts = train_song_vectors(documents, conf)
    train_s = time.perf_counter() - t0
    vectors = as_matrix(frame[VECTOR])
    t0 = time.perf_counter()
    index = build_index(vectors, conf.n_trees, conf.seed)
    build_s = time.perf_counter() - t0
    wh.write("song_vectors", week, frame, extra=lambda folder: save_index(index, folder, conf.n_trees))
    metrics.update(
        {
            "word2vec": {**facts, "songs": len(frame), "train_seconds": round(train_s, 2)},
            "annoy": {"n_trees": conf.n_trees, "build_seconds": round(build_s, 3), **annoy_recall(vectors, index)},
        }
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "song_vectors",
        "word2vec song vectors from sessions and playlists, and their Annoy index.",
        lambda config, week, _: run(config, week),
        argv,
        errors=(PlaylistError,),
        metrics="song_vectors",
    )


if __name__ == "__main__":
    sys.exit(main())
