"""Offline evaluation by time: week W's playlists, built only from data before W, scored
against what listeners actually played for the first time during W.

Reads the week-``W`` tables a DAG run for ``W`` wrote (factors, track and audio vectors,
cultural tables) and the plays of week ``W`` itself from ``plays`` (present once a later
week has been ingested); the ALS tables and the vectors computed from them must come from
the week's one ALS fit and share one rank (else one line naming them, exit 2). For every
listener with a personal playlist it builds these rankings with the same diversity rules
and the same ``k``:

* ``blend``: the published recipe (:func:`jobs.recsys.playlists.recommend_block`, as
  the merge job runs it, with ``merge.w_*``);
* ``als``: ALS alone (no audio, culture, sequence or popularity prior, no never-played tracks);
* ``audio``: the CNN's vectors alone, for every track with audio, played or not;
* ``culture``: tracks by artists culturally similar to the listener's favourites;
* ``sequence``: the unheard songs nearest the listener's taste vector (the RNN's), alone;
* ``blend_without_sequence``: the blend with ``merge.w_sequence = 0`` (what ``sequence`` adds);
* ``most_popular``: the most played unheard tracks over all plays before ``W``;
* ``most_popular_recent``: the same over the 4 weeks before ``W`` (ties by all plays);
* ``blend_no_clusters`` (when the week has taste clusters and ``merge.cluster_allotment`` is
  above 0): the blend without the allotment to taste clusters, the reference for it:
  ``taste_clusters`` in the metrics holds intra-list diversity, top-3 cluster coverage and
  recall@k and NDCG@k with and without, each with a 95% interval and the paired interval of the
  difference (:func:`allotment_effect`).

Truth: the (listener, track) pairs first played in ``W`` (counted plays; never played
before), on tracks the week could recommend (with a vector, released before ``W``); the
rest cannot be hit by any ranking and are left out of every one alike. Metrics per ranking: precision@k, recall@k, NDCG@k, mean percentile rank of
the truth among all unheard tracks by the ranking's score (0 = top; for the blend, its
blended score over the whole catalog: the cold-start threshold and slot cap shape only
the 30 places, not this rank), catalog coverage, novelty
(mean popularity rank of the recommended tracks, 1 = most popular), share of new
releases, and the cold-start hit rate (share of the truth pairs on tracks nobody had
played before ``W`` that the ranking recommended). ``references`` in the metrics puts the
blend beside every other ranking: precision, recall, NDCG@k per listener and the percentile
rank per truth pair, each with a 95% bootstrap interval over listeners, and the paired
interval of blend minus each (:func:`jobs.evaluation.stats.compare`; blend minus ALS is the
blend's claim). Writes ``offline_eval/week=W/`` and ``run_metrics/week=W/offline_eval.json``.

Run (after the DAG ran for ``W`` and for a later week)::

    python -m jobs.evaluate --week 2026-W46 [--out docs/evaluation.json]
    make evaluate                     # the sample's last full week, building it if needed
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from jobs.config import Config, MergeConf
from jobs.evaluation.metrics import as_matrix, ndcg_at_k, percentile_ranks, precision_at_k, recall_at_k
from jobs.evaluation.stats import bootstrap_mean, compare, paired_difference
from jobs.recsys.baselines import RECENT_WEEKS, popularity_scores, recent_plays
from jobs.recsys.clusters import allotment_figures
from jobs.recsys.diversity import pick_diverse
from jobs.recsys.inputs import Inputs, prepare_inputs
from jobs.recsys.playlists import playlists
from jobs.recsys.scoring import blend_scores
from jobs.runtime.cli import week_job
from jobs.sequence.candidates import NONE
from jobs.warehouse.atomic import write_json_atomic
from jobs.warehouse.store import MissingInputError, Warehouse, check_one_rank
from jobs.warehouse.weeks import cutoff as week_cutoff

log = logging.getLogger("evaluate")


class EvaluationError(RuntimeError):
    """The week cannot be evaluated yet."""


def first_plays(wh: Warehouse, week: str, min_ms: int) -> pd.DataFrame:
    """(user_id, track_id) counted plays in week ``W`` whose pair was never played before ``W``."""
    start = week_cutoff(week)
    end = start + dt.timedelta(weeks=1)
    dataset = ds.dataset(wh.table_dir("plays"), format="parquet", partitioning="hive")
    ts = pa.timestamp("us", tz="UTC")
    during = dataset.to_table(
        columns=["user_id", "track_id", "ms_played"],
        filter=(ds.field("played_at") >= pa.scalar(start, type=ts)) & (ds.field("played_at") < pa.scalar(end, type=ts)),
    ).to_pandas()
    during = during[during["ms_played"] >= min_ms][["user_id", "track_id"]].drop_duplicates()
    if during.empty:
        raise EvaluationError(f"no plays in {week} in the warehouse yet; ingest a later week first")
    before = dataset.to_table(columns=["user_id", "track_id"], filter=ds.field("played_at") < pa.scalar(start, type=ts))
    before = before.to_pandas().drop_duplicates()
    merged = during.merge(before, on=["user_id", "track_id"], how="left", indicator=True)
    return merged[merged["_merge"] == "left_only"][["user_id", "track_id"]].reset_index(drop=True)


def audio_only(inputs: Inputs, audio: pd.DataFrame, k: int, cap: int) -> dict[str, list[int]]:
    """Per listener, the unheard tracks nearest to the user vector by the CNN's vectors alone."""
    items = inputs.items
    index = {t: i for i, t in enumerate(items.track_ids)}
    audio = audio[audio["track_id"].isin(index)]
    cols = audio["track_id"].map(index).to_numpy()
    V = as_matrix(audio["vector"])
    out = {}
    for uid, u in zip(inputs.users["user_id"], as_matrix(inputs.users["vector"]), strict=True):
        scores = np.full(len(items.track_ids), -np.inf)
        scores[cols] = V @ u
        scores[inputs.heard_by_user.get(uid, np.zeros(0, dtype=np.int64))] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))
        order = order[np.isfinite(scores[order])]
        out[uid] = pick_diverse(order, items.artist_idx, items.song_key, k, cap)
    return out


