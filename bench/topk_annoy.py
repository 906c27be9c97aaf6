"""Exact blocked top-K against an Annoy index, on a week's ALS vectors.

For every listener: the k best tracks by user vector times item vector. Exact: one
matrix product per block of 2,048 listeners and a partial sort. Annoy: an index over
the item vectors (inner-product search via the usual extra dimension that turns it into
Euclidean search), ``n_trees`` trees, ``search_k`` nodes per query. Reports the time of
each and Annoy's recall against the exact answer.

Run::

    python -m bench.topk_annoy [--week 2026-W47] [--k 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from jobs.config import load_config
from jobs.evaluation.metrics import as_matrix, top_k_masked
from jobs.warehouse.store import Warehouse


def exact(U: np.ndarray, V: np.ndarray, k: int) -> np.ndarray:
    out = []
    for start in range(0, len(U), 2048):
        scores = U[start : start + 2048] @ V.T
        out.append(top_k_masked(scores, np.zeros_like(scores, dtype=bool), k))
    return np.concatenate(out)


def annoy_topk(U: np.ndarray, V: np.ndarray, k: int, n_trees: int, search_k: int) -> tuple[np.ndarray, float]:
    from annoy import AnnoyIndex

    norms = np.linalg.norm(V, axis=1)
    extra = np.sqrt(np.maximum(norms.max() ** 2 - norms**2, 0))
    Vx = np.hstack([V, extra[:, None]])
    t0 = time.perf_counter()
    index = AnnoyIndex(Vx.shape[1], "euclidean")
    for i, v in enumerate(Vx):
        index.add_item(i, v.tolist())
    index.set_seed(42)
    index.build(n_trees, n_jobs=1)
    build = time.perf_counter() - t0
    res = np.array([index.get_nns_by_vector([*u.tolist(), 0.0], k, search_k=search_k) for u in U])
    return res, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", default="2026-W47")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--search-k", type=int, default=-1)
    args = parser.parse_args(argv)
    wh = load_config().paths.warehouse
    U = as_matrix(Warehouse(wh).read("user_factors", args.week)["vector"])
    V = as_matrix(Warehouse(wh).read("item_factors", args.week)["vector"])
    t0 = time.perf_counter()
    truth = exact(U, V, args.k)
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    approx, build_s = annoy_topk(U, V, args.k, args.trees, args.search_k)
    annoy_s = time.perf_counter() - t0
    recall = np.mean([len(set(a) & set(t)) / args.k for a, t in zip(approx, truth, strict=True)])
    print(
        json.dumps(
            {
                "users": len(U),
                "items": len(V),
                "k": args.k,
                "exact_seconds": round(exact_s, 3),
                "annoy_seconds_total": round(annoy_s, 3),
                "annoy_build_seconds": round(build_s, 3),
                "annoy_recall_vs_exact": round(float(recall), 4),
                "trees": args.trees,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
