"""The merge job: read the week's inputs, blend the playlists, leave the table for validation.

:func:`build_table` assembles the table with the recommender library
(:mod:`jobs.recsys`) and the flagged ``fallback`` lists of listeners with a thin
history; :func:`write_pending` leaves it in ``discover_weekly/_pending-W/`` with its
eligible listeners and the active listeners left out; :func:`run` does both and writes
``run_metrics/week=W/merge.json``. See :mod:`jobs.merge` for what is read and written.

Run alone::

    python -m jobs.merge --week 2026-W47
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.config import Config, MergeConf
from jobs.evaluation.audience import personalisation
from jobs.evaluation.offline import most_popular
from jobs.feedback.arms import AHDQN, configured_arms
from jobs.feedback.bandit import RewardModel
from jobs.feedback.policies import GREEDY, PolicyLists, policy_playlists
from jobs.recsys.clusters import allotment_figures
from jobs.recsys.inputs import Inputs, prepare_inputs, runs_by_key
from jobs.recsys.playlists import fallback_lists, playlists
from jobs.recsys.pool import WorkerDiedError, pool_runner, workers_of
from jobs.recsys.ranking import Playlists, item_lists
from jobs.rl.history import AGENT_LISTS, agent_folder
from jobs.runtime.cli import week_job, with_spark
from jobs.warehouse.store import MissingInputError, Warehouse, current_run_id
from schemas import vocab
from schemas.columns import ARTIST_ID, POSITION, REASON, SCORE, SOURCE, TRACK_ID, USER_ID
from schemas.tables import table as contract


class MergeError(RuntimeError):
    """The week's inputs are missing: the message names the table and the job that writes it.

    The merge only leaves its table pending; checking it and publishing it is the validate
    job's (:mod:`jobs.validate`).
    """


@dataclass(frozen=True)
class MergeResult:
    """The week's playlists, computed and not yet written."""

    table: pd.DataFrame  # the discover_weekly rows, sorted by listener and position
    exposures: pd.DataFrame  # the exposures rows (one per table row): policy, version, propensity
    actions: pd.DataFrame  # bandit_actions: every action the bandit offered
    counts: dict[str, Any]  # what merge.json reports
    eligible: set[str]  # listeners with a playlist
    excluded: dict[str, str]  # active listeners left out -> why (thin_history, too_few_unheard_tracks)


