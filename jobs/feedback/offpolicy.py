"""Judging policies on the bandit's log before they are shown to anyone. Pure.

The ``bandit_actions`` log holds, for every bandit place (a week, a listener, a place), every
(track, explanation) offered, the probability the logging policy (BaRT, randomised) gave it
and the one shown. A *target* policy is a probability over the same actions at each place;
:func:`target_probabilities` gives those of the policies judged here:

* ``logging``: the logging policy itself (its IPS is the plain mean reward, a check);
* ``blend_greedy``: the blend's own choice, the action with the largest blended score (the
  sum of the score's parts), shown with the blend's reason (the first listed);
* ``als_greedy``: ALS alone, the action with the largest model part among played tracks (the ``als``
  arm shows no never-played track), with its first reason;
* ``model_greedy``: BaRT without exploration, the action the logged reward model predicted
  best (only places logged with a model);
* ``uniform``: every action alike.

:func:`evaluate_targets` estimates each target's value per place from the log's rewards
with :mod:`jobs.feedback.ope` (IPS, SNIPS, and doubly robust with a reward model),
resampling listeners.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from jobs.feedback.bandit import FEATURE_NAMES, RewardModel
from jobs.feedback.ope import estimate_all
from schemas.columns import POSITION, USER_ID

TARGETS = ("logging", "blend_greedy", "als_greedy", "model_greedy", "uniform")
PLACE = ["week", USER_ID, POSITION]
NEVER_PLAYED = FEATURE_NAMES.index("never_played")


def _first_best(values: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """1.0 at the first largest value of each slot (rows grouped by ``slot`` codes, in row order)."""
    frame = pd.DataFrame({"slot": slot, "v": values, "i": np.arange(len(values))})
    best = frame.sort_values(["slot", "v", "i"], ascending=[True, False, True]).groupby("slot")["i"].first()
    out = np.zeros(len(values))
    out[best.to_numpy()] = 1.0
    return out


def target_probabilities(actions: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per action row, each target's probability of choosing it at its place (NaN where a target is undefined)."""
    slot = actions.groupby(PLACE, sort=False).ngroup().to_numpy()
    features = np.stack(actions["features"].to_numpy()) if len(actions) else np.zeros((0, 5))
    blended = features[:, 1:5].sum(axis=1)
    sizes = np.bincount(slot)[slot] if len(slot) else np.zeros(0)
    predicted = actions["predicted"].to_numpy(dtype=np.float64)
    has_model = pd.Series(~np.isnan(predicted)).groupby(slot).transform("all").to_numpy() if len(slot) else predicted
    model = np.where(has_model, _first_best(np.nan_to_num(predicted, nan=-1.0), slot), np.nan)
    return {
        "logging": actions["probability"].to_numpy(dtype=np.float64),
        "blend_greedy": _first_best(blended, slot),
        "als_greedy": _first_best(np.where(features[:, NEVER_PLAYED] > 0, -np.inf, features[:, 1]), slot),
        "model_greedy": model,
        "uniform": 1.0 / np.maximum(sizes, 1),
    }


def evaluate_targets(
    actions: pd.DataFrame, reward: np.ndarray, model: RewardModel | None = None, seed: int = 0
) -> dict[str, Any]:
    """Each target's estimated value per bandit place (``reward``: per action row, used on the chosen
    ones). With ``model``, doubly robust estimates too (its predictions for every action)."""
    probs = target_probabilities(actions)
    chosen = actions["chosen"].to_numpy(dtype=bool)
    slot = actions.groupby(PLACE, sort=False).ngroup().to_numpy()
    q_all = model.predict(np.stack(actions["features"].to_numpy())) if model is not None and len(actions) else None
    out: dict[str, Any] = {"places": int(chosen.sum()), "listeners": int(actions.loc[chosen, USER_ID].nunique())}
    for name, p in probs.items():
        defined = ~np.isnan(p)
        rows = chosen & defined
        if not rows.any():
            out[name] = {"skipped": "no logged place where this policy is defined"}
            continue
        kwargs: dict[str, Any] = {}
        if q_all is not None:
            v = pd.Series(np.where(defined, p, 0.0) * q_all).groupby(slot).transform("sum").to_numpy()
            kwargs = {"q_logged": q_all[rows], "v_target": v[rows]}
        est = estimate_all(
            reward[rows],
            actions["probability"].to_numpy(dtype=np.float64)[rows],
            p[rows],
            groups=actions.loc[rows, USER_ID].to_numpy(),
            seed=seed,
            **kwargs,
        )
        out[name] = {k: e.as_dict() for k, e in est.items()}
    return out
