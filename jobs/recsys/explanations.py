"""Why a track was picked, in the listener's words (:func:`explain`), from the parts of its score. Pure.

The merge's :func:`~jobs.recsys.scoring.source_of` names the part of a row's blended score
that contributed most (ALS or audio, culture, sequence, or the popularity prior); the
reason follows that part:

* **ALS**: the seed artist whose own contribution to the row is the largest. Implicit ALS
  scores item ``i`` for a listener as ``sum_j c_j * y_i' W y_j`` over the tracks ``j`` they
  played, with confidence ``c_j`` and ``W = (Y'Y + Y_s'(C_s - I)Y_s + reg * n I)^-1``
  (Hu, Koren and Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", 2008,
  section 5): :func:`seed_contributions` computes each seed's term over the listener's most
  played tracks, and the terms of one artist's tracks add up;
* **audio** (a track nobody has played): the listener's most-played track whose vector is
  closest ("Sounds like ...");
* **culture**: the artist's cultural terms ("Fans describe it as ...");
* **popularity prior**: "Popular with listeners this week";
* **sequence**: the recent song the taste vector found it near
  (:func:`jobs.sequence.candidates.sequence_reasons`).
"""

from __future__ import annotations

import numpy as np

from jobs.recsys.items import Items
from schemas import vocab

POPULAR_REASON = "Popular with listeners this week"
DEFAULT_REG = 0.1  # ALS's regParam, scaled by the listener's seeds as Spark scales it by their ratings


def seed_contributions(
    picked: np.ndarray, seeds: np.ndarray, confidence: np.ndarray, items: Items, reg: float = DEFAULT_REG
) -> np.ndarray:
    """``(len(picked), len(seeds))``: each seed track's term in implicit ALS's score of each picked item.

    ``seeds`` are item indices of the listener's played tracks, ``confidence`` their
    ``c_j = 1 + alpha * log(1 + plays / eps)``. The Gram matrix ``Y'Y`` is over every
    played (warm) item; see the module docstring for the formula.
    """
    ys = items.vectors[seeds].astype(np.float64)  # only the rows used: the whole catalog is a copy per listener
    c = np.asarray(confidence, dtype=np.float64)
    k = items.vectors.shape[1]
    A = items.gram + ys.T @ ((c - 1.0)[:, None] * ys) + reg * max(len(seeds), 1) * np.eye(k)
    return (items.vectors[picked].astype(np.float64) @ np.linalg.solve(A, ys.T)) * c[None, :]


def explain(
    picked: np.ndarray,
    sources: list[str],
    anchors: np.ndarray,
    items: Items,
    confidence: np.ndarray | None = None,
    reg: float = DEFAULT_REG,
) -> list[str]:
    """A reason in a listener's words for each picked item, from the part of its score that contributed
    most (``sources``) and the listener's most-played tracks ``anchors`` (with their ALS ``confidence``;
    equal when not given)."""
    anchors = np.asarray(anchors, dtype=np.int64)
    picked = np.asarray(picked, dtype=np.int64)
    closest = np.full(len(picked), -1)
    seed_artist = np.full(len(picked), -1)
    if len(anchors) and len(picked):
        # each product over every pick, as one matrix (its shape sets BLAS's path, so a row's last digits)
        near = [r for r, s in enumerate(sources) if s in (vocab.AUDIO, vocab.CULTURE)]
        if near:  # "Sounds like": the most-played track nearest the pick
            closest[near] = anchors[np.argmax(items.normed[anchors] @ items.normed[picked].T, axis=0)][near]
        als = [r for r, s in enumerate(sources) if s == vocab.ALS]
        warm = ~items.cold()[anchors]
        if als and warm.any():
            given = confidence is not None and len(confidence) == len(anchors)
            conf = np.asarray(confidence, dtype=np.float64) if given else np.ones(len(anchors))
            contrib = seed_contributions(picked, anchors[warm], conf[warm], items, reg)
            seed_artist[als] = top_seed_artist(contrib[als], items.artist_idx[anchors[warm]])
    reasons = []
    for item, source, anchor, seed in zip(
        picked.tolist(), sources, closest.tolist(), seed_artist.tolist(), strict=True
    ):
        artist = items.artist_idx[item]
        if source == vocab.POPULAR:
            reasons.append(POPULAR_REASON)
        elif source == vocab.CULTURE and items.artist_terms is not None and items.artist_terms[artist]:
            reasons.append(f"Fans describe it as {items.artist_terms[artist]}")
        elif source == vocab.ALS and seed >= 0:
            name = items.artist_names[seed]
            reasons.append(f"More from {name}, whom you play" if seed == artist else f"Because you play {name}")
        elif anchor < 0:
            reasons.append("Picked for your taste")
        elif source in (vocab.AUDIO, vocab.CULTURE) and items.titles is not None:
            name = items.artist_names[items.artist_idx[anchor]]
            new = items.is_new is not None and items.is_new[item]
            reasons.append(
                f"{'New release that sounds like' if new else 'Sounds like'} {items.titles[anchor]} by {name}"
            )
        else:
            reasons.append("Picked for your taste")
    return reasons


def top_seed_artist(contrib: np.ndarray, seed_artists: np.ndarray) -> np.ndarray:
    """Per row of ``contrib`` (picks x seeds), the artist whose seeds' terms add up to the most; ties: the
    smaller artist index. The terms of an artist add up in seed order."""
    artists, column = np.unique(seed_artists, return_inverse=True)
    total = np.zeros((len(contrib), len(artists)))
    for j, c in enumerate(column.tolist()):
        total[:, c] += contrib[:, j]
    return artists[np.argmax(total, axis=1)]
