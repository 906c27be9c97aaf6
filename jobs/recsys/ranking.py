"""The ranking contract: what a recommender returns and what a playlist holds.

* :class:`Ranking`: one system's scores for some listeners over some tracks (every score,
  so percentile ranks can be computed), with :meth:`Ranking.top_k` for the best unheard
  tracks. The reference recommenders (:mod:`jobs.recsys.baselines`) return it and the
  evaluation (:mod:`jobs.evaluation.systems`) consumes it.
* :class:`Pick`: one place of a playlist (the item, its blended score, the source that chose
  it and the reason shown); :data:`Playlists` maps a listener to their picks, best first, as
  :func:`jobs.recsys.playlists.playlists` returns them; :func:`item_lists` reduces them to
  :data:`ItemLists`, the per-listener item lists every metric, the offline evaluation and the
  blend studies take.

Pure; reads and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from jobs.evaluation.metrics import top_k_masked


class Pick(NamedTuple):
    """One place of a playlist."""

    item: int  # index into the week's Items
    score: float  # the blended score (0 for a popular fill)
    source: str  # a schemas.vocab source: als, audio, culture, sequence, popular
    reason: str  # the explanation shown to the listener
    parts: tuple[float, ...] = ()  # with options: the score's model, culture, sequence and popularity parts
    options: tuple[tuple[str, str], ...] = ()  # with options: every true (source, reason), the shown one first


Playlists = dict[str, list[Pick]]
# Per listener, item indices (into the week's Items), best first: what every ranking metric takes.
ItemLists = dict[str, list[int]]


def item_lists(playlists: Playlists, source: str | None = None) -> ItemLists:
    """Per listener, the items of their picks in order (only those chosen by ``source``, if given)."""
    return {u: [p.item for p in picks if source is None or p.source == source] for u, picks in playlists.items()}


@dataclass(frozen=True)
class Ranking:
    """One system's scores for some listeners: ``scores[r, j]`` of ``items[j]`` for ``users[r]``.

    Tracks the listener already heard score ``-inf``; tracks outside ``items`` (never played
    in the data the system saw) it cannot rank at all.
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def top_k(self, k: int) -> dict[str, list[str]]:
        """Per listener, the ``k`` best unheard tracks, best first (ties: the smaller id)."""
        if not len(self.users):
            return {}
        idx = top_k_masked(self.scores, ~np.isfinite(self.scores), k)
        out = {}
        for r, uid in enumerate(self.users):
            row = idx[r]
            row = row[np.isfinite(self.scores[r, row])]
            out[str(uid)] = self.items[row].tolist()
        return out
