"""The action-head DQN: a Keras Q-network over (state, candidate) rows, trained against the world model.

After Tomasi et al. (KDD 2023): the space of 30-track playlists is combinatorial, so the agent
picks one track at a time; the candidate is an input of the network (the "action head") and
the network outputs one number, Q(s, a); the agent takes the allowed candidate with the
highest Q. A row of the world model (:mod:`jobs.rl.world`) holds the state (the listener, the
place, the shares of listens and skips so far) and the candidate together, so the Q-network
reads those rows, each followed by the user model's p(skip, listen, complete) for it (the world
model's own one-step prediction, :func:`q_input`: the network then learns how a place's value
departs from its immediate reward rather than the immediate reward itself).

:func:`train_agent` is DQN (Mnih et al. 2015): epsilon-greedy episodes against the world model
(epsilon falling linearly from ``rl.epsilon_start`` to ``rl.epsilon_end`` over the first 70% of
``rl.episodes``), an experience replay of ``rl.replay`` transitions, a gradient step (Huber
loss) on ``rl.dqn_batch`` of them every ``rl.update_every`` steps, towards
``r + gamma * max_{a' allowed} Q_target(s', a')`` with the target network copied every
``rl.target_sync`` steps. With ``rl.expected_reward`` (the default) a transition's reward is
the world model's expected reward of the step, not the drawn one (the same target in
expectation, without the draw's noise); the state still follows the drawn responses. Seeded
and deterministic. The network acts through its numpy twin
(:class:`jobs.rl.user_model.DenseNet`), refreshed every 20 gradient steps.
:func:`agent_choice` is the trained agent's choice rule (greedy in Q).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.rl.user_model import CLIP, DenseNet, dense_model, seed_everything, standardiser
from jobs.rl.world import PlaylistWorld

ACT_REFRESH = 20  # gradient steps between refreshes of the acting copy


@dataclass(frozen=True)
class DqnSettings:
    episodes: int = 800
    hidden: tuple[int, ...] = (64, 32)
    gamma: float = 0.5
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    replay: int = 20_000
    batch: int = 128
    learning_rate: float = 0.001
    target_sync: int = 200
    update_every: int = 4
    expected_reward: bool = True

    @classmethod
    def from_conf(cls, rl: Any) -> DqnSettings:
        return cls(
            rl.episodes,
            tuple(rl.q_hidden),
            rl.gamma,
            rl.epsilon_start,
            rl.epsilon_end,
            rl.replay,
            rl.dqn_batch,
            rl.dqn_learning_rate,
            rl.target_sync,
            rl.update_every,
        )


def q_input(user_model: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The Q-network's input: each row followed by the user model's p(skip, listen, complete) for it."""
    return np.hstack([rows, np.asarray(user_model(rows), dtype=np.float32)])


def _q_values(net: DenseNet, user_model: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    return np.asarray(net(q_input(user_model, rows)), dtype=np.float64).reshape(-1)


def agent_choice(
    q: DenseNet, user_model: Callable[[np.ndarray], np.ndarray]
) -> Callable[[np.ndarray, np.ndarray, int], int]:
    """The choice rule of a trained Q-network: the allowed candidate with the highest Q (ties: the blend's first)."""

    def choose(rows: np.ndarray, legal: np.ndarray, t: int) -> int:
        values = _q_values(q, user_model, rows[legal])
        return int(legal[int(np.argmax(values))])

    return choose


def train_agent(env: PlaylistWorld, settings: DqnSettings, seed: int) -> tuple[Any, DenseNet, dict[str, Any]]:
    """Train the Q-network against ``env``; returns the Keras model, its numpy twin and the training curve
    (mean return per tenth of the episodes, gradient steps, last loss)."""
    import keras

    seed_everything(seed)
    rng = np.random.default_rng(seed)
    n_listeners = len(env.pools)
    # standardise with rows from every pool at a few places and shares (the state's range)
    um = env.user_model
    probe = np.concatenate(
        [
            q_input(um, env.rows_at(i, t, s, s / 2)[env.valid[i]])
            for i in range(min(n_listeners, 200))
            for t, s in ((0, 0.0), (14, 0.3), (29, 0.6))
        ]
    )
    mean, std = standardiser(probe)
    d = probe.shape[1]
    model = dense_model(d, settings.hidden, 1, "linear", settings.learning_rate, "huber")
    target = keras.models.clone_model(model)
    target.set_weights(model.get_weights())

    def twin(m: Any) -> DenseNet:
        return DenseNet.from_keras(m, mean, std, "linear")

    act, tgt = twin(model), twin(target)
    cap = settings.replay
    buf_x = np.zeros((cap, d), dtype=np.float32)
    buf_r = np.zeros(cap, dtype=np.float32)
    buf_l = np.zeros(cap, dtype=np.int64)
    buf_t = np.zeros(cap, dtype=np.int64)
    buf_sh = np.zeros((cap, 2), dtype=np.float32)
    buf_mask = np.zeros((cap, env.width), dtype=bool)
    buf_done = np.zeros(cap, dtype=bool)
    size = head = steps = updates = 0
    returns: list[float] = []
    loss = float("nan")
    decay = max(1, int(0.7 * settings.episodes))
    env.reset(seed=seed)
    for episode in range(settings.episodes):
        eps = settings.epsilon_start + (settings.epsilon_end - settings.epsilon_start) * min(1.0, episode / decay)
        obs, info = env.reset(options={"listener": int(rng.integers(n_listeners))})
        listener, total, done = info["listener"], 0.0, False
        while not done:
            legal = np.flatnonzero(obs["mask"])
            if rng.random() < eps:
                a = int(rng.choice(legal))
            else:
                a = int(legal[int(np.argmax(_q_values(act, um, obs["candidates"][legal])))])
            x = q_input(um, obs["candidates"][a][None, :])[0]
            obs, reward, done, _, info = env.step(a)
            if settings.expected_reward:
                reward = info["expected_reward"]
            total += reward
            buf_x[head], buf_r[head], buf_l[head], buf_t[head] = x, reward, listener, env.t
            buf_sh[head], buf_mask[head], buf_done[head] = env.shares(), obs["mask"].astype(bool), done
            head, size, steps = (head + 1) % cap, min(size + 1, cap), steps + 1
            if size >= settings.batch and steps % settings.update_every == 0:
                j = rng.integers(size, size=settings.batch)
                y = buf_r[j].astype(np.float64)
                live = ~buf_done[j]
                if live.any():
                    nxt = np.stack([env.rows_at(int(buf_l[i]), int(buf_t[i]), *buf_sh[i]) for i in j[live]])
                    q = _q_values(tgt, um, nxt.reshape(-1, nxt.shape[2])).reshape(len(nxt), env.width)
                    q = np.where(buf_mask[j[live]], q, -np.inf)
                    y[live] += settings.gamma * q.max(axis=1)
                loss = float(
                    model.train_on_batch(np.clip((buf_x[j] - mean) / std, -CLIP, CLIP), y[:, None].astype(np.float32))
                )
                updates += 1
                if updates % ACT_REFRESH == 0:
                    act = twin(model)
                if updates % settings.target_sync == 0:
                    target.set_weights(model.get_weights())
                    tgt = twin(target)
        returns.append(total)
    tenth = max(1, settings.episodes // 10)
    curve = [round(float(np.mean(returns[i : i + tenth])), 4) for i in range(0, len(returns), tenth)]
    return (
        model,
        twin(model),
        {"episodes": settings.episodes, "updates": updates, "last_loss": round(loss, 5), "return_by_tenth": curve},
    )
