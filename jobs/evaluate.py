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

import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.evaluation.metrics import as_matrix
from jobs.evaluation.offline import (
    EvaluationError,
    allotment_effect,
    alone,
    audio_only,
    first_plays,
    most_popular,
    per_listener,
    percentile_rank_pairs,
    popular_scores,
    score_lists,
)
from jobs.evaluation.stats import compare
from jobs.recsys.inputs import prepare_inputs
from jobs.recsys.playlists import playlists
from jobs.recsys.pool import pool_runner, workers_of
from jobs.recsys.ranking import item_lists
from jobs.recsys.scoring import blend_scores
from jobs.runtime.cli import week_job
from jobs.sequence.candidates import NONE
from jobs.warehouse.atomic import write_json_atomic
from jobs.warehouse.store import MissingInputError, Warehouse, check_one_rank
from schemas import vocab
from schemas.columns import TRACK_ID, USER_ID, VECTOR

log = logging.getLogger("evaluate")


def run(config: Config, week: str) -> dict[str, Any]:
    wh = Warehouse(config.paths.warehouse)
    conf = config.merge
    inputs = prepare_inputs(config, week)
    if (workers := workers_of(conf.workers)) > 1:  # the blends' playlists on every core, the same picks
        inputs = replace(inputs, engine=pool_runner(workers))
    truth_pairs = first_plays(wh, week, config.als.min_ms_played)
    index = {t: i for i, t in enumerate(inputs.items.track_ids)}
    truth_pairs = truth_pairs[truth_pairs[TRACK_ID].isin(index)]
    truth: dict[str, set[int]] = {}
    for u, t in zip(truth_pairs[USER_ID], truth_pairs[TRACK_ID], strict=True):
        truth.setdefault(u, set()).add(index[t])
    cold = inputs.items.cold()
    cold_truth = {(u, i) for u, items in truth.items() for i in items if cold[i]}
    blend = conf
    no_cold = alone(blend, w_als=blend.w_als)
    culture_only = alone(blend, w_culture=1.0)
    sequence_only = alone(blend, w_sequence=1.0)
    no_sequence = blend.model_copy(update={"w_sequence": 0.0})
    rankings = {
        "blend": item_lists(playlists(inputs, blend)),
        "als": item_lists(playlists(inputs, no_cold)),
        "culture": item_lists(playlists(inputs, culture_only), vocab.CULTURE),
    }
    popular = popular_scores(wh, inputs, config, week)  # the naive references
    for name, pop in popular.items():
        rankings[name] = most_popular(inputs, conf.k, conf.artist_cap, pop)
    if inputs.sequence:
        rankings["sequence"] = item_lists(playlists(inputs, sequence_only), vocab.SEQUENCE)
        rankings["blend_without_sequence"] = item_lists(playlists(inputs, no_sequence))
    off = blend.model_copy(update={"cluster_allotment": 0.0})
    if inputs.clusters and blend.cluster_allotment > 0:  # the reference for the taste-cluster allotment
        rankings["blend_no_clusters"] = item_lists(playlists(inputs, off))
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
        a = audio[audio[TRACK_ID].isin(a_index)]
        a_cols, a_vecs = a[TRACK_ID].map(a_index).to_numpy(), as_matrix(a[VECTOR])

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
