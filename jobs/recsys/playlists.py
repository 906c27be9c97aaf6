"""Playlists: the blended ranking turned into ``k`` diverse, explained picks per listener.

:func:`recommend_block` is pure and works on one block of listeners (so it can run inside
``mapInPandas`` when listeners outgrow one machine): scores from
:mod:`jobs.recsys.scoring`, the diversity rules of
:mod:`jobs.recsys.diversity`, popular unheard tracks where the sources run short,
and a reason per pick (:mod:`jobs.recsys.explanations`). :func:`playlists` runs it
over every personal listener of a week's :class:`~jobs.recsys.inputs.Inputs`, in
blocks of about 64 MB of scores; :func:`fallback_lists` makes the flagged popular lists of
listeners with a thin history. Nothing is read or written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from jobs.config import MergeConf
from jobs.evaluation.metrics import as_matrix, score_floors
from jobs.recsys.clusters import largest_remainder, nearest_cluster, pick_allotted
from jobs.recsys.diversity import pick_diverse
from jobs.recsys.explanations import DEFAULT_REG, POPULAR_REASON, explain
from jobs.recsys.inputs import Inputs
from jobs.recsys.items import Items
from jobs.recsys.ranking import ItemLists, Pick, Playlists
from jobs.recsys.scoring import SOURCES, blend_block, part_codes, ranked, score_parts, source_of
from jobs.sequence.candidates import NONE, Candidates, sequence_reasons, sequence_term
from schemas import vocab
from schemas.columns import USER_ID, VECTOR


def recommend_block(
    user_vecs: np.ndarray,
    heard: list[np.ndarray],
    top_played: list[np.ndarray],
    items: Items,
    blend: MergeConf,
    top_artists: list[np.ndarray] | None = None,
    artist_shares: list[np.ndarray] | None = None,
    sequence: list[Candidates] | None = None,
    clusters: list[tuple[np.ndarray, np.ndarray] | None] | None = None,
    top_confidence: list[np.ndarray] | None = None,
    als_reg: float = DEFAULT_REG,
    options_share: float | None = None,
) -> list[list[Pick]]:
    """Playlists for a block of listeners: per listener a list of :class:`~jobs.recsys.ranking.Pick`.

    ``heard`` holds per listener the item indices ever played (never recommended);
    ``top_played`` their most-played item indices, best first, and ``top_confidence`` their
    ALS confidence (for explanations: :mod:`jobs.recsys.explanations`, with ``als_reg``);
    ``top_artists``/``artist_shares`` their most-played artists and play shares (for the
    culture source); ``sequence`` their songs near the taste vector (for the sequence source,
    :mod:`jobs.sequence.candidates`). Items are ranked by :func:`blend_block`; a playlist holds ``blend.k``
    of them, at most ``blend.artist_cap`` per artist; at most ``blend.cold_slots`` places go
    to tracks nobody has played, and only when their score reaches ``blend.min_cold_score``.
    Where the sources propose fewer than ``k`` tracks the most popular unheard ones fill the
    rest. A playlist is shorter than ``k`` only when the catalog runs out of unheard tracks
    the caps allow. ``clusters`` holds per listener their taste clusters' ``(centroids,
    shares)`` (or ``None``): with ``blend.cluster_allotment`` above 0 and two or more
    clusters, that share of the ``k`` places is allotted to the clusters by their shares
    (:func:`~jobs.recsys.clusters.pick_allotted`; a candidate belongs to the cluster
    nearest its audio vector) and the rest go by score.
    """
    k, cap = blend.k, blend.artist_cap
    n_items, b = len(items.track_ids), len(user_vecs)
    none = [np.zeros(0, np.int64)] * b
    tops_all = top_artists if top_artists is not None else none
    shares_all = artist_shares if artist_shares is not None else [np.zeros(0)] * b
    cold = items.cold()
    seq_all = sequence if sequence is not None else [NONE] * b
    scores, prefs = blend_block(user_vecs, heard, tops_all, shares_all, items, blend, seq_all)
    if cold.any():  # a never-played track only when its score reaches the threshold
        cold_cols = np.flatnonzero(cold)
        sub = scores[:, cold_cols]
        sub[sub < blend.w_audio * blend.min_cold_score] = -np.inf
        scores[:, cold_cols] = sub
    depth = 10 * k + 100  # enough for the artist cap and cold slots almost always; else the full order
    floors = score_floors(scores, depth)
    places = round(blend.cluster_allotment * k)
    out = []
    for r in range(b):
        score = scores[r]
        taste = clusters[r] if clusters is not None else None
        quotas = None
        if places and taste is not None and len(taste[1]) > 1 and items.audio is not None:
            quotas = largest_remainder(taste[1], places)

        order, complete = ranked(score, depth, floors[r])
        chosen, quotas_met = _pick(order, items, blend, cold, taste, quotas)
        if (len(chosen) < k or not quotas_met) and not complete:
            order, _ = ranked(score, n_items)
            chosen, _ = _pick(order, items, blend, cold, taste, quotas)
        n_blend = len(chosen)
        if len(chosen) < k:
            unheard = np.ones(n_items, dtype=bool)
            unheard[heard[r]] = False
            pop_order = items.popularity_order
            fill = pop_order[unheard[pop_order] & ~cold[pop_order]]
            chosen = pick_diverse(fill, items.artist_idx, items.song_key, k, cap, taken=chosen)
        picked = np.array(chosen[:n_blend], dtype=np.int64)
        term = sequence_term(picked, seq_all[r], blend.w_sequence)
        sources = [SOURCES[int(s)] for s in source_of(picked, score, prefs[r], items, blend, term)]
        conf = top_confidence[r] if top_confidence is not None else None
        why = explain(picked, sources, top_played[r], items, conf, als_reg)
        reasons = sequence_reasons(picked, sources, why, seq_all[r], items)
        rows = [Pick(int(i), float(score[i]), src, why) for i, src, why in zip(picked, sources, reasons, strict=True)]
        if options_share is not None:
            args = (picked, score, prefs[r], items, blend, term, sources, reasons, top_played[r], conf, als_reg)
            rows = true_reasons(rows, *args, seq_all[r], options_share)
        rows += [Pick(int(i), 0.0, vocab.POPULAR, POPULAR_REASON) for i in chosen[n_blend:]]
        out.append(rows)
    return out


def true_reasons(
    rows: list[Pick],
    picked: np.ndarray,
    score: np.ndarray,
    pref: np.ndarray,
    items: Items,
    blend: MergeConf,
    term: np.ndarray | None,
    sources: list[str],
    reasons: list[str],
    anchors: np.ndarray,
    confidence: np.ndarray | None,
    als_reg: float,
    sequence: Candidates,
    share: float,
) -> list[Pick]:
    """``rows`` with their score's parts and true reasons: the shown one, and the reason of the next largest
    part of the score when that part is positive and at least ``share`` of the largest."""
    parts = score_parts(picked, score, pref, items, blend, term)
    codes = part_codes(picked, items)
    order = np.argsort(-parts, axis=0, kind="stable")
    cols = np.arange(len(picked))
    top, second = parts[order[0], cols], parts[order[1], cols]
    has = (second > 0) & (second >= share * top)
    alt = [SOURCES[int(c)] for c in codes[order[1], cols]]
    # the shown source is the largest part's; with ties the model term wins, so the other may be first
    alt = [SOURCES[int(codes[order[0], c])] if a == sources[c] else a for c, a in enumerate(alt)]
    has &= np.array([a != s for a, s in zip(alt, sources, strict=True)], dtype=bool)
    idx = np.flatnonzero(has)
    why = explain(picked[idx], [alt[c] for c in idx], anchors, items, confidence, als_reg)
    why = sequence_reasons(picked[idx], [alt[c] for c in idx], why, sequence, items)
    second_reason = dict(zip(idx.tolist(), zip([alt[c] for c in idx], why, strict=True), strict=True))
    out = []
    for c, row in enumerate(rows):
        options = [(row.source, row.reason)]
        if c in second_reason and second_reason[c][1] != row.reason:
            options.append(second_reason[c])
        out.append(row._replace(parts=tuple(float(v) for v in parts[:, c]), options=tuple(options)))
    return out


def _pick(
    order: np.ndarray,
    items: Items,
    blend: MergeConf,
    cold: np.ndarray,
    taste: tuple[np.ndarray, np.ndarray] | None,
    quotas: np.ndarray | None,
) -> tuple[list[int], bool]:
    """The diversity walk over ``order``; with ``quotas``, allotted to the taste clusters (and whether all were met)."""
    if quotas is None or taste is None or items.audio is None or items.has_audio is None:
        rules = (items.artist_idx, items.song_key, blend.k, blend.artist_cap)
        return pick_diverse(order, *rules, cold=cold, cold_slots=blend.cold_slots), True
    cluster_of = nearest_cluster(order, items.audio, items.has_audio, taste[0])
    return pick_allotted(
        order, cluster_of, quotas, items.artist_idx, items.song_key, blend.k, blend.artist_cap, cold, blend.cold_slots
    )


def select_users(inputs: Inputs, user_ids: list[str] | None = None) -> pd.DataFrame:
    """The personal listeners (``user_ids``: only those), in the inputs' order."""
    users = inputs.users if user_ids is None else inputs.users[inputs.users[USER_ID].isin(user_ids)]
    return users.reset_index(drop=True)


