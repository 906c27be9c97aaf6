"""Scoring: the candidate sources blended on one scale, and the ranking of the scores.

The weights, slots and thresholds are the ``merge`` section of the configuration
(:class:`~jobs.config.MergeConf`). :func:`blend_block` scores every item for a block
of listeners: ALS (user vector times item vector), audio (the same product with the CNN's
vectors of never-played tracks) and culture (:func:`culture_preference`: artists similar
to the listener's most-played ones) and sequence (songs near the listener's taste vector,
:mod:`jobs.sequence.candidates`); :func:`source_of` says which source contributed most,
and :func:`ranked` orders the best items without sorting the whole catalog. Pure.
"""

from __future__ import annotations

import numpy as np

from jobs.config import MergeConf
from jobs.recsys.items import Items
from jobs.sequence.ann import query_inner_product
from jobs.sequence.candidates import sequence_term
from schemas.vocab import BLEND_SOURCES

# The scored sources, in the order the blend codes them (0, 1, 2, 3).
SOURCES = BLEND_SOURCES


def culture_preference(top_artists: np.ndarray, artist_shares: np.ndarray, items: Items) -> np.ndarray:
    """One listener's 0..1 preference per artist: similarity to their most-played artists, by play share.

    The listener's own top artists get 0 (ALS already covers them); all zeros when the
    cultural tables are empty or none of the top artists has neighbours.
    """
    pref = np.zeros(len(items.artist_names))
    if not items.artist_neighbours or not len(top_artists):
        return pref
    for a, share in zip(top_artists, artist_shares, strict=True):
        nbrs, sims = items.artist_neighbours.get(int(a), (np.zeros(0, np.int64), np.zeros(0)))
        np.add.at(pref, nbrs, share * sims)
    pref[top_artists] = 0.0
    best = pref.max(initial=0.0)
    return pref / best if best > 0 else pref


def dot_scores(user_vecs: np.ndarray, items: Items, blend: MergeConf) -> np.ndarray:
    """Every listener's vector times every item's, ``(listeners, items)`` float32: exact, one matrix product.

    Above ``merge.annoy_min_cold`` never-played tracks, those are not all scored: the product
    runs over the played tracks, and each listener's ``merge.audio_candidates`` never-played
    tracks with the largest inner product, found with Annoy (:attr:`Items.cold_index`, 20 trees,
    5x Annoy's default search: recall 0.975 of the exact 300 among 5,000 random vectors), get
    their exact products; the other never-played tracks score 0 (not proposed).
    """
    u = np.asarray(user_vecs, dtype=np.float32)
    cold = items.cold()
    cold_cols = np.flatnonzero(cold)
    if len(cold_cols) <= blend.annoy_min_cold:
        return u @ items.vectors.T
    warm = np.flatnonzero(~cold)
    score = np.zeros((len(u), len(items.track_ids)), np.float32)
    score[:, warm] = u @ items.vectors[warm].T
    for r in range(len(u)):
        found = query_inner_product(items.cold_index, u[r], blend.audio_candidates, 100 * blend.audio_candidates)
        cols = cold_cols[found]
        score[r, cols] = items.vectors[cols] @ u[r]
    return score