def build_table(config: Config, week: str, spark: Any = None) -> MergeResult:
    """Compute the week's playlists (nothing written): the table, its counts, the eligible
    listeners and every active listener left out with why, so validation can account for
    every active listener. With a ``spark`` session the listeners' blocks run on it
    (:mod:`jobs.merge.spark_engine`); the rows are the same."""
    conf = config.merge
    try:
        inp = prepare_inputs(config, week)
    except MissingInputError as exc:
        raise MergeError(str(exc)) from exc
    if spark is not None:
        from jobs.merge.spark_engine import block_runner

        inp = replace(inp, engine=block_runner(spark, conf.spark_block))
    elif (workers := workers_of(conf.workers)) > 1:
        inp = replace(inp, engine=pool_runner(workers))
    items, users, active, tracks = inp.items, inp.users, inp.active, inp.tracks
    heard_by_user = inp.heard_by_user
    artist_of = tracks.set_index(TRACK_ID)[ARTIST_ID]
    thin = sorted(active - set(users[USER_ID]))
    rows: list[tuple] = []
    logged: list[tuple] = []
    short: list[str] = []
    model, model_week = read_bandit_model(Warehouse(config.paths.warehouse), week)
    agent = read_agent_lists(config, week)
    served = policy_playlists(inp, config, week, model, model_week, agent)
    lists = served.lists
    for uid, playlist in lists.items():
        if len(playlist) < conf.k:
            short.append(uid)
            continue
        rows += [
            (uid, pos, items.track_ids[pick.item], pick.score, pick.source, pick.reason)
            for pos, pick in enumerate(playlist, 1)
        ]
        logged += [
            (uid, pos, served.policy[uid], served.version[uid], p) for pos, p in enumerate(served.propensity[uid], 1)
        ]
    fallback_users = thin if conf.thin_history == "fallback" else []
    top = max(float(items.popularity.max()), 1.0) if len(items.track_ids) else 1.0
    for uid, chosen in fallback_lists(items, heard_by_user, fallback_users, conf).items():
        if len(chosen) < conf.k:
            short.append(uid)
            continue
        rows += [
            (
                uid,
                pos,
                items.track_ids[i],
                float(items.popularity[i]) / top,
                vocab.FALLBACK,
                "Starter pick while we learn your taste: popular with listeners this week",
            )
            for pos, i in enumerate(chosen, 1)
        ]
        logged += [(uid, pos, vocab.FALLBACK, GREEDY, 1.0) for pos in range(1, len(chosen) + 1)]
    table = pd.DataFrame(rows, columns=[USER_ID, POSITION, TRACK_ID, SCORE, SOURCE, REASON])
    table[ARTIST_ID] = table[TRACK_ID].map(artist_of)
    table["week"] = week
    table[POSITION] = table[POSITION].astype("int32")
    table = table[contract("discover_weekly").names].sort_values([USER_ID, POSITION], ignore_index=True)
    exposures, actions = exposure_log(table, logged, served, short, items.track_ids)
    eligible = (set(users[USER_ID]) | set(fallback_users)) - set(short)
    excluded = {u: vocab.THIN_HISTORY for u in thin if conf.thin_history == "skip"} | dict.fromkeys(
        short, vocab.TOO_FEW_UNHEARD
    )
    cold_ids = set(items.track_ids[items.cold()])
    counts_out = {
        "listeners_active": len(active),
        "personal": len(set(users[USER_ID]) - set(short)),
        "fallback": len(set(fallback_users) - set(short)),
        "skipped_thin_history": len(thin) if conf.thin_history == "skip" else 0,
        "skipped_too_few_unheard_tracks": len(short),
        "eligible": len(eligible),
        "rows": len(table),
        "sources": table[SOURCE].value_counts().sort_index().to_dict(),
        "cold_start_rows": int(table[TRACK_ID].isin(cold_ids).sum()),
        "catalog_tracks": len(tracks),
        "distinct_tracks_recommended": int(table[TRACK_ID].nunique()),
        "catalog_coverage": round(table[TRACK_ID].nunique() / max(len(tracks), 1), 4),
        "notes": inp.notes,
        "taste_clusters": cluster_figures(inp, conf, lists),
        "personalisation": personal_figures(inp, conf, table),
    }
    counts_out["policies"] = exposures.groupby("policy")[USER_ID].nunique().sort_index().to_dict()
    counts_out["bandit"] = {"model_week": model_week, "offered_actions": len(served.offered)}
    counts_out["policy_versions"] = exposures.groupby("policy_version")[USER_ID].nunique().sort_index().to_dict()
    return MergeResult(table, exposures, actions, counts_out, eligible, excluded)


def read_agent_lists(config: Config, week: str) -> tuple[dict[str, list[str]], str | None]:
    """The ``ahdqn`` arm's lists of the week (listener -> track ids, written by the ahdqn job) and their
    policy version; empty when no listener is in that arm or the job skipped."""
    if AHDQN not in configured_arms(config):
        return {}, None
    folder = agent_folder(config, week)
    if not (folder / AGENT_LISTS).exists():
        return {}, None
    info = json.loads((folder / "info.json").read_text())
    frame = pd.read_parquet(folder / AGENT_LISTS).sort_values([USER_ID, POSITION])
    return {u: g[TRACK_ID].tolist() for u, g in frame.groupby(USER_ID, sort=True)}, f"ahdqn-{info['trained_week']}"


def read_bandit_model(wh: Warehouse, week: str) -> tuple[RewardModel | None, str | None]:
    """The bandit's reward model for ``week`` (written by the bandit job), or ``None`` (the bandit explores)."""
    frame = wh.read_optional("bandit_model", week)
    if frame is None or not len(frame):
        return None, None
    return RewardModel.from_frame(frame), week


