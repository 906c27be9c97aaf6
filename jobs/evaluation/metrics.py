"""Ranking metrics and top-K selection as plain numpy functions.

The same definitions serve the ALS job's holdout metrics, the merge job and the
benchmarks. ``recs`` is one ranked array of item indices per user; ``truth`` is one
set of relevant item indices per user (users with an empty truth are skipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def as_matrix(vectors: Any) -> np.ndarray:
    """Stack a column (pandas Series or list) of equal-length vectors into a float32 matrix."""
    values = vectors.to_numpy() if hasattr(vectors, "to_numpy") else list(vectors)
    if len(values) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(values).astype(np.float32)


def _pairs(recs: Sequence[np.ndarray], truth: Sequence[set[int]]) -> list[tuple[np.ndarray, set[int]]]:
    if len(recs) != len(truth):
        raise ValueError(f"recs has {len(recs)} users but truth has {len(truth)}")
    return [(np.asarray(r), t) for r, t in zip(recs, truth, strict=True) if t]


def precision_at_k(recs: Sequence[np.ndarray], truth: Sequence[set[int]], k: int) -> float:
    """Mean over users of |top-k ∩ relevant| / k."""
    pairs = _pairs(recs, truth)
    if not pairs:
        return float("nan")
    return float(np.mean([len(set(r[:k].tolist()) & t) / k for r, t in pairs]))


def recall_at_k(recs: Sequence[np.ndarray], truth: Sequence[set[int]], k: int) -> float:
    """Mean over users of |top-k ∩ relevant| / min(k, |relevant|) (capped so 1.0 is reachable)."""
    pairs = _pairs(recs, truth)
    if not pairs:
        return float("nan")
    return float(np.mean([len(set(r[:k].tolist()) & t) / min(k, len(t)) for r, t in pairs]))


def ndcg_at_k(recs: Sequence[np.ndarray], truth: Sequence[set[int]], k: int) -> float:
    """Mean binary NDCG@k: DCG = sum 1/log2(rank+1) over hits, divided by the ideal DCG."""
    pairs = _pairs(recs, truth)
    if not pairs:
        return float("nan")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for r, t in pairs:
        gains = np.array([1.0 if i in t else 0.0 for i in r[:k].tolist()])
        dcg = float((gains * discounts[: len(gains)]).sum())
        idcg = float(discounts[: min(k, len(t))].sum())
        scores.append(dcg / idcg)
    return float(np.mean(scores))


def percentile_ranks(scores: np.ndarray, candidates: np.ndarray, targets: Sequence[int]) -> list[float]:
    """Percentile rank (0 = top, 1 = bottom) of each target among the candidate items.

    ``scores`` holds one user's score per item; ``candidates`` is a boolean mask of the
    items that user could be recommended (targets included). Ties count half.
    """
    cand_scores = scores[candidates]
    n = len(cand_scores)
    out = []
    for t in targets:
        s = scores[t]
        above = float((cand_scores > s).sum())
        ties = float((cand_scores == s).sum()) - 1.0
        out.append((above + ties / 2) / max(n - 1, 1))
    return out


def best_first(scores: np.ndarray) -> np.ndarray:
    """Item indices by descending score, ties by the lower index (:func:`top_k_masked`'s order)."""
    return np.lexsort((np.arange(len(scores)), -scores))


def top_k_in_order(order: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    """:func:`top_k_masked` of one row whose scores rank the items as ``order`` (:func:`best_first`),
    skipping the ``excluded`` item indices: the same indices, without a pass over the catalog.
    When fewer than k items remain, the excluded ones follow by index, as their -inf ties do there."""
    k = min(k, len(order))
    head = order[: k + len(excluded)]
    kept = head[~np.isin(head, excluded)][:k]
    if len(kept) < k:
        kept = np.concatenate([kept, np.sort(excluded)[: k - len(kept)]])
    return kept


def percentile_ranks_sorted(
    scores: np.ndarray, ascending: np.ndarray, excluded: np.ndarray, targets: Sequence[int]
) -> list[float]:
    """:func:`percentile_ranks` with every item a candidate but the ``excluded`` indices, given the
    scores sorted (``ascending``): the same counts, by two binary searches per target and a pass
    over the excluded items instead of two passes over the catalog."""
    out_scores = scores[excluded]
    n = len(scores) - len(excluded)
    out = []
    for t in targets:
        s = scores[t]
        low, high = np.searchsorted(ascending, s, "left"), np.searchsorted(ascending, s, "right")
        above = float(len(scores) - high - int((out_scores > s).sum()))
        ties = float(high - low - int((out_scores == s).sum())) - 1.0
        out.append((above + ties / 2) / max(n - 1, 1))
    return out


def top_k_masked(scores: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores per row, best first, skipping ``exclude`` (bool, same shape).

    Ties are broken by the lower index, so the result is deterministic.
    """
    scores = np.where(exclude, -np.inf, scores)
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k == 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    # the k-th best value per row; everything above it is in, ties at it go by index
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    above = scores > kth
    equal = scores == kth
    need = k - above.sum(axis=1, keepdims=True)
    chosen = above | equal
    # rows with more ties at the k-th value than places left keep the lower indices
    crowded = np.flatnonzero(equal.sum(axis=1, keepdims=True) > need)
    if len(crowded):
        ties = equal[crowded]
        chosen[crowded] = above[crowded] | (ties & (np.cumsum(ties, axis=1) <= need[crowded]))
    idx = np.nonzero(chosen)[1].reshape(n_rows, k)
    rows = np.arange(n_rows)[:, None]
    order = np.lexsort((idx, -scores[rows, idx]), axis=1)
    return idx[rows, order]


def score_floors(scores: np.ndarray, depth: int, sample: int = 4096) -> np.ndarray:
    """Per row, a score that about ``3 * depth`` items reach: a high quantile of a fixed sample of columns.

    Only a guess, which the caller checks (enough items must reach it, else it looks at all);
    0 means no guess (a catalog too small for sampling to pay).
    """
    b, n = scores.shape
    if n < 8 * depth or n <= sample:
        return np.zeros(b, dtype=np.float32)
    cols = np.linspace(0, n - 1, sample).astype(np.int64)
    q = min(sample - 1, int(3 * depth * sample / n) + 16)
    part = np.partition(scores[:, cols], sample - 1 - q, axis=1)
    return part[:, sample - 1 - q]


def top_k_dot(U: np.ndarray, V: np.ndarray, k: int, block_cells: int = 1 << 23) -> tuple[np.ndarray, np.ndarray]:
    """For every row of ``U``, the ``k`` columns of ``V`` with the largest dot product, best first.

    Exact, in blocks of rows sized so a block's scores hold about ``block_cells`` numbers (one
    matrix product per block, memory bounded whatever the size); per row only the items that
    reach a sampled score floor (:func:`score_floors`) are partially sorted. Returns
    ``(indices, scores)``, both ``(len(U), min(k, len(V)))``; equal scores go by lower index
    within the k kept.
    """
    n = len(V)
    k = min(k, n)
    idx_out = np.zeros((len(U), k), dtype=np.int64)
    val_out = np.zeros((len(U), k), dtype=np.float32)
    if k == 0:
        return idx_out, val_out
    step = max(1, block_cells // max(n, 1))
    Vt = np.ascontiguousarray(np.asarray(V, dtype=np.float32).T)
    for start in range(0, len(U), step):
        scores = np.asarray(U[start : start + step], dtype=np.float32) @ Vt
        floors = score_floors(scores, k)
        for r, row in enumerate(scores):
            # the row's k best: among the items reaching its sampled floor when enough do (a few
            # hundred instead of the whole catalog), else among all
            cand = np.flatnonzero(row >= floors[r]) if floors[r] != 0 else None
            if cand is None or len(cand) < k:
                cand = np.arange(n)
            vals = row[cand]
            if k < len(cand):
                keep = np.argpartition(vals, len(cand) - k)[len(cand) - k :]
                cand, vals = cand[keep], vals[keep]
            order = np.lexsort((cand, -vals))
            idx_out[start + r] = cand[order]
            val_out[start + r] = vals[order]
    return idx_out, val_out


def auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative (ties half)."""
    from scipy.stats import rankdata

    n_pos = int(positives.sum())
    n_neg = len(scores) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores, method="average")  # ties share their mean rank
    rank_sum = float(ranks[positives].sum())
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(ranked: np.ndarray, relevant: set[int]) -> float:
    """Average precision of a full ranking: mean of precision@i at each relevant item's rank i."""
    if not relevant:
        return float("nan")
    hits, total = 0, 0.0
    for i, item in enumerate(ranked.tolist(), start=1):
        if item in relevant:
            hits += 1
            total += hits / i
    return total / len(relevant)
