"""The offline evaluation's parts: a week's truth, the reference rankings and the scores per listener.

Pure functions over the week's :class:`~jobs.recsys.inputs.Inputs` and plain values, apart
from :func:`first_plays` and :func:`popular_scores`, which read plays through the
:class:`~jobs.warehouse.store.Warehouse` they are given. Used by the ``evaluate`` stage
(:mod:`jobs.evaluate`) and the blend-setting study, so both score the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config, MergeConf
from jobs.evaluation.metrics import as_matrix, ndcg_at_k, percentile_ranks, precision_at_k, recall_at_k
from jobs.evaluation.stats import bootstrap_mean, paired_difference
from jobs.evaluation.truth import counted_pairs, first_time_pairs, week_plays
from jobs.recsys.baselines import RECENT_WEEKS, popularity_scores, recent_listeners, track_listeners
from jobs.recsys.clusters import allotment_figures
from jobs.recsys.diversity import pick_diverse
from jobs.recsys.inputs import Inputs
from jobs.recsys.ranking import ItemLists
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff as week_cutoff
from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID, VECTOR

PLAY_COLUMNS = (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED)


class EvaluationError(RuntimeError):
    """The week cannot be evaluated yet."""


def first_plays(wh: Warehouse, week: str, min_ms: int) -> pd.DataFrame:
    """(user_id, track_id) counted plays in week ``W`` whose pair was never played before ``W``
    (:mod:`jobs.evaluation.truth`), read through the warehouse."""
    end = week_cutoff(week) + dt.timedelta(weeks=1)
    before, during = week_plays(wh.plays_before(end, columns=PLAY_COLUMNS), week)
    during = counted_pairs(during, min_ms)
    if during.empty:
        raise EvaluationError(f"no plays in {week} in the warehouse yet; ingest a later week first")
    return first_time_pairs(during, before)


def audio_only(inputs: Inputs, audio: pd.DataFrame, k: int, cap: int) -> ItemLists:
    """Per listener, the unheard tracks nearest to the user vector by the CNN's vectors alone."""
    items = inputs.items
    index = {t: i for i, t in enumerate(items.track_ids)}
    audio = audio[audio[TRACK_ID].isin(index)]
    cols = audio[TRACK_ID].map(index).to_numpy()
    V = as_matrix(audio[VECTOR])
    out = {}
    for uid, u in zip(inputs.users[USER_ID], as_matrix(inputs.users[VECTOR]), strict=True):
        scores = np.full(len(items.track_ids), -np.inf)
        scores[cols] = V @ u
        scores[inputs.heard_by_user.get(uid, np.zeros(0, dtype=np.int64))] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))
        order = order[np.isfinite(scores[order])]
        out[uid] = pick_diverse(order, items.artist_idx, items.song_key, k, cap)
    return out


def most_popular(
    inputs: Inputs, k: int, cap: int, scores: np.ndarray | None = None, users: Iterable[str] | None = None
) -> ItemLists:
    """Per listener (default: the personal ones), the unheard tracks by ``scores`` (default: the window's
    listeners), the diversity rules kept."""
    items = inputs.items
    scores = items.popularity if scores is None else scores
    order = np.lexsort((np.arange(len(items.track_ids)), -scores))
    head = order[: 10 * k + 100]  # the walk almost always ends in it; else the whole order, the same picks
    heard_now = np.zeros(len(items.track_ids), dtype=bool)  # the listener's heard items, set and cleared per listener
    out = {}
    for uid in inputs.users[USER_ID] if users is None else users:
        heard = inputs.heard_by_user.get(uid, np.zeros(0, dtype=np.int64))
        heard_now[heard] = True
        chosen = pick_diverse(head[~heard_now[head]], items.artist_idx, items.song_key, k, cap)
        if len(chosen) < k and len(head) < len(order):
            chosen = pick_diverse(order[~heard_now[order]], items.artist_idx, items.song_key, k, cap)
        heard_now[heard] = False
        out[uid] = chosen
    return out


def popular_scores(wh: Warehouse, inputs: Inputs, config: Config, week: str) -> dict[str, np.ndarray]:
    """The naive references' scores per item: ``most_popular`` (listeners with a counted play before
    the week, all of them) and ``most_popular_recent`` (those of its last ``RECENT_WEEKS`` weeks, ties
    by all); their lists are :func:`most_popular` by these scores."""
    cut = week_cutoff(week)
    plays = wh.plays_before(cut, columns=(USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED))
    all_time = track_listeners(plays, config.als.min_ms_played)
    recent = recent_listeners(plays, cut, RECENT_WEEKS, config.als.min_ms_played)
    return {
        "most_popular": popularity_scores(inputs.items.track_ids, all_time),
        "most_popular_recent": popularity_scores(inputs.items.track_ids, all_time, recent),
    }