def exposure_log(
    table: pd.DataFrame, logged: list[tuple], served: PolicyLists, short: list[str], track_ids: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The exposures of the table's rows (policy, version, propensity beside each row) and the bandit's
    offered actions of the listeners who got a playlist."""
    log = pd.DataFrame(logged, columns=[USER_ID, POSITION, "policy", "policy_version", "propensity"])
    log[POSITION] = log[POSITION].astype("int32")
    exposures = table.merge(log, on=[USER_ID, POSITION], how="left", validate="one_to_one")
    exposures = exposures[contract("exposures").names]
    if exposures["policy"].isna().any():
        raise MergeError("a playlist row has no logged policy: the exposures log would be incomplete")
    actions = pd.DataFrame(served.offered)
    if not len(actions):
        return exposures, pd.DataFrame(columns=contract("bandit_actions").names)
    if len(actions):
        actions = actions[~actions[USER_ID].isin(set(short))]
        actions[TRACK_ID] = track_ids[actions.pop("item").to_numpy()]
        actions["predicted"] = actions["predicted"].astype("float64").where(actions["predicted"].notna(), None)
        actions["week"] = table["week"].iloc[0] if len(table) else None
    return exposures, actions[contract("bandit_actions").names]


def personal_figures(inp: Inputs, conf: MergeConf, table: pd.DataFrame) -> dict[str, Any]:
    """How personal the week's playlists are (:func:`~jobs.evaluation.audience.personalisation`),
    beside most popular's lists (by listeners, unheard, the same diversity rules) for the same listeners."""
    lists = runs_by_key(table[USER_ID].to_numpy(), table[TRACK_ID].to_numpy())  # the table is sorted by listener
    ids = inp.items.track_ids
    popular = {
        u: [ids[i] for i in picks] for u, picks in most_popular(inp, conf.k, conf.artist_cap, users=lists).items()
    }
    return {"playlists": personalisation(lists, conf.k), "most_popular": personalisation(popular, conf.k)}


def cluster_figures(inp: Inputs, conf: MergeConf, lists: Playlists) -> dict[str, Any]:
    """Intra-list diversity and top-3 cluster coverage of the playlists beside the same listeners' lists
    without allotment (the reference), on a seeded sample of ``merge.cluster_reference_listeners``."""
    items = inp.items
    if not inp.clusters or items.audio is None or items.has_audio is None:
        return {"skipped": "no taste_clusters or audio vectors this week"}
    users = sorted((u for u in lists if u in inp.clusters), key=lambda u: (zlib.crc32(u.encode()), u))
    users = users[: conf.cluster_reference_listeners]
    ours = item_lists({u: lists[u] for u in users})
    off = conf.model_copy(update={"cluster_allotment": 0.0})
    ref = ours if conf.cluster_allotment == 0 else item_lists(playlists(inp, off, users))
    figures = allotment_figures(ours, ref, inp.clusters, items.audio, items.has_audio)
    return {"cluster_allotment": conf.cluster_allotment, "listeners_sampled": len(users), **figures}


def write_pending(
    table: pd.DataFrame,
    eligible: set[str],
    warehouse: Path,
    week: str,
    excluded: dict[str, str] | None = None,
    run_id: str | None = None,
    data: Path | None = None,
    logs: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Leave the table, its eligible listeners and the active listeners left out (with why) for the
    validate task, atomically, out of readers' sight (contracts: ``discover_weekly``,
    ``pending_eligible``, ``pending_excluded`` in :mod:`schemas.tables`), with ``logs`` (the
    ``exposures`` and ``bandit_actions`` published with the week). The folder and its
    table carry the id of the run that wrote them (``_run.json``), so the validate job
    publishes only its own run's table and a retried publish knows it already happened."""
    wh = Warehouse(warehouse)
    return wh.write_pending(week, table, eligible, excluded or {}, run_id or current_run_id(), data, logs)


def run(config: Config, week: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    if config.merge.engine == "spark":
        result = with_spark(config, "dw-merge", lambda spark: build_table(config, week, spark))
    else:
        result = build_table(config, week)
    path = write_pending(
        result.table,
        result.eligible,
        config.paths.warehouse,
        week,
        result.excluded,
        data=config.paths.data,
        logs={"exposures": result.exposures, "bandit_actions": result.actions},
    )
    counts = result.counts
    seconds = time.perf_counter() - t0
    counts.update(
        {
            "week": week,
            "pending": str(path),
            "seconds": round(seconds, 2),
            "users_per_second": round(counts["eligible"] / max(seconds, 1e-9), 1),
            "engine": config.merge.engine,
        }
    )
    return counts


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "merge",
        "Blend the week's playlists and leave them for validation.",
        lambda config, week, _: run(config, week),
        argv,
        errors=(MergeError, WorkerDiedError),
        metrics="merge",
    )
