"""A blend setting, measured: recall@30 and NDCG@30 by the value of one ``merge`` setting.

``--setting`` is ``w_sequence`` (the ``sequence`` source's weight; default),
``cluster_allotment`` (the places allotted to taste clusters), ``w_culture``, ``w_audio``,
``w_popularity`` or ``popularity_days`` (the days of plays the popularity prior counts; 0 = the
ALS window's). For each week given, the warehouse must hold what the DAG's jobs write for
it (ALS; the sources the setting concerns) and the week's own plays (a later week's
ingest). The merge's inputs are read once (:func:`prepare_inputs`) and the same blend is
built for every value of ``--values``, scored on the week's first-time plays
(:func:`jobs.evaluation.offline.first_plays`, on tracks the week could recommend). Beside them: the
``sequence`` source alone (``w_als = w_audio = w_culture = 0``, its own rows only; when the
week has taste vectors), ALS alone and the naive most popular lists (all history, last 4
weeks; :func:`jobs.evaluation.offline.popular_scores`). Each figure is a mean over listeners with a 95%
bootstrap interval resampling listeners; each value is compared with the setting at 0, with
ALS alone and with both most popular lists, by the paired interval of the difference
(:mod:`jobs.evaluation.stats`).

Tune on weeks before the one you score: ``--tune`` weeks choose the value (the best mean over
them, pooled, of ``--objective``: recall@30, NDCG@30, or ``both``, their sum; the default),
``--score`` weeks are then reported at that value (and at 0). With ``--score`` and no ``--tune``,
nothing is chosen: every value is scored on those weeks, pooled (e.g. the defaults against 0
on weeks of a world no setting was chosen on). Run::

    DW_DATA=... DW_WAREHOUSE=... python -m studies.blend_setting [--setting w_sequence] \
        --tune 2026-W44 2026-W45 --score 2026-W46 [--values 0 0.1 0.2] [--out f.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from jobs.config import load_config
from jobs.evaluation.offline import alone, first_plays, most_popular, per_listener, popular_scores
from jobs.evaluation.stats import bootstrap_mean, paired_difference
from jobs.recsys.inputs import prepare_inputs
from jobs.recsys.playlists import playlists
from jobs.recsys.ranking import ItemLists, item_lists
from jobs.warehouse.store import Warehouse
from schemas import vocab

K = 30
ALS, SEQ = "als_alone", "sequence_alone"  # the references beside the setting's values, with the two below
POPULAR = ("most_popular", "most_popular_recent")  # naive: all counted plays before the week, its last 4 weeks


def scores(lists: ItemLists, truth: dict[str, set[int]]) -> dict[str, tuple[float, float]]:
    """(recall@K, NDCG@K) of every listener with truth (:func:`jobs.evaluation.offline.per_listener`; no list: no hit)."""
    users = list(truth)
    vals = per_listener(lists, truth, users, K)
    return dict(zip(users, zip(vals[f"recall@{K}"].tolist(), vals[f"ndcg@{K}"].tolist(), strict=True), strict=True))


SETTINGS = ("w_sequence", "cluster_allotment", "w_culture", "w_audio", "w_popularity", "popularity_days")
NEEDS = {"w_sequence": "sequence", "cluster_allotment": "clusters"}  # Inputs fields the setting acts on
REBUILDS = ("popularity_days",)  # read when the inputs are built: they are rebuilt for each value


def week_scores(
    config: Any, week: str, values: list[float], setting: str = "w_sequence"
) -> dict[str, dict[str, tuple[float, float]]]:
    """Per system (``<setting>=<value>``, ``sequence_alone``, ``als_alone``), per listener: (recall, NDCG)."""
    conf = config.merge
    inputs = prepare_inputs(config, week)
    if setting in NEEDS and not getattr(inputs, NEEDS[setting]):
        raise SystemExit(f"{week}: nothing for {setting} to act on (no {NEEDS[setting]} this week): {inputs.notes}")
    wh = Warehouse(config.paths.warehouse)
    pairs = first_plays(wh, week, config.als.min_ms_played)
    index = {t: i for i, t in enumerate(inputs.items.track_ids)}
    truth: dict[str, set[int]] = {}
    personal = set(inputs.users["user_id"])
    for u, t in zip(pairs["user_id"], pairs["track_id"], strict=True):
        if t in index and u in personal:
            truth.setdefault(u, set()).add(index[t])
    out = {}
    for v in values:
        merge = conf.model_copy(update={setting: v})
        built = prepare_inputs(config.model_copy(update={"merge": merge}), week) if setting in REBUILDS else inputs
        lists = item_lists(playlists(built, merge))
        out[label(setting, v)] = scores(lists, truth)
    if inputs.sequence:
        seq = playlists(inputs, alone(conf, w_sequence=1.0))
        out[SEQ] = scores(item_lists(seq, vocab.SEQUENCE), truth)
    als = playlists(inputs, alone(conf, w_als=conf.w_als))
    out[ALS] = scores(item_lists(als), truth)
    for name, pop in popular_scores(wh, inputs, config, week).items():
        out[name] = scores(most_popular(inputs, K, conf.artist_cap, pop), truth)
    return out


def label(setting: str, value: float) -> str:
    return f"{setting}={value:g}"


def summarise(scores: dict[str, dict[str, dict[str, tuple[float, float]]]], base: str) -> dict[str, Any]:
    """Pooled over weeks (listener-weeks, resampling listeners): each system's means, its difference to
    ``base`` and, for each value of the setting, its difference to ALS alone (the blend's claim) and to
    the most popular lists (the naive references)."""
    systems = next(iter(scores.values())).keys()
    out = {}
    for system in systems:
        keys = [(w, u) for w, by in scores.items() for u in sorted(by[system])]
        groups = [u for _, u in keys]
        row: dict[str, Any] = {"listener_weeks": len(keys)}
        for m, name in enumerate(("recall@30", "ndcg@30")):
            vals = np.array([scores[w][system][u][m] for w, u in keys])
            row[name] = bootstrap_mean(vals, groups).as_dict(4)
            for other in (base,) if system in (ALS, SEQ, *POPULAR) else (base, ALS, *POPULAR):
                if system != other and other in systems:
                    ref = np.array([scores[w][other][u][m] for w, u in keys])
                    row[f"{name} minus {other}"] = paired_difference(vals, ref, groups).as_dict(4)
        out[system] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", choices=SETTINGS, default="w_sequence", help="the merge setting to vary")
    parser.add_argument("--tune", nargs="*", default=[], help="weeks that choose the value")
    parser.add_argument(
        "--score", nargs="*", default=[], help="weeks scored at the chosen value (no --tune: at every value)"
    )
    parser.add_argument("--values", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5, 1.0])
    parser.add_argument(
        "--objective", choices=("recall", "ndcg", "both"), default="both", help="what the value maximises"
    )
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not args.tune and not args.score:
        parser.error("give --tune weeks (to choose a value), --score weeks, or both")
    config = load_config()
    values = sorted(set(args.values) | {0.0})
    zero = label(args.setting, 0.0)
    result: dict[str, Any] = {"setting": args.setting, "objective": args.objective, "tune_weeks": args.tune}
    scored_values = values
    if args.tune:
        tune = {w: week_scores(config, w, values, args.setting) for w in args.tune}
        tuned = summarise(tune, zero)
        metrics = {"recall": ("recall@30",), "ndcg": ("ndcg@30",), "both": ("recall@30", "ndcg@30")}[args.objective]
        best = max(values, key=lambda v: sum(tuned[label(args.setting, v)][m]["mean"] for m in metrics))
        result |= {"tuning": tuned, "chosen": best}
        scored_values = sorted({0.0, best})
    if args.score:
        scored = {w: week_scores(config, w, scored_values, args.setting) for w in args.score}
        result |= {"score_weeks": args.score, "scored": summarise(scored, zero)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
