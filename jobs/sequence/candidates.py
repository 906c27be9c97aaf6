"""The blend's ``sequence`` source: unheard songs nearest each listener's taste vector, found with Annoy.

:func:`sequence_candidates` takes the week's ``song_vectors`` (with their Annoy index) and
``taste_vectors`` (the RNN's prediction of each listener's next song, in the same space)
and gives, per listener, up to ``merge.sequence_candidates`` unheard songs nearest the
taste vector by angle, each with a 0..1 closeness (cosine, negatives as 0, divided by the
listener's best) and an *anchor*: the song of the listener's recent listens (the history
the prediction came from) nearest it, which the reason names
(:func:`sequence_reasons`: "Because you've been listening to <title> lately"). The blend
adds ``merge.w_sequence`` times the closeness to those songs' scores
(:func:`jobs.recsys.scoring.blend_block`). Pure apart from querying the index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from jobs.evaluation.metrics import as_matrix
from jobs.recsys.items import Items
from jobs.sequence.ann import query
from schemas.columns import TRACK_ID, USER_ID, VECTOR

# One listener's candidates: item indices, 0..1 closeness, the anchor item of each.
Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]
NONE: Candidates = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64))


def sequence_candidates(
    songs: pd.DataFrame,
    index: Any,
    taste: pd.DataFrame,
    items: Items,
    heard_by_user: dict[str, np.ndarray],
    m: int,
) -> dict[str, Candidates]:
    """Per listener of ``taste``, the ``m`` unheard songs nearest their taste vector (see the module docstring).

    ``songs`` is the ``song_vectors`` partition (row ``i`` = item ``i`` of ``index``); songs
    outside ``items`` (no vector in the week's ALS space, or not yet released) are passed over.
    """
    if m <= 0 or taste.empty:
        return {}
    position = pd.Series(np.arange(len(items.track_ids)), index=pd.Index(items.track_ids))
    song_item = songs[TRACK_ID].map(position).fillna(-1).to_numpy(dtype=np.int64)
    item_song = {t: i for i, t in enumerate(songs[TRACK_ID])}
    unit = as_matrix(songs[VECTOR])
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    heard_now = np.zeros(len(items.track_ids), dtype=bool)  # the listener's heard items, set and cleared per listener
    out: dict[str, Candidates] = {}
    for uid, vector, recent in zip(taste[USER_ID], taste[VECTOR], taste["recent"], strict=True):
        heard = heard_by_user.get(uid, np.zeros(0, np.int64))
        rows, close = query(index, np.asarray(vector, np.float32), min(len(songs), m + len(heard)))
        idx = song_item[rows]
        keep = (idx >= 0) & (close > 0)
        heard_now[heard] = True
        keep[keep] = ~heard_now[idx[keep]]
        heard_now[heard] = False
        rows, idx, close = rows[keep][:m], idx[keep][:m], close[keep][:m]
        if not len(idx):
            continue
        anchors_song = np.array([item_song[t] for t in recent if t in item_song], dtype=np.int64)
        anchors_item = song_item[anchors_song]
        anchors_song, anchors_item = anchors_song[anchors_item >= 0], anchors_item[anchors_item >= 0]
        if len(anchors_song):
            nearest = np.argmax(unit[anchors_song] @ unit[rows].T, axis=0)
            anchor = anchors_item[nearest]
        else:
            anchor = np.full(len(idx), -1, np.int64)
        out[uid] = (idx, (close / close.max()).astype(np.float32), anchor)
    return out


def sequence_reasons(
    picked: np.ndarray, sources: list[str], reasons: list[str], cand: Candidates, items: Items
) -> list[str]:
    """``reasons`` with every ``sequence`` pick's replaced by one naming its anchor, a recent song."""
    idx, _, anchor = cand
    where = dict(zip(idx.tolist(), anchor.tolist(), strict=True))
    out = list(reasons)
    for r, (item, source) in enumerate(zip(picked.tolist(), sources, strict=True)):
        if source != "sequence":
            continue
        a = where.get(item, -1)
        if a >= 0 and items.titles is not None:
            out[r] = f"Because you've been listening to {items.titles[a]} lately"
        else:
            out[r] = "Because of what you've been listening to lately"
    return out


def sequence_term(idx: np.ndarray, cand: Candidates, weight: float) -> np.ndarray:
    """``weight`` times the closeness of items ``idx`` to the taste vector (0 for items not among the candidates)."""
    term = np.zeros(len(idx), np.float64)
    if weight and len(cand[0]):
        # a sorted lookup (the candidates' items are distinct): the numbers pandas' reindex and
        # fillna gave before, without building a Series per listener
        items, close = np.asarray(cand[0]), np.asarray(cand[1])
        order = np.argsort(items, kind="stable")
        keys, values = items[order], close[order]
        idx = np.asarray(idx)
        at = np.minimum(np.searchsorted(keys, idx), len(keys) - 1)
        found = values[at].copy()
        found[(keys[at] != idx) | np.isnan(found)] = 0
        term = weight * found.astype(np.float64)
    return term