def listener_arguments(inputs: Inputs, users: pd.DataFrame) -> list[tuple]:
    """Per listener, what :func:`recommend_block` takes of theirs: ``(vector, heard, top played, top artists,
    artist shares, sequence candidates, taste clusters, top confidence)``; the rest is the catalog's."""
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    U = as_matrix(users[VECTOR])
    return [
        (
            U[i],
            inputs.heard_by_user.get(u, empty_i),
            inputs.top_by_user.get(u, empty_i),
            inputs.top_artists.get(u, empty_i),
            inputs.shares.get(u, empty_f),
            inputs.sequence.get(u, NONE),
            inputs.clusters.get(u),
            inputs.top_confidence.get(u, empty_f),
        )
        for i, u in enumerate(users[USER_ID])
    ]


def playlists(
    inputs: Inputs,
    blend: MergeConf,
    user_ids: list[str] | None = None,
    options_share: float | None = None,
    block: int | None = None,
) -> Playlists:
    """Blended playlists ``user_id -> [Pick, ...]`` (best first) for personal listeners (``user_ids``: only
    those); with ``options_share``, each pick's parts and true reasons (:func:`recommend_block`), in
    blocks of ``block`` listeners (default :func:`block_size`; a block's size moves the scores' last
    digits, as BLAS tiles the product by it).

    Blocks of listeners go through :func:`recommend_block` here, or through ``inputs.engine``
    when the caller set one: forked processes (``merge.workers``, :mod:`jobs.recsys.pool`; the
    same blocks, the same picks bit for bit) or Spark (``merge.engine: spark``,
    :mod:`jobs.merge.spark_engine`; blocks of ``merge.spark_block``). An engine cuts its own
    blocks: ``block`` is this function's."""
    if inputs.engine is not None:
        return inputs.engine(inputs, blend, user_ids, options_share)
    users = select_users(inputs, user_ids)
    args = listener_arguments(inputs, users)
    out: Playlists = {}
    block = block or block_size(inputs.items)
    for start in range(0, len(users), block):
        ids = users[USER_ID].iloc[start : start + block].tolist()
        lists = recommend_listeners(args[start : start + block], inputs.items, blend, inputs.als_reg, options_share)
        out.update(zip(ids, lists, strict=True))
    return out


