"""Taste clusters: a listener's recent tracks grouped by how they sound, and the playlist places
allotted to each group. Pure numpy; reads and writes nothing.

* :func:`cluster_tracks`: spherical k-means (cosine) of a listener's tracks' audio vectors,
  weighted by plays, seeded k-means++ with restarts, for every ``k`` from 1 to
  ``max_clusters``; the ``k`` with the best BIC (:func:`bic`, X-means' spherical Gaussian
  score) wins. BIC, unlike the silhouette, can say "one group": a tight group of tracks has
  a silhouette of 0.3 or more for some split, but no split pays for its parameters.
  Clusters are numbered by share of plays, largest first; the chosen split's play-weighted
  mean silhouette is kept as a description.
* :func:`largest_remainder`: whole places per cluster in proportion to the shares.
* :func:`pick_allotted`: the diversity walk (:func:`~jobs.recsys.diversity.pick_diverse`)
  with each cluster capped at its places, then the remaining places filled by score;
  candidates belong to the cluster whose centroid is nearest their audio vector.
* :func:`intra_list_diversity` and :func:`top_clusters_covered`: the figures the merge and
  the evaluation report (mean pairwise cosine distance of a list in audio space; whether a
  listener's top clusters each have a track in the list), and :func:`allotment_figures`,
  both for lists with and without allotment, with 95% intervals and paired differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.evaluation.stats import bootstrap_mean, paired_difference
from jobs.recsys.diversity import pick_diverse
from jobs.recsys.ranking import ItemLists


@dataclass(frozen=True)
class Clustering:
    """One listener's clusters, numbered by share of plays (0 = the largest)."""

    labels: np.ndarray  # int, per input track: its cluster
    centroids: np.ndarray  # float32 (k, d), unit length
    shares: np.ndarray  # float64 (k,), share of the plays, summing to 1
    silhouette: float  # play-weighted mean silhouette of the chosen k (a description); nan for one cluster


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def kmeans(
    x: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, n_init: int = 4, max_iter: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted spherical k-means of unit rows ``x``: ``(labels, centroids)`` of the best of ``n_init`` starts.

    Starts are k-means++ (each next centre drawn with probability weight x cosine
    distance squared); the best start has the largest weighted similarity to its centres.
    """
    n = len(x)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centres = [int(rng.choice(n, p=weights / weights.sum()))]
        for _ in range(1, k):
            dist = np.clip(1.0 - (x @ x[centres].T).max(axis=1), 0.0, None)
            p = weights * dist**2
            p = p / p.sum() if p.sum() > 0 else np.full(n, 1.0 / n)
            centres.append(int(rng.choice(n, p=p)))
        c = x[centres].copy()
        labels = np.full(n, -1)
        for _ in range(max_iter):
            new = np.argmax(x @ c.T, axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                member = labels == j
                if member.any():
                    c[j] = unit((weights[member, None] * x[member]).sum(axis=0, keepdims=True))[0]
        fit = float((weights * (x * c[labels]).sum(axis=1)).sum())
        if best is None or fit > best[0] + 1e-12:
            best = (fit, labels, c)
    assert best is not None
    return best[1], best[2]


def silhouette(x: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """Play-weighted mean silhouette of a labelling of unit rows ``x`` under cosine distance.

    A track alone in its cluster scores 0 (Rousseeuw 1987); needs at least two clusters.
    """
    dist = np.clip(1.0 - x @ x.T, 0.0, 2.0)
    ks = np.unique(labels)
    member = labels[None, :] == ks[:, None]  # (k, n)
    sums = dist @ member.T  # (n, k): summed distance from each track to each cluster
    sizes = member.sum(axis=1).astype(np.float64)
    own = np.searchsorted(ks, labels)
    n = len(x)
    own_size = sizes[own] - 1
    a = np.divide(sums[np.arange(n), own], own_size, out=np.zeros(n), where=own_size > 0)
    other = sums / sizes[None, :]
    other[np.arange(n), own] = np.inf
    b = other.min(axis=1)
    s = np.divide(b - a, np.maximum(a, b), out=np.zeros(n), where=np.maximum(a, b) > 0)
    s[own_size == 0] = 0.0
    return float(np.average(s, weights=weights))


def bic(x: np.ndarray, labels: np.ndarray) -> float:
    """Bayesian information criterion of a hard partition of ``x`` as a spherical Gaussian mixture (higher is better).

    Pelleg and Moore's X-means score: the log-likelihood of the points under one shared
    variance (the pooled estimate ``SSE / (d (n - k))``, floored at 1e-6) and mixing weights
    ``n_j / n``, less ``p / 2 * log n`` for ``p = (k - 1) + k * d + 1`` parameters. Scored
    on distinct tracks, unweighted, so a track played often is not a cluster of copies.
    """
    n, d = x.shape
    ks = np.unique(labels)
    sse, log_mix = 0.0, 0.0
    for j in ks:
        member = x[labels == j]
        sse += float(((member - member.mean(axis=0)) ** 2).sum())
        log_mix += len(member) * np.log(len(member) / n)
    if len(ks) >= n:
        return -np.inf  # no points left to estimate the variance from
    var = max(sse / (d * (n - len(ks))), 1e-6)
    log_l = log_mix - n * d / 2 * np.log(2 * np.pi * var) - sse / (2 * var)
    return float(log_l - ((len(ks) - 1) + len(ks) * d + 1) / 2 * np.log(n))


def cluster_tracks(
    vectors: np.ndarray, plays: np.ndarray, max_clusters: int, seed: int | Sequence[int], n_init: int = 4
) -> Clustering:
    """Cluster one listener's tracks (audio ``vectors``, ``plays`` each), choosing ``k`` in 1..``max_clusters`` by BIC.

    For each ``k`` (below the number of distinct tracks) spherical k-means weighted by plays
    partitions the tracks; :func:`bic` scores each partition and the best wins (ties to the
    smaller ``k``). Deterministic for ``seed``.
    """
    x = unit(vectors)
    w = np.asarray(plays, dtype=np.float64)
    if len(x) == 0 or w.sum() <= 0:
        raise ValueError("cluster_tracks needs at least one track with plays")
    rng = np.random.default_rng(seed)
    distinct = len(np.unique(np.round(x, 6), axis=0))
    chosen = np.zeros(len(x), dtype=np.int64)
    best = bic(x, chosen)
    for k in range(2, min(max_clusters, distinct - 1) + 1):
        labels, _ = kmeans(x, w, k, rng, n_init)
        if len(np.unique(labels)) < k:
            continue
        score = bic(x, labels)
        if score > best + 1e-9:
            chosen, best = labels, score
    k = int(chosen.max()) + 1
    plays_of = np.bincount(chosen, weights=w, minlength=k)
    order = np.lexsort((np.arange(k), -plays_of))  # by share, ties by first label
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    labels = relabel[chosen]
    centroids = np.vstack([unit((w[labels == j, None] * x[labels == j]).sum(axis=0, keepdims=True)) for j in range(k)])
    s = silhouette(x, labels, w) if k > 1 else float("nan")
    return Clustering(labels, centroids.astype(np.float32), plays_of[order] / plays_of.sum(), s)


def largest_remainder(shares: np.ndarray, places: int) -> np.ndarray:
    """Whole places per cluster summing to ``places``, in proportion to ``shares`` (Hamilton's method).

    Each cluster gets the floor of its exact quota; the places left go to the largest
    remainders, ties to the earlier (larger-share) cluster.
    """
    s = np.asarray(shares, dtype=np.float64)
    if places <= 0 or len(s) == 0 or s.sum() <= 0:
        return np.zeros(len(s), dtype=np.int64)
    exact = s / s.sum() * places
    quotas = np.floor(exact + 1e-9).astype(np.int64)
    left = places - int(quotas.sum())
    if left > 0:
        quotas[np.lexsort((np.arange(len(s)), -(exact - quotas)))[:left]] += 1
    return quotas


def nearest_cluster(items: np.ndarray, audio: np.ndarray, has_audio: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The cluster whose centroid is nearest (cosine) each item's audio vector; -1 for items without one."""
    items = np.asarray(items, dtype=np.int64)
    out = np.full(len(items), -1, dtype=np.int64)
    ok = has_audio[items]
    if ok.any() and len(centroids):
        out[ok] = np.argmax(audio[items[ok]] @ np.asarray(centroids, dtype=np.float32).T, axis=1)
    return out


def pick_allotted(
    order: np.ndarray,
    cluster_of: np.ndarray,
    quotas: np.ndarray,
    artist_idx: np.ndarray,
    song_key: np.ndarray,
    k: int,
    cap: int,
    cold: np.ndarray | None = None,
    cold_slots: int | None = None,
) -> tuple[list[int], bool]:
    """``k`` items of ``order`` (best first) with at most ``quotas[c]`` from cluster ``c``, then filled by score.

    ``cluster_of[j]`` is the cluster of ``order[j]`` (-1: none; such items only fill). The
    first walk takes each cluster's best items up to its quota under the diversity rules;
    a second walk fills the places left with the best items of any cluster. The result is
    in the order of ``order``; the flag says whether every quota was met.
    """
    order = np.asarray(order, dtype=np.int64)
    quotas = np.asarray(quotas, dtype=np.int64)
    taken: list[int] = []
    used = np.zeros(len(quotas), dtype=np.int64)
    for c in range(len(quotas)):  # each cluster's best, under the rules, given what earlier clusters took
        if quotas[c] <= 0:
            continue
        mine = order[cluster_of == c]
        before = len(taken)
        taken = pick_diverse(
            mine, artist_idx, song_key, before + int(quotas[c]), cap, taken=taken, cold=cold, cold_slots=cold_slots
        )
        used[c] = len(taken) - before
    full = pick_diverse(order, artist_idx, song_key, k, cap, taken=taken, cold=cold, cold_slots=cold_slots)
    in_list = np.isin(order, full)
    return [int(i) for i in order[in_list]], bool((used >= quotas).all())


def intra_list_diversity(picked: np.ndarray, audio: np.ndarray, has_audio: np.ndarray) -> float:
    """Mean pairwise cosine distance of the picked items' audio vectors (nan with fewer than two)."""
    picked = np.asarray(picked, dtype=np.int64)
    v = audio[picked[has_audio[picked]]].astype(np.float64)
    n = len(v)
    if n < 2:
        return float("nan")
    sim = v @ v.T
    return float((n * n - sim.sum()) / (n * (n - 1)))  # the diagonal is 1 - 1 = 0


def top_clusters_covered(
    picked: np.ndarray, audio: np.ndarray, has_audio: np.ndarray, centroids: np.ndarray, top: int = 3
) -> bool:
    """Whether each of the listener's ``top`` largest clusters (all of them, when fewer) has a picked item."""
    labels = nearest_cluster(picked, audio, has_audio, centroids)
    return bool(np.isin(np.arange(min(top, len(centroids))), labels).all())


def allotment_figures(
    with_lists: ItemLists,
    without_lists: ItemLists,
    clusters: dict[str, tuple[np.ndarray, np.ndarray]],
    audio: np.ndarray,
    has_audio: np.ndarray,
    top: int = 3,
) -> dict[str, Any]:
    """Intra-list diversity and top-``top`` cluster coverage of two sets of lists of the same listeners, with
    95% intervals (listeners resampled) and the paired interval of each difference (with - without).

    Diversity is over listeners with clusters and two or more listed tracks with audio;
    coverage over listeners with two or more clusters (one cluster is always covered).
    """
    users = sorted(u for u in with_lists if u in without_lists and u in clusters)
    div = np.array(
        [[intra_list_diversity(np.array(d[u]), audio, has_audio) for d in (with_lists, without_lists)] for u in users]
    ).reshape(-1, 2)
    div = div[np.isfinite(div).all(axis=1)]
    multi = [u for u in users if len(clusters[u][1]) > 1]
    cov = np.array(
        [
            [
                top_clusters_covered(np.array(d[u]), audio, has_audio, clusters[u][0], top)
                for d in (with_lists, without_lists)
            ]
            for u in multi
        ],
        dtype=np.float64,
    ).reshape(-1, 2)

    def both(values: np.ndarray) -> dict[str, Any]:
        if not len(values):
            return {"listeners": 0}
        return {
            "listeners": len(values),
            "with": bootstrap_mean(values[:, 0]).as_dict(4),
            "without": bootstrap_mean(values[:, 1]).as_dict(4),
            "difference": paired_difference(values[:, 0], values[:, 1]).as_dict(4),
        }

    return {"intra_list_diversity": both(div), f"top{top}_clusters_covered_share": both(cov)}
