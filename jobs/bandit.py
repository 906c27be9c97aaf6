"""Bandit: train BaRT's reward model for the week on the exposures logged before it, and judge policies off-policy.

Reads, for run week ``W``: ``bandit_actions`` of the ``bandit.history_weeks`` weeks before
``W`` (what the bandit offered and showed, published with each week by the validate job),
the plays of those weeks (``plays``: a stream of a shown track by its listener in the week
it was shown, ``context = discover_weekly`` where the logs say so) and the ``saves``
(``bandit.save_bonus`` on top). Fits the propensity-weighted logistic reward model
(:func:`jobs.feedback.bandit.fit_reward_model`; the target is the reward over its largest value)
on every shown bandit action with a known outcome (a week's log is used only when it was published
with that week's table: the same run id) and writes it as ``bandit_model/week=W/`` (one weight per feature), which the merge
of ``W`` uses to fill the ``bart`` arm's bandit places. ``run_metrics/week=W/bandit.json``:
the exposures and their reward rate, and the off-policy estimates (IPS, SNIPS, doubly
robust, with intervals over listeners) of the logging policy, the blend's greedy choice,
BaRT without exploration and a uniform choice on the most recent logged week
(:mod:`jobs.feedback.offpolicy`), with the stream as the reward.

Skips (exit 99, Airflow's ``skipped``; its old model of the week removed) while fewer than
``bandit.min_exposures`` shown actions have a known outcome: the merge's bandit places then
explore uniformly, which is how the first randomised log is made.

Run alone::

    python -m jobs.bandit --week 2026-W49
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.feedback.arms import BART, configured_arms
from jobs.feedback.bandit import exposure_rewards, fit_reward_model
from jobs.feedback.offpolicy import evaluate_targets
from jobs.runtime.cli import skipped, week_job
from jobs.warehouse.saves import read_saves
from jobs.warehouse.store import Warehouse, read_run_id
from jobs.warehouse.weeks import cutoff, week_start
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID

log = logging.getLogger("bandit")


def logged_plays(wh: Warehouse, week: str) -> pd.DataFrame:
    """Every play before ``week``'s cutoff with its duration and, where the table has it, its context."""
    try:
        return wh.plays_before(cutoff(week), (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED, CONTEXT))
    except (KeyError, ValueError):  # a plays table ingested before plays had a context
        return wh.plays_before(cutoff(week), (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED))


def labelled_actions(config: Config, wh: Warehouse, week: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every offered action of the logged weeks before ``week``, each row's reward if it was shown
    (stream plus save bonus; 0 when not shown) and its stream (0/1)."""
    weeks = wh.weeks("bandit_actions", before=week)[-config.bandit.history_weeks :]
    shown = []
    for w in weeks:  # a log counts only beside the table it was published with (a kill between the swaps)
        if read_run_id(wh.partition("bandit_actions", w)) == read_run_id(wh.partition("discover_weekly", w)):
            shown.append(w)
        else:
            log.warning("%s: bandit_actions and discover_weekly are from different runs; rerun %s", w, w)
    frames = [wh.read("bandit_actions", w).assign(week=w) for w in shown]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(), np.zeros(0), np.zeros(0)
    actions = pd.concat(frames, ignore_index=True)
    plays = logged_plays(wh, week)
    saves = read_saves(wh, week)
    reward = np.zeros(len(actions))
    stream = np.zeros(len(actions))
    for w in sorted(set(actions["week"])):
        rows = (actions["week"] == w).to_numpy()
        start = week_start(w)
        start = pd.Timestamp(start).tz_localize("UTC").to_pydatetime()
        args = (actions[rows], plays, saves, start, config.als.min_ms_played)
        reward[rows] = exposure_rewards(*args, config.bandit.save_bonus)
        stream[rows] = exposure_rewards(*args, 0.0)
    return actions, reward, stream


def run(config: Config, week: str) -> dict[str, Any]:
    wh = Warehouse(config.paths.warehouse)
    actions, reward, stream = labelled_actions(config, wh, week)
    chosen = actions["chosen"].to_numpy(dtype=bool) if len(actions) else np.zeros(0, dtype=bool)
    n = int(chosen.sum())
    if n < config.bandit.min_exposures:
        reason = (
            f"{n} logged bandit exposures with a known outcome, fewer than bandit.min_exposures="
            f"{config.bandit.min_exposures}"
        )
        arms = configured_arms(config)
        if BART not in arms:
            reason = (
                f"no bart arm in experiment.arms={list(arms)} (playlist.policy={config.playlist.policy}); " + reason
            )
        return skipped(wh, week, reason, [wh.partition("bandit_model", week)], exposures=n)
    X = np.stack(actions.loc[chosen, "features"].to_numpy()).astype(np.float64)
    propensity = actions.loc[chosen, "probability"].to_numpy()
    top = 1.0 + config.bandit.save_bonus
    model = fit_reward_model(X, reward[chosen], propensity, config.bandit.l2, top=top)
    wh.write("bandit_model", week, model.to_frame().assign(week=week))
    last = actions["week"].max()
    recent = (actions["week"] == last).to_numpy()
    ope = evaluate_targets(actions[recent].reset_index(drop=True), stream[recent], model, seed=config.bandit.seed)
    return {
        "week": week,
        "weeks_logged": sorted(set(actions["week"])),
        "exposures": n,
        "stream_rate": round(float(stream[chosen].mean()), 4),
        "reward_mean": round(float(reward[chosen].mean()), 4),
        "model": {name: round(float(w), 4) for name, w in zip(model.names, model.weights, strict=True)},
        "off_policy": {"week": last, "reward": "stream", **ope},
    }


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "bandit",
        "Train the bandit's reward model on the logged exposures and judge policies off-policy.",
        lambda config, week, _: run(config, week),
        argv,
        metrics="bandit",
    )


if __name__ == "__main__":
    sys.exit(main())
