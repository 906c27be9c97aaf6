"""A week's playlists by policy: each listener's arm ranks their list, and every place is logged. Pure.

:func:`policy_playlists` splits the personal listeners into ``experiment.arms``
(:mod:`jobs.feedback.arms`) and makes each arm's lists: ``als`` and ``blend`` with
:func:`jobs.recsys.playlists.playlists` (greedy: every place has propensity 1), ``bart`` with
the blend's ``k + bandit.pool`` candidates and their true reasons, the first
``bandit.slots`` places drawn by :func:`jobs.feedback.bandit.fill_slots` (seeded by
``bandit.seed``, the week and the listener), ``ahdqn`` in the order the agent chose
(:mod:`jobs.ahdqn`'s lists, each track one of the blend's ``k + rl.pool`` candidates; without
them the blend's order, logged as ``greedy-no-agent``), ``random`` as ``k`` of those same
candidates in a seeded random order (propensity ``1 / (n - place + 1)``). It returns the picks,
and for the log of exposures each place's policy, policy version and propensity, and every
action the bandit offered. With the default arm (``playlist.policy: greedy``, the arm ``blend``)
it is exactly today's blend.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from jobs.config import Config
from jobs.feedback.arms import AHDQN, ALS, BART, BLEND, RANDOM, arm_of, configured_arms, policy_merge_conf
from jobs.feedback.bandit import RewardModel, fill_slots
from jobs.recsys.inputs import Inputs
from jobs.recsys.playlists import playlists
from jobs.recsys.ranking import Playlists
from jobs.warehouse.weeks import parse_week
from schemas.columns import USER_ID

GREEDY = "greedy"
EXPLORE = "explore"
NO_AGENT = "greedy-no-agent"
SHUFFLED = "uniform"


@dataclass
class PolicyLists:
    """The week's personal playlists and what the exposures log needs about each place."""

    lists: Playlists
    policy: dict[str, str]  # listener -> policy
    version: dict[str, str]  # listener -> policy version
    propensity: dict[str, list[float]]  # listener -> per place
    offered: list[dict] = field(default_factory=list)  # the bandit's actions (user_id, position, item, ...)


def policy_playlists(
    inp: Inputs,
    config: Config,
    week: str,
    model: RewardModel | None,
    model_week: str | None,
    agent: tuple[dict[str, list[str]], str | None] = ({}, None),
) -> PolicyLists:
    """Every personal listener's playlist under their arm's policy (see the module docstring); ``agent``: the
    ``ahdqn`` arm's lists (listener -> track ids) and their policy version."""
    conf, bandit = config.merge, config.bandit
    users = inp.users[USER_ID].tolist()
    arms = arm_of(users, configured_arms(config), config.experiment.seed)
    out = PolicyLists({}, {}, {}, {})
    for policy in (AHDQN, RANDOM):
        ids = [u for u in users if arms[u] == policy]
        if ids:
            agent_pool_lists(inp, config, week, policy, ids, agent, out)
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


def agent_pool_lists(
    inp: Inputs,
    config: Config,
    week: str,
    policy: str,
    ids: list[str],
    agent: tuple[dict[str, list[str]], str | None],
    out: PolicyLists,
) -> None:
    """The ``ahdqn`` or ``random`` arm's lists from the blend's ``k + rl.pool`` candidates, into ``out``."""
    k = config.merge.k
    pool = playlists(inp, config.merge.model_copy(update={"k": k + config.rl.pool}), ids)
    lists, version = agent
    year, number = parse_week(week)
    for u in ids:
        cands = pool.get(u, [])
        if policy == RANDOM:
            rng = np.random.default_rng([config.experiment.seed, year * 100 + number, zlib.crc32(u.encode())])
            order = rng.permutation(len(cands))[:k]
            picks = [cands[i] for i in order]
            out.lists[u], out.policy[u], out.version[u] = picks, RANDOM, SHUFFLED
            out.propensity[u] = [1.0 / (len(cands) - i) for i in range(len(picks))]
            continue
        by_track = {inp.items.track_ids[c.item]: c for c in cands}
        chosen = lists.get(u)
        if chosen and all(t in by_track for t in chosen):
            out.lists[u], out.version[u] = [by_track[t] for t in chosen], version or AHDQN
        else:  # no agent this week (or the pool moved under it): the blend's own order, and the log says so
            out.lists[u], out.version[u] = cands[:k], NO_AGENT
        out.policy[u] = AHDQN
        out.propensity[u] = [1.0] * len(out.lists[u])