def block_size(items: Items) -> int:
    """Listeners per :func:`recommend_block` call: about 64 MB of float32 scores, 16 to 2,048 listeners."""
    return max(16, min(2048, (1 << 24) // max(len(items.track_ids), 1)))


def recommend_listeners(
    args: list[tuple], items: Items, blend: MergeConf, als_reg: float, options_share: float | None
) -> list[list[Pick]]:
    """:func:`recommend_block` for listeners given as :func:`listener_arguments` rows (every engine calls this).

    BLAS runs on one thread: how many threads split a matrix product moves the scores' last
    digits, so a block's picks would depend on the machine's cores and on the engine (the
    pool of :mod:`jobs.recsys.pool` and Spark's executors have a process per core)."""
    cols = list(zip(*args, strict=True))
    with threadpool_limits(1):
        return recommend_block(
            np.stack(cols[0]), list(cols[1]), list(cols[2]), items, blend, list(cols[3]), list(cols[4]),
            list(cols[5]), list(cols[6]), list(cols[7]), als_reg, options_share,
        )  # fmt: skip


def fallback_lists(
    items: Items, heard_by_user: dict[str, np.ndarray], user_ids: list[str], conf: MergeConf
) -> ItemLists:
    """The flagged ``fallback`` list of each of ``user_ids`` (listeners with a thin history): the most
    played tracks of the window they never heard, never-played tracks left out, under the artist cap
    and one version of a song; up to ``conf.k`` item indices each, best first. Pure."""
    cold = items.cold()
    pop_order = np.lexsort((np.arange(len(items.track_ids)), -items.popularity))
    pop_order = pop_order[~cold[pop_order]]
    empty_i = np.zeros(0, dtype=np.int64)
    out = {}
    for uid in user_ids:
        unheard = np.ones(len(items.track_ids), dtype=bool)
        unheard[heard_by_user.get(uid, empty_i)] = False
        out[uid] = pick_diverse(
            pop_order[unheard[pop_order]], items.artist_idx, items.song_key, conf.k, conf.artist_cap
        )
    return out