def percentile_rank_pairs(scorer: Any, inputs: Inputs, truth: dict[str, set[int]]) -> tuple[list[float], list[str]]:
    """Percentile rank (0 = top) of each truth item among the listener's unheard items, and its listener.

    ``scorer(user_id, user_vector)`` gives a score per item; items a ranking does not
    propose score ``-inf`` and share the bottom places (ties count half).
    """
    ranks: list[float] = []
    owners: list[str] = []
    users = inputs.users.set_index(USER_ID)[VECTOR]
    for uid, rel in sorted(truth.items()):
        if uid not in users.index:
            continue
        scores = np.asarray(scorer(uid, np.asarray(users[uid], dtype=np.float32)), dtype=np.float64)
        candidates = np.ones(len(scores), dtype=bool)
        candidates[inputs.heard_by_user.get(uid, np.zeros(0, dtype=np.int64))] = False
        scores = np.where(np.isfinite(scores), scores, -1e18)
        got = percentile_ranks(scores, candidates, sorted(rel))
        ranks += got
        owners += [uid] * len(got)
    return ranks, owners


def mean_percentile_rank(scorer: Any, inputs: Inputs, truth: dict[str, set[int]]) -> float:
    """Mean of :func:`percentile_rank_pairs` over every truth pair (NaN when there is none)."""
    ranks, _ = percentile_rank_pairs(scorer, inputs, truth)
    return float(np.mean(ranks)) if ranks else float("nan")


def per_listener(lists: ItemLists, truth: dict[str, set[int]], users: list[str], k: int) -> dict:
    """precision@k, recall@k and NDCG@k of one ranking for each of ``users`` (no list: no hit)."""
    recs = [np.array(lists.get(u, []), dtype=np.int64) for u in users]
    fns = {f"precision@{k}": precision_at_k, f"recall@{k}": recall_at_k, f"ndcg@{k}": ndcg_at_k}
    return {
        name: np.array([fn([r], [truth[u]], k) for r, u in zip(recs, users, strict=True)]) for name, fn in fns.items()
    }


def score_lists(
    lists: ItemLists, truth: dict[str, set[int]], inputs: Inputs, k: int, cold_truth: set[tuple[str, int]]
) -> dict[str, float]:
    """The evaluation's metrics for one ranking (see the module docstring)."""
    items = inputs.items
    users = sorted(u for u in lists if truth.get(u))
    recs = [np.array(lists[u]) for u in users]
    rel = [truth[u] for u in users]
    pop_rank = np.empty(len(items.track_ids))
    pop_rank[np.lexsort((np.arange(len(items.track_ids)), -items.popularity))] = np.arange(1, len(items.track_ids) + 1)
    recommended = [i for u in lists for i in lists[u]]
    new = items.is_new if items.is_new is not None else np.zeros(len(items.track_ids), dtype=bool)
    cold_hits = sum(1 for u, i in cold_truth if i in set(lists.get(u, [])))
    return {
        f"precision@{k}": precision_at_k(recs, rel, k),
        f"recall@{k}": recall_at_k(recs, rel, k),
        f"ndcg@{k}": ndcg_at_k(recs, rel, k),
        "catalog_coverage": len(set(recommended)) / max(len(items.track_ids), 1),
        "novelty_mean_popularity_rank": float(pop_rank[recommended].mean()) if recommended else float("nan"),
        "new_release_share": float(new[recommended].mean()) if recommended else 0.0,
        "cold_start_hit_rate": cold_hits / len(cold_truth) if cold_truth else float("nan"),
        "users": float(len(users)),
    }


def alone(blend: MergeConf, **weights: float) -> MergeConf:
    """The blend with one source on (``weights``, e.g. ``w_culture=1.0``) and every other weight, the
    popularity prior, the never-played places and the taste-cluster allotment off."""
    off = {"w_als": 0.0, "w_audio": 0.0, "w_culture": 0.0, "w_sequence": 0.0, "w_popularity": 0.0}
    return blend.model_copy(update=off | {"cold_slots": 0, "cluster_allotment": 0.0} | weights)


def allotment_effect(
    rankings: dict[str, ItemLists], truth: dict[str, set[int]], inputs: Inputs, k: int
) -> dict[str, Any]:
    """The blend with and without taste-cluster allotment: intra-list diversity, top-3 cluster coverage
    recall@k and NDCG@k, each with 95% intervals and the paired interval of the difference (listeners resampled)."""
    items = inputs.items
    if "blend_no_clusters" not in rankings or items.audio is None or items.has_audio is None:
        return {"skipped": "no taste clusters this week, or merge.cluster_allotment is 0"}
    ours, ref = rankings["blend"], rankings["blend_no_clusters"]
    out = allotment_figures(ours, ref, inputs.clusters, items.audio, items.has_audio)
    users = sorted(u for u in ours if u in ref and truth.get(u))
    with_, without = per_listener(ours, truth, users, k), per_listener(ref, truth, users, k)
    for name in (f"recall@{k}", f"ndcg@{k}"):
        if users:
            out[name] = {
                "listeners": len(users),
                "with": bootstrap_mean(with_[name]).as_dict(4),
                "without": bootstrap_mean(without[name]).as_dict(4),
                "difference": paired_difference(with_[name], without[name]).as_dict(4),
            }
    return out