def blend_block(
    user_vecs: np.ndarray,
    heard: list[np.ndarray],
    top_artists: list[np.ndarray],
    artist_shares: list[np.ndarray],
    items: Items,
    blend: MergeConf,
    sequence: list[tuple[np.ndarray, ...]] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Blended scores ``(listeners, items)`` (float32) for a block of listeners, and each one's culture preference.

    Scores share one scale: ALS and audio vectors live in the same space, so both dot
    products (negative ones count as 0) are divided by the listener's best ALS score among
    unheard tracks; the culture score (:func:`culture_preference` of the item's artist) is
    0..1, and so is the sequence closeness (``sequence[r]``: item indices and their 0..1
    closeness to the listener's taste vector), weighted by ``w_sequence``, and the popularity
    prior (``merge.w_popularity`` times the item's listeners with a counted play over the most
    listened item's: in the ALS window, or in the last ``merge.popularity_days`` days,
    :attr:`Items.prior`).
    Heard items score -inf; items no source proposes score 0. The cost is one matrix
    product and three passes over the block; the culture part is added only where it is
    non-zero (the items of a few dozen artists per listener).
    """
    n, b = len(items.track_ids), len(user_vecs)
    cold = items.cold()
    cold_cols = np.flatnonzero(cold)
    score = dot_scores(user_vecs, items, blend)  # (b, n)
    rows = np.repeat(np.arange(b), [len(h) for h in heard])
    cols = np.concatenate(heard).astype(np.int64) if b else np.zeros(0, np.int64)
    score[rows, cols] = -np.inf
    saved = score[:, cold_cols]  # the best *warm* unheard score sets the scale
    score[:, cold_cols] = -np.inf
    best = score.max(axis=1, initial=0.0) if n else np.zeros(b, np.float32)
    score[:, cold_cols] = saved
    scale = np.where(best > 0, best, 1.0).astype(np.float32)
    np.maximum(score, 0.0, out=score)
    if blend.w_als == blend.w_audio or (blend.w_als > 0 and len(cold_cols)):
        if blend.w_als != blend.w_audio:
            score[:, cold_cols] *= np.float32(blend.w_audio / blend.w_als)
        score *= (blend.w_als / scale)[:, None].astype(np.float32)
    else:
        score *= np.where(cold, blend.w_audio, blend.w_als).astype(np.float32)
        score /= scale[:, None]
    if blend.w_popularity:  # a popularity prior: 0..w_popularity, never-played tracks get none
        score += popularity_term(items, blend).astype(np.float32)[None, :]
    prefs = []
    by_artist, starts = items.items_by_artist
    for r in range(b):
        pref = culture_preference(top_artists[r], artist_shares[r], items)
        prefs.append(pref)
        if blend.w_culture and pref.any():
            arts = np.flatnonzero(pref)
            idx = np.concatenate([by_artist[starts[a] : starts[a + 1]] for a in arts])
            score[r, idx] += (blend.w_culture * pref[items.artist_idx[idx]]).astype(np.float32)
        if sequence is not None and blend.w_sequence and len(sequence[r][0]):
            score[r, sequence[r][0]] += np.float32(blend.w_sequence) * sequence[r][1].astype(np.float32)
    score[rows, cols] = -np.inf
    return score, prefs


def blend_scores(
    user_vec: np.ndarray,
    heard: np.ndarray,
    top_artists: np.ndarray,
    artist_shares: np.ndarray,
    items: Items,
    blend: MergeConf,
    sequence: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One listener's blended score per item (:func:`blend_block`; -inf for heard items and items no
    source proposes) and the source that contributed most (0 als, 1 audio, 2 culture, 3 sequence)."""
    seq = None if sequence is None else [sequence]
    score, prefs = blend_block(user_vec[None, :], [heard], [top_artists], [artist_shares], items, blend, seq)
    score = np.where(score[0] > 0, score[0], -np.inf)
    idx = np.arange(len(items.track_ids))
    term = None if sequence is None else sequence_term(idx, sequence, blend.w_sequence)
    return score, source_of(idx, score, prefs[0], items, blend, term)


def score_parts(
    idx: np.ndarray,
    score: np.ndarray,
    pref: np.ndarray,
    items: Items,
    blend: MergeConf,
    sequence: np.ndarray | None = None,
) -> np.ndarray:
    """``(4, len(idx))``: the parts of the blended ``score`` of items ``idx``: the model term (ALS, or audio
    for a never-played track), culture, sequence (``sequence``: each item's sequence term,
    :func:`sequence_term`) and the popularity prior; they add up to the score."""
    culture = blend.w_culture * pref[items.artist_idx[idx]]
    seq = np.zeros(len(idx)) if sequence is None else sequence
    prior = popularity_term(items, blend, idx)
    s = score[idx]
    return np.stack([s - culture - seq - prior, culture, seq, prior])


def part_codes(idx: np.ndarray, items: Items) -> np.ndarray:
    """``(4, len(idx))``: the source code of each part of :func:`score_parts` (0 als or 1 audio, 2, 3, 4)."""
    model = np.where(items.cold()[idx], 1, 0)
    return np.stack([model, np.full(len(idx), 2), np.full(len(idx), 3), np.full(len(idx), 4)])


def source_of(
    idx: np.ndarray,
    score: np.ndarray,
    pref: np.ndarray,
    items: Items,
    blend: MergeConf,
    sequence: np.ndarray | None = None,
) -> np.ndarray:
    """Which part contributed most to the blended ``score`` of items ``idx`` (0 als, 1 audio, 2 culture,
    3 sequence, 4 the popularity prior); ``sequence`` is the sequence term of each item
    (:func:`sequence_term`), when there is one. Ties go to the earlier part in that order,
    except that the model term (ALS or audio) wins every tie."""
    parts = score_parts(idx, score, pref, items, blend, sequence)  # the ALS or audio term first
    best = np.argmax(parts, axis=0)  # the first of equal parts
    codes = part_codes(idx, items)
    code = codes[best, np.arange(len(idx))]
    return np.where(np.isfinite(score[idx]), code, codes[0])


def popularity_term(items: Items, blend: MergeConf, idx: np.ndarray | None = None) -> np.ndarray:
    """The popularity prior's part of the score of every item (or of items ``idx``): ``w_popularity`` times
    its listeners over the top's, times :attr:`Items.prior_scale` (a prior few listeners back counts for less)."""
    prior, top = items.prior, items.prior_top
    weight = blend.w_popularity * items.prior_scale
    if idx is not None:
        prior = prior[idx]
    if not weight or top <= 0:
        return np.zeros(len(prior))
    return (weight / top * prior).astype(np.float32).astype(np.float64)


def ranked(score: np.ndarray, depth: int, floor: float = 0.0) -> tuple[np.ndarray, bool]:
    """Items scoring above 0, best first (ties by index): at least the best ``depth`` of them.

    Sorting every item is the cost of a large catalog, so only items scoring at least the
    ``depth``-th best score are sorted (ties at that score included: the order is always a
    prefix of the full order). ``floor`` is a guess at a score no higher than the
    ``depth``-th best (see :func:`score_floors`): when enough items reach it, only those are
    looked at. Returns the order and whether it holds every item above 0.
    """
    if floor > 0:
        cand = np.flatnonzero(score >= floor)
        if len(cand) >= depth:  # the guess was low enough: the depth best are all in cand
            sub, _ = ranked(score[cand], depth)
            return cand[sub], False
    n = len(score)
    threshold = score[np.argpartition(score, n - depth)[n - depth :]].min() if n > depth else 0.0
    complete = not threshold > 0
    cand = np.flatnonzero(score > 0) if complete else np.flatnonzero(score >= threshold)
    return cand[np.lexsort((cand, -score[cand]))], complete
