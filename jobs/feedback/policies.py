"""A week's playlists by policy: each listener's arm ranks their list, and every place is logged. Pure.

:func:`policy_playlists` splits the personal listeners into ``experiment.arms``
(:mod:`jobs.feedback.arms`) and makes each arm's lists: ``als`` and ``blend`` with
:func:`jobs.recsys.playlists.playlists` (greedy: every place has propensity 1), ``bart`` with
the blend's ``k + bandit.pool`` candidates and their true reasons, the first
``bandit.slots`` places drawn by :func:`jobs.feedback.bandit.fill_slots` (seeded by
``bandit.seed``, the week and the listener). It returns the picks, and for the log of
exposures each place's policy, policy version and propensity, and every action the bandit
offered. With the single arm ``blend`` (the default) it is exactly today's blend.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from jobs.config import Config
from jobs.feedback.arms import ALS, BART, BLEND, arm_of, policy_merge_conf
from jobs.feedback.bandit import RewardModel, fill_slots
from jobs.recsys.inputs import Inputs
from jobs.recsys.playlists import playlists
from jobs.recsys.ranking import Playlists
from jobs.warehouse.weeks import parse_week
from schemas.columns import USER_ID

GREEDY = "greedy"
EXPLORE = "explore"


@dataclass
class PolicyLists:
    """The week's personal playlists and what the exposures log needs about each place."""

    lists: Playlists
    policy: dict[str, str]  # listener -> policy
    version: dict[str, str]  # listener -> policy version
    propensity: dict[str, list[float]]  # listener -> per place
    offered: list[dict] = field(default_factory=list)  # the bandit's actions (user_id, position, item, ...)


def policy_playlists(
    inp: Inputs, config: Config, week: str, model: RewardModel | None, model_week: str | None
) -> PolicyLists:
    """Every personal listener's playlist under their arm's policy (see the module docstring)."""
    conf, bandit = config.merge, config.bandit
    users = inp.users[USER_ID].tolist()
    arms = arm_of(users, config.experiment.arms, config.experiment.seed)
    out = PolicyLists({}, {}, {}, {})
    for policy in (ALS, BLEND, BART):
        ids = [u for u in users if arms[u] == policy]
        if not ids:
            continue
        if policy != BART:
            lists = playlists(inp, policy_merge_conf(policy, conf), ids)
            for u, picks in lists.items():
                out.lists[u], out.policy[u], out.version[u] = picks, policy, GREEDY
                out.propensity[u] = [1.0] * len(picks)
            continue
        wide = conf.model_copy(update={"k": conf.k + bandit.pool})
        candidates = playlists(inp, wide, ids, options_share=bandit.reason_share)
        cold = inp.items.cold()
        year, number = parse_week(week)
        version = f"model-{model_week}" if model is not None else EXPLORE
        for u in ids:
            cands = candidates.get(u, [])
            rng = np.random.default_rng([bandit.seed, year * 100 + number, zlib.crc32(u.encode())])
            history = float(np.log1p(len(inp.heard_by_user.get(u, ()))) / 5.0)
            picks, props, offered = fill_slots(
                cands, conf.k, bandit.slots, cold, history, model, bandit.method, bandit.epsilon, rng
            )
            out.lists[u], out.policy[u], out.version[u], out.propensity[u] = picks, BART, version, props
            out.offered += [{USER_ID: u, **row} for row in offered]
    return out