def most_popular(inputs: Inputs, k: int, cap: int, scores: np.ndarray | None = None) -> dict[str, list[int]]:
    """Per listener, the unheard tracks by ``scores`` (default: the window's plays), the diversity rules kept."""
    items = inputs.items
    scores = items.popularity if scores is None else scores
    order = np.lexsort((np.arange(len(items.track_ids)), -scores))
    out = {}
    for uid in inputs.users["user_id"]:
        unheard = np.ones(len(items.track_ids), dtype=bool)
        unheard[inputs.heard_by_user.get(uid, np.zeros(0, dtype=np.int64))] = False
        out[uid] = pick_diverse(order[unheard[order]], items.artist_idx, items.song_key, k, cap)
    return out


def popular_scores(wh: Warehouse, inputs: Inputs, config: Config, week: str) -> dict[str, np.ndarray]:
    """The naive references' scores per item: ``most_popular`` (counted plays before the week, all of
    them) and ``most_popular_recent`` (those of its last ``RECENT_WEEKS`` weeks, ties by all); their
    lists are :func:`most_popular` by these scores."""
    cut = week_cutoff(week)
    plays = wh.plays_before(cut, columns=("user_id", "track_id", "played_at", "ms_played"))
    counted = plays[plays["ms_played"] >= config.als.min_ms_played]
    all_time = counted.groupby("track_id").size().astype(np.float64)
    recent = recent_plays(plays, cut, RECENT_WEEKS, config.als.min_ms_played)
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
    users = inputs.users.set_index("user_id")["vector"]
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


def per_listener(lists: dict[str, list[int]], truth: dict[str, set[int]], users: list[str], k: int) -> dict:
    """precision@k, recall@k and NDCG@k of one ranking for each of ``users`` (no list: no hit)."""
    recs = [np.array(lists.get(u, []), dtype=np.int64) for u in users]
    fns = {f"precision@{k}": precision_at_k, f"recall@{k}": recall_at_k, f"ndcg@{k}": ndcg_at_k}
    return {
        name: np.array([fn([r], [truth[u]], k) for r, u in zip(recs, users, strict=True)]) for name, fn in fns.items()
    }


