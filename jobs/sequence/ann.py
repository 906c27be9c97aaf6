"""Annoy: approximate nearest neighbours by angle (cosine), built once a week beside the vectors.

:func:`build_index` builds an angular index over a matrix (item ``i`` = row ``i``) with
``n_trees`` trees and a seed (Annoy's build is then deterministic on one thread);
:func:`save_index` writes it into a folder as ``_annoy.ann`` plus ``_annoy.json`` (dimension,
items, trees, metric), names that table readers skip, so the index travels inside the week's
``song_vectors`` partition and is published with it in one swap; :func:`load_index` maps
it back (and refuses one whose dimension or size is not the table's); :func:`query`
returns neighbours and cosine similarities. Angular distance ``d`` relates to cosine by
``cos = 1 - d**2 / 2``.

:func:`build_inner_product_index` / :func:`query_inner_product` serve the largest inner
products instead (the blend's audio candidates among many never-played tracks): each
vector gets one more coordinate, ``sqrt(max_norm**2 - |v|**2)``, so all have one length and
the nearest by Euclidean distance to ``(u, 0)`` are those with the largest ``u . v``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from jobs.warehouse.store import InconsistentInputError

INDEX_FILE, META_FILE = "_annoy.ann", "_annoy.json"


class AnnoyIndexError(InconsistentInputError):
    """The saved index is missing or does not match the vectors beside it: rerun the song_vectors job.

    An inconsistent input, so every job reports it as one line and exits 2."""


def build_index(vectors: np.ndarray, n_trees: int, seed: int) -> Any:
    """An angular Annoy index over the rows of ``vectors``."""
    from annoy import AnnoyIndex

    index = AnnoyIndex(int(vectors.shape[1]), "angular")
    index.set_seed(int(seed))
    for i, v in enumerate(np.asarray(vectors, dtype=np.float32)):
        index.add_item(i, v.tolist())
    index.build(n_trees, n_jobs=1)
    return index


def save_index(index: Any, folder: Path, n_trees: int) -> None:
    """Write ``_annoy.ann`` and ``_annoy.json`` into ``folder`` (a staged partition)."""
    index.save(str(Path(folder) / INDEX_FILE))
    meta = {"metric": "angular", "dimension": index.f, "items": index.get_n_items(), "n_trees": n_trees}
    (Path(folder) / META_FILE).write_text(json.dumps(meta) + "\n")


def load_index(folder: Path, dimension: int, items: int) -> Any:
    """The index saved in ``folder``, checked against the table it sits beside."""
    from annoy import AnnoyIndex

    folder = Path(folder)
    meta_path = folder / META_FILE
    if not meta_path.is_file() or not (folder / INDEX_FILE).is_file():
        raise AnnoyIndexError(f"{folder}: no Annoy index ({INDEX_FILE}); rerun the song_vectors job")
    meta = json.loads(meta_path.read_text())
    if meta["dimension"] != dimension or meta["items"] != items:
        raise AnnoyIndexError(
            f"{folder}: the index has {meta['items']} items of dimension {meta['dimension']}, the table "
            f"{items} of dimension {dimension}; rerun the song_vectors job"
        )
    index = AnnoyIndex(dimension, "angular")
    index.load(str(folder / INDEX_FILE))
    return index


def query(index: Any, vector: np.ndarray, k: int, search_k: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items nearest ``vector`` by angle, best first, and their cosine similarities."""
    ids, dist = index.get_nns_by_vector(np.asarray(vector, dtype=np.float32).tolist(), k, search_k, True)
    return np.asarray(ids, dtype=np.int64), 1.0 - np.asarray(dist, dtype=np.float64) ** 2 / 2.0


def build_inner_product_index(vectors: np.ndarray, n_trees: int, seed: int) -> Any:
    """A Euclidean Annoy index whose nearest items to ``(u, 0)`` have the largest ``u . v`` (see the module doc)."""
    from annoy import AnnoyIndex

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    extra = np.sqrt(np.maximum(norms.max(initial=0.0) ** 2 - norms**2, 0.0))
    index = AnnoyIndex(int(vectors.shape[1]) + 1, "euclidean")
    index.set_seed(int(seed))
    for i, v in enumerate(np.hstack([vectors, extra[:, None]])):
        index.add_item(i, v.tolist())
    index.build(n_trees, n_jobs=1)
    return index


def query_inner_product(index: Any, vector: np.ndarray, k: int, search_k: int = -1) -> np.ndarray:
    """The (approximately) ``k`` items with the largest inner product with ``vector``, best first.

    ``search_k``: nodes to inspect (Annoy's default, -1, is ``n_trees * k``; more is slower and closer to exact)."""
    query = [*np.asarray(vector, np.float64).tolist(), 0.0]
    return np.asarray(index.get_nns_by_vector(query, k, search_k), dtype=np.int64)
