"""Annoy against exact search, as the ``sequence`` source uses it: recall@k, build time, query time.

The index is the one :mod:`jobs.sequence.ann` builds (angular, ``sequence.n_trees``
trees, seeded, one thread); the truth is exact cosine search (one float32 matrix product
per block of queries, :func:`jobs.sequence.word2vec.nearest`). Vectors: the
week's ``song_vectors`` when the warehouse has them (``--week``), and synthetic song
vectors at larger sizes: ``dimension`` Gaussian coordinates around 200 seeded cluster
centres (songs of a taste lie together, as word2vec puts them), since uniform random
vectors are the worst case no real catalog looks like. Queries are other points drawn the
same way (a taste vector is not itself a song). Times are medians of ``repeats`` runs;
the build is timed for the whole index, the queries per query (one at a time, as the
merge asks them).

Run alone::

    python -m bench.annoy_recall [--sizes 1000 10000 100000] [--week 2026-W47] [--audio-sizes 10000 1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from jobs.config import build_config
from jobs.evaluation.metrics import as_matrix
from jobs.sequence.ann import build_index, query
from jobs.sequence.word2vec import nearest


def clustered(n: int, dim: int, seed: int, centres: int = 200) -> np.ndarray:
    """``n`` vectors around ``centres`` seeded cluster centres (spread 0.5 of the centres' scale)."""
    rng = np.random.default_rng(seed)
    mid = rng.normal(size=(centres, dim))
    return (mid[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, dim))).astype(np.float32)


def measure(vectors: np.ndarray, queries: np.ndarray, k: int, n_trees: int, repeats: int, seed: int) -> dict[str, Any]:
    """Recall@k of Annoy against exact search, and the build and per-query times of each (medians)."""
    builds, annoy_q, exact_q = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        index = build_index(vectors, n_trees, seed)
        builds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        approx = [query(index, q, k)[0] for q in queries]
        annoy_q.append((time.perf_counter() - t0) / len(queries))
        t0 = time.perf_counter()
        truth = np.concatenate([nearest(vectors, queries[i : i + 256], k) for i in range(0, len(queries), 256)])
        exact_q.append((time.perf_counter() - t0) / len(queries))
    recall = float(np.mean([len(set(a.tolist()) & set(t.tolist())) / k for a, t in zip(approx, truth, strict=True)]))
    return {
        "items": len(vectors),
        "dimension": int(vectors.shape[1]),
        "n_trees": n_trees,
        "k": k,
        "queries": len(queries),
        "recall_at_k": round(recall, 4),
        "build_seconds": round(statistics.median(builds), 4),
        "annoy_query_ms": round(1e3 * statistics.median(annoy_q), 4),
        "exact_query_ms": round(1e3 * statistics.median(exact_q), 4),
    }


def audio_candidates(n_cold: int, listeners: int = 200, m: int = 300, dim: int = 32, final: int = 30) -> dict[str, Any]:
    """The merge's audio path above ``merge.annoy_min_cold``: Annoy by inner product against the exact product.

    ``n_cold`` never-played tracks (clustered, norms 0.5..2), ``listeners`` user vectors; the
    exact path is one float32 product over all of them plus a partial sort per listener, the
    Annoy path the index build (once a week) plus one query per listener
    (:func:`jobs.recsys.scoring.dot_scores`). Recall: of each listener's exact best ``m``
    (the candidates), and of the exact best ``final`` (a playlist's length) among the ``final``
    best of Annoy's candidates by the same score: what a listener whose list the audio decides
    would miss.
    """
    from jobs.sequence.ann import build_inner_product_index, query_inner_product

    rng = np.random.default_rng(n_cold)
    vectors = clustered(n_cold, dim, seed=n_cold) * rng.uniform(0.5, 2.0, size=(n_cold, 1)).astype(np.float32)
    users = rng.normal(size=(listeners, dim)).astype(np.float32)
    t0 = time.perf_counter()
    scores = users @ vectors.T
    exact = np.argpartition(-scores, m - 1, axis=1)[:, :m]
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = build_inner_product_index(vectors, 20, 0)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    approx = [query_inner_product(index, u, m, 100 * m) for u in users]
    query_s = time.perf_counter() - t0
    recall = float(np.mean([len(set(a.tolist()) & set(e.tolist())) / m for a, e in zip(approx, exact, strict=True)]))
    best = np.argsort(-np.take_along_axis(scores, exact, axis=1), axis=1)[:, :final]
    exact_final = [set(row[b].tolist()) for row, b in zip(exact, best, strict=True)]
    approx_final = [set(a[np.argsort(-scores[r, a])[:final]].tolist()) for r, a in enumerate(approx)]
    recall_final = float(np.mean([len(a & e) / final for a, e in zip(approx_final, exact_final, strict=True)]))
    return {
        "cold_tracks": n_cold,
        "listeners": listeners,
        "candidates": m,
        "exact_ms_per_listener": round(1e3 * exact_s / listeners, 3),
        "annoy_ms_per_listener": round(1e3 * query_s / listeners, 3),
        "annoy_build_seconds": round(build_s, 2),
        "recall": round(recall, 4),
        f"recall_final_{final}": round(recall_final, 4),
    }


def run(
    sizes: list[int],
    k: int = 10,
    queries: int = 1000,
    repeats: int = 3,
    song_vectors: np.ndarray | None = None,
    audio_sizes: list[int] | None = None,
) -> dict[str, Any]:
    """Every size (synthetic) and the week's song vectors when given; the configured dimension and trees.
    The merge's audio candidates (:func:`audio_candidates`) at ``audio_sizes`` never-played tracks
    (default: the sizes of at least 10,000)."""
    conf = build_config({}).sequence
    out: dict[str, Any] = {}
    if song_vectors is not None and len(song_vectors) > k:
        rng = np.random.default_rng(1)
        picks = song_vectors[rng.integers(0, len(song_vectors), queries)]
        q = picks + 0.3 * song_vectors.std(axis=0) * rng.normal(size=picks.shape).astype(np.float32)
        out["song_vectors"] = measure(song_vectors, q.astype(np.float32), k, conf.n_trees, repeats, conf.seed)
    for n in sizes:
        both = clustered(n + queries, conf.dimension, seed=n)  # queries around the same centres
        out[f"synthetic {n:,}"] = measure(both[:n], both[n:], k, conf.n_trees, repeats, conf.seed)
    if audio_sizes is None:
        audio_sizes = [n for n in sizes if n >= 10_000]
    out["audio_candidates"] = [audio_candidates(n) for n in audio_sizes]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--week", help="also measure on this week's song_vectors from the configured warehouse")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audio-sizes", type=int, nargs="+", help="never-played tracks for the merge's audio path")
    args = parser.parse_args(argv)
    songs = None
    if args.week:
        from jobs.config import load_config
        from jobs.warehouse.store import Warehouse

        frame = Warehouse(load_config().paths.warehouse).read_optional("song_vectors", args.week)
        songs = None if frame is None else as_matrix(frame["vector"])
    found = run(args.sizes, repeats=args.repeats, song_vectors=songs, audio_sizes=args.audio_sizes)
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