def score_lists(
    lists: dict[str, list[int]], truth: dict[str, set[int]], inputs: Inputs, k: int, cold_truth: set[tuple[str, int]]
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
    rankings: dict[str, dict[str, list[int]]], truth: dict[str, set[int]], inputs: Inputs, k: int
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


def run(config: Config, week: str) -> dict[str, Any]:
    wh = Warehouse(config.paths.warehouse)
    conf = config.merge
    inputs = prepare_inputs(config, week)
    truth_pairs = first_plays(wh, week, config.als.min_ms_played)
    index = {t: i for i, t in enumerate(inputs.items.track_ids)}
    truth_pairs = truth_pairs[truth_pairs["track_id"].isin(index)]
    truth: dict[str, set[int]] = {}
    for u, t in zip(truth_pairs["user_id"], truth_pairs["track_id"], strict=True):
        truth.setdefault(u, set()).add(index[t])
    cold = inputs.items.cold()
    cold_truth = {(u, i) for u, items in truth.items() for i in items if cold[i]}
    blend = conf
    no_cold = alone(blend, w_als=blend.w_als)
    culture_only = alone(blend, w_culture=1.0)
    sequence_only = alone(blend, w_sequence=1.0)
    no_sequence = blend.model_copy(update={"w_sequence": 0.0})
    rankings = {
        "blend": {u: [i for i, *_ in p] for u, p in playlists(inputs, blend).items()},
        "als": {u: [i for i, *_ in p] for u, p in playlists(inputs, no_cold).items()},
        "culture": {
            u: [i for i, _, src, _ in p if src == "culture"] for u, p in playlists(inputs, culture_only).items()
        },
    }
    popular = popular_scores(wh, inputs, config, week)  # the naive references
    for name, pop in popular.items():
        rankings[name] = most_popular(inputs, conf.k, conf.artist_cap, pop)
    if inputs.sequence:
        rankings["sequence"] = {
            u: [i for i, _, src, _ in p if src == "sequence"] for u, p in playlists(inputs, sequence_only).items()
        }
        rankings["blend_without_sequence"] = {u: [i for i, *_ in p] for u, p in playlists(inputs, no_sequence).items()}
    off = blend.model_copy(update={"cluster_allotment": 0.0})
    if inputs.clusters and blend.cluster_allotment > 0:  # the reference for the taste-cluster allotment
        rankings["blend_no_clusters"] = {u: [i for i, *_ in p] for u, p in playlists(inputs, off).items()}
    audio = wh.read_optional("audio_vectors", week)  # checked against the week's ALS fit
    if audio is not None:
        check_one_rank(week, {"user_factors": inputs.users, "audio_vectors": audio})
        rankings["audio"] = audio_only(inputs, audio, conf.k, conf.artist_cap)
    results = {name: score_lists(lists, truth, inputs, conf.k, cold_truth) for name, lists in rankings.items()}
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)

    def blended(variant: Any) -> Any:
        def scorer(uid: str, u: np.ndarray) -> np.ndarray:
            score, _ = blend_scores(
                u,
                inputs.heard_by_user.get(uid, empty_i),
                inputs.top_artists.get(uid, empty_i),
                inputs.shares.get(uid, empty_f),
                inputs.items,
                variant,
                inputs.sequence.get(uid, NONE),
            )
            return score + 1e-9 * inputs.items.popularity  # popularity breaks ties

        return scorer

    scorers = {
        "blend": blended(blend),
        "blend_no_clusters": blended(off),  # allotment reorders the 30 places, not the scores
        "als": blended(no_cold),
        "culture": blended(culture_only),
        "sequence": blended(sequence_only),
        "blend_without_sequence": blended(no_sequence),
        **{name: (lambda uid, u, pop=pop: pop) for name, pop in popular.items()},
    }
    if audio is not None:
        a_index = {t: i for i, t in enumerate(inputs.items.track_ids)}
        a = audio[audio["track_id"].isin(a_index)]
        a_cols, a_vecs = a["track_id"].map(a_index).to_numpy(), as_matrix(a["vector"])

        def audio_scorer(uid: str, u: np.ndarray) -> np.ndarray:
            out = np.full(len(inputs.items.track_ids), -np.inf)
            out[a_cols] = a_vecs @ u
            return out

        scorers["audio"] = audio_scorer
    units = sorted(u for u in rankings["blend"] if truth.get(u))  # the listeners every comparison shares
    unit_set = set(units)
    values: dict[str, dict[str, np.ndarray]] = {}
    owners: list[str] = []
    for name, scorer in scorers.items():
        if name in results:
            ranks, owners = percentile_rank_pairs(scorer, inputs, truth)
            results[name]["mean_percentile_rank"] = float(np.mean(ranks)) if ranks else float("nan")
            keep = np.array([o in unit_set for o in owners], dtype=bool)
            values[name] = {
                **per_listener(rankings[name], truth, units, conf.k),
                "mean_percentile_rank": np.asarray(ranks)[keep],
            }
    owners = [o for o in owners if o in unit_set]
    clusters = allotment_effect(rankings, truth, inputs, conf.k)
    for model, side in (("blend", "with"), ("blend_no_clusters", "without")):
        for name, figure in clusters.items():
            if model in results and isinstance(figure, dict) and side in figure and name not in results[model]:
                results[model][name] = figure[side]["mean"]
    rows = [{"model": m, "metric": k, "value": float(v)} for m, vals in results.items() for k, v in vals.items()]
    wh.write("offline_eval", week, pd.DataFrame(rows))
    metrics = {
        "week": week,
        "truth_pairs": len(truth_pairs),
        "listeners_with_truth": len(truth),
        "cold_truth_pairs": len(cold_truth),
        "results": results,
        "taste_clusters": clusters,
    }
    if units:
        metrics["references"] = compare(values, "blend", groups=units, metric_groups={"mean_percentile_rank": owners})
    return metrics


def _run_and_copy(config: Config, week: str, out: Path | None) -> dict[str, Any]:
    metrics = run(config, week)
    if out is not None:
        write_json_atomic(out, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "evaluate",
        "Score week W's playlists against W's first-time plays.",
        lambda config, week, args: _run_and_copy(config, week, args.out),
        argv,
        errors=(EvaluationError, MissingInputError),
        metrics="offline_eval",
        add_arguments=lambda p: p.add_argument("--out", type=Path, help="also write the metrics JSON here"),
        show=lambda m: print(pd.DataFrame(m["results"]).T.to_string(float_format=lambda v: f"{v:.4f}")),
    )


if __name__ == "__main__":
    sys.exit(main())
