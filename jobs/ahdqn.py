"""AH-DQN: build the world model from the week's user model, train the agent against it, order the ``ahdqn`` arm.

Reads, for run week ``W``: ``models/listener_models/week=W/`` (the user model and the content
model, :mod:`jobs.listener_models`), what the merge reads (:func:`jobs.recsys.inputs.prepare_inputs`:
the blend's candidates of each listener) and what :class:`jobs.rl.history.History` reads (the
listeners' and tracks' features at ``W``).

1. **Pools**: for a seeded sample of ``rl.train_listeners`` personal listeners and every listener
   of the ``ahdqn`` arm (``experiment.arms`` / ``playlist.policy``), the blend's top
   ``merge.k + rl.pool`` candidates, each with its feature row (:mod:`jobs.rl.features`).
2. **World model** (:class:`jobs.rl.world.PlaylistWorld`) over the training pools, and the
   **agent** (:func:`jobs.rl.agent.train_agent`) trained against it; with ``rl.train: reuse`` the
   newest agent of the last ``rl.retrain_weeks`` weeks is used instead when its features match.
3. **Judged in the world model**: each arm listener's (or training listener's) expected reward
   per place and expected listens under the agent, the blend's greedy order and a random order
   of the same pool, with the paired 95% interval of agent minus greedy. The simulator, which the
   agent never sees, is the real judge (``make simulate ARMS=blend,bart,ahdqn,random``).
4. **Lists**: each ``ahdqn`` listener's 30, the agent's greedy choice place after place.

Writes ``models/ahdqn/week=W/`` (``q_network.keras`` when trained this week, ``weights.npz``,
``network.json``, ``lists.parquet``: user_id, position, track_id, the world model's
p(listen) and expected reward; ``info.json``; one atomic swap) and
``run_metrics/week=W/ahdqn.json``; the merge takes the ``ahdqn`` arm's order from ``lists.parquet``.
Skips (exit 99) when no listener is in the ``ahdqn`` arm, without the week's user model, or
when the user model has seen no Discover Weekly answer yet (the first week of a deployment: a
world model of organic plays alone knows nothing of a playlist's places); the merge then gives
that arm the blend's order and logs it as ``greedy-no-agent``.

Run alone::

    python -m jobs.ahdqn --week 2026-W47
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config, MergeConf
from jobs.evaluation.stats import paired_difference
from jobs.feedback.arms import AHDQN, arm_of, configured_arms
from jobs.feedback.bandit import explanation_kind
from jobs.recsys.inputs import Inputs, prepare_inputs
from jobs.recsys.playlists import playlists
from jobs.recsys.ranking import Playlists
from jobs.rl import user_model as um
from jobs.rl.agent import DqnSettings, agent_choice, train_agent
from jobs.rl.content_model import ContentNet
from jobs.rl.features import row_names
from jobs.rl.history import AGENT_LISTS, History, agent_folder, content_scorer, model_folder
from jobs.rl.world import PlaylistWorld, Pool, Rewards, in_order
from jobs.runtime.cli import skipped, week_job
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import shift
from schemas.columns import POSITION, TRACK_ID, USER_ID

log = logging.getLogger("ahdqn")
EVAL_LISTENERS = 300  # listeners judged in the world model


def agent_merge_conf(config: Config) -> MergeConf:
    """The blend settings of the agent's pool: ``merge.k + rl.pool`` candidates."""
    return config.merge.model_copy(update={"k": config.merge.k + config.rl.pool})


def build_pools(hist: History, inp: Inputs, candidates: Playlists, week: str, k: int) -> dict[str, Pool]:
    """Each listener's pool (at least ``k`` candidates) with its feature rows, in one feature pass."""
    items, cold = inp.items, inp.items.cold()
    users, tracks, kinds, owners = [], [], [], []
    for u in sorted(candidates):
        picks = candidates[u]
        if len(picks) < k:
            continue
        for p in picks:
            users.append(u)
            tracks.append(items.track_ids[p.item])
            kinds.append(explanation_kind(p.source, p.reason))
        owners.append(u)
    if not users:
        return {}
    static = hist.features(np.array(users), np.array(tracks), np.full(len(users), week), kinds)
    out, start = {}, 0
    for u in owners:
        idx = np.array([p.item for p in candidates[u]])
        n = len(idx)
        out[u] = Pool(u, static[start : start + n], items.artist_idx[idx], items.song_key[idx], cold[idx])
        start += n
    return out


def q_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """The Q-network's input columns: the row's, then the user model's three predictions."""
    return (*names, "p_skip", "p_listen", "p_complete")


def previous_agent(config: Config, week: str, names: tuple[str, ...]) -> tuple[um.DenseNet, str] | None:
    """With ``rl.train: reuse``: the newest agent before ``week`` when it was trained at most ``rl.retrain_weeks``
    weeks before and reads the same inputs; else ``None`` (train afresh)."""
    if config.rl.train != "reuse":
        return None
    wh = Warehouse(config.paths.warehouse)
    oldest = shift(week, -config.rl.retrain_weeks)
    for w in reversed(wh.weeks("models/ahdqn", before=week)):
        folder = agent_folder(config, w)
        try:
            net = um.DenseNet.load(folder)
            trained = json.loads((folder / "info.json").read_text()).get("trained_week", w)
        except (OSError, ValueError, KeyError):
            continue
        return (net, trained) if tuple(net.names) == names and trained >= oldest else None
    return None


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    d = paired_difference(a, b)
    return {"difference": round(d.mean, 4), "ci95": [round(d.low, 4), round(d.high, 4)]}


def judge(
    env: PlaylistWorld, q: um.DenseNet, seed: int
) -> tuple[dict[str, Any], dict[int, tuple[list[int], np.ndarray, list[float]]]]:
    """Expected reward per place and expected listens per place in the world model of every listener of ``env``
    under the agent, the greedy order and a random order; and the agent's rollout per listener."""
    rng = np.random.default_rng(seed)
    per: dict[str, list[tuple[float, float]]] = {"ahdqn": [], "greedy": [], "random": []}
    rollouts = {}
    for i, pool in enumerate(env.pools):
        n = len(pool.static)
        for name, choose in (
            ("ahdqn", agent_choice(q, env.user_model)),
            ("greedy", in_order(np.arange(n))),
            ("random", in_order(rng.permutation(n))),
        ):
            order, rewards, probs = env.expected_rollout(i, choose)
            per[name].append((float(np.mean(rewards)), float(probs[:, 1].mean())))
            if name == "ahdqn":
                rollouts[i] = (order, probs, rewards)
    out: dict[str, Any] = {"listeners": len(env.pools)}
    for name, vals in per.items():
        arr = np.array(vals)
        out[name] = {
            "reward_per_place": round(float(arr[:, 0].mean()), 4),
            "listen_per_place": round(float(arr[:, 1].mean()), 4),
        }
    a, g, r = (np.array(per[x]) for x in ("ahdqn", "greedy", "random"))
    out["ahdqn_minus_greedy"] = {"reward": _paired(a[:, 0], g[:, 0]), "listen": _paired(a[:, 1], g[:, 1])}
    out["greedy_minus_random"] = {"reward": _paired(g[:, 0], r[:, 0]), "listen": _paired(g[:, 1], r[:, 1])}
    return out, rollouts


def run(config: Config, week: str) -> dict[str, Any]:
    wh = Warehouse(config.paths.warehouse)
    folder = agent_folder(config, week)
    arms = configured_arms(config)
    if AHDQN not in arms:
        return skipped(
            wh,
            week,
            f"no ahdqn arm in experiment.arms={list(arms)} (playlist.policy={config.playlist.policy})",
            [folder],
        )
    source = model_folder(config, week)
    if not (source / "weights.npz").exists():
        return skipped(wh, week, f"{source}: no user model for the week (listener_models skipped or not run)", [folder])
    rl, k = config.rl, config.merge.k
    t0 = time.perf_counter()
    user_net, info = um.load(source)
    if not info.get("discover_weekly_rows"):
        reason = f"{source}: the user model has seen no Discover Weekly answers yet (organic plays only)"
        return skipped(wh, week, reason, [folder])
    hist = History(config, week)
    names = row_names(hist.rank)
    if tuple(info["names"]) != names:
        raise ValueError(
            f"{source}: the user model's features differ from this code's; rerun listener_models for {week}"
        )
    if info.get("content_model"):
        hist.content = content_scorer(hist, ContentNet.load(source))
    inp = prepare_inputs(config, week)
    personal = inp.users[USER_ID].tolist()
    arm = [u for u, a in arm_of(personal, arms, config.experiment.seed).items() if a == AHDQN]
    rng = np.random.default_rng(rl.seed)
    train_ids = sorted(rng.choice(personal, min(len(personal), rl.train_listeners), replace=False).tolist())
    candidates = playlists(inp, agent_merge_conf(config), sorted(set(train_ids) | set(arm)))
    pools = build_pools(hist, inp, candidates, week, k)
    t_pools = time.perf_counter() - t0
    rewards = Rewards(rl.reward_complete, rl.reward_skip)

    def world(ids: list[str]) -> PlaylistWorld:
        chosen = [pools[u] for u in ids if u in pools]
        return PlaylistWorld(user_net, chosen, k, config.merge.artist_cap, config.merge.cold_slots, rewards)

    reused = previous_agent(config, week, q_names(names))
    model = None
    t1 = time.perf_counter()
    if reused is not None:
        q, trained_week = reused
        training: dict[str, Any] = {"reused_from": trained_week}
    else:
        model, q, training = train_agent(world(train_ids), DqnSettings.from_conf(rl), rl.seed)
        trained_week = week
    q = um.DenseNet(q.mean, q.std, q.layers, q.output, q_names(names))
    t_train = time.perf_counter() - t1
    # the arm's listeners, or (no listener drawn into the arm) a sample of the training ones
    judged_ids = [u for u in arm if u in pools] if arm else [u for u in train_ids if u in pools][:EVAL_LISTENERS]
    env = world(judged_ids)
    t2 = time.perf_counter()
    evaluation, rollouts = judge(env, q, rl.seed)
    rows = []
    for i, pool in enumerate(env.pools):
        if pool.user not in set(arm):
            continue
        order, probs, exp_rewards = rollouts[i]
        picks = candidates[pool.user]
        rows += [
            (pool.user, pos, inp.items.track_ids[picks[a].item], float(probs[pos - 1, 1]), exp_rewards[pos - 1])
            for pos, a in enumerate(order, 1)
        ]
    lists = pd.DataFrame(rows, columns=[USER_ID, POSITION, TRACK_ID, "p_listen", "expected_reward"])
    t_serve = time.perf_counter() - t2
    with wh.staged(folder) as stage:
        if model is not None:
            model.save(stage / "q_network.keras")
        q.save(stage)
        lists.to_parquet(stage / AGENT_LISTS, index=False)
        (stage / "info.json").write_text(json.dumps({"week": week, "trained_week": trained_week}, indent=1) + "\n")
    return {
        "week": week,
        "policy_version": f"ahdqn-{trained_week}",
        "arm_listeners": len(arm),
        "listed": int(lists[USER_ID].nunique()) if len(lists) else 0,
        "train_listeners": len([u for u in train_ids if u in pools]),
        "pool": k + rl.pool,
        "training": training,
        "world_model": evaluation,
        "phase_seconds": {"pools": round(t_pools, 1), "train": round(t_train, 1), "judge_and_serve": round(t_serve, 1)},
    }


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "ahdqn",
        "Train the action-head DQN against the world model and order the ahdqn arm's playlists.",
        lambda config, week, _: run(config, week),
        argv,
        metrics="ahdqn",
    )


if __name__ == "__main__":
    sys.exit(main())
