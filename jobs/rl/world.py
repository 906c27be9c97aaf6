"""The world model: a listener's Discover Weekly session, simulated by the user model, as a ``gymnasium.Env``.

After Tomasi et al. (KDD 2023): the world model starts a session for a listener, keeps track of
what was played and how they answered, returns each recommended track's reward and ends the
session. Here a session is one listener's playlist of ``k`` places filled one at a time from a
**pool** of candidates (the blend's top ``k + rl.pool``; :class:`Pool`):

* **Observation**: ``{"candidates": (P, d) rows, "mask": (P,) 0/1}``: each candidate's feature row
  at the current place (:mod:`jobs.rl.features`: the listener, the track, the place and the
  shares of listens and skips so far), and which candidates the merge's rules allow (not chosen
  yet, fewer than ``artist_cap`` tracks by its artist so far, no version of the same song yet,
  fewer than ``cold_slots`` never-played tracks so far). Pools are padded to ``P`` with masked rows.
* **Action**: a candidate's index; one the mask forbids is an error (the rules mask actions, the
  agent does not learn them).
* **Reward**: the user model's p(skip, listen, complete) for the row, the responses drawn from
  the environment's generator (listen with p(listen); else skip with p(skip); a listen completes
  with p(complete) / p(listen)), and the reward ``listen + reward_complete * complete +
  reward_skip * skip``. ``info["expected_reward"]`` is its expectation.
* **End**: after ``k`` places, or when no candidate is allowed (``terminated``).

``reset(seed=..., options={"listener": i})`` starts listener ``i``'s session (a seeded random
listener without it). Deterministic for a seed. :meth:`PlaylistWorld.expected_rollout` plays
any choice rule through the model without drawing (the shares of listens and skips follow their
expectations): it scores the greedy order, a random order and the agent on the same footing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import numpy as np

from jobs.rl.features import session_columns
from schemas.columns import USER_ID


@dataclass(frozen=True)
class Pool:
    """One listener's candidates, best first by the blend (item index order is the blend's)."""

    user: str
    static: np.ndarray  # (n, static_width) feature rows without the session part
    artist: np.ndarray  # (n,) int
    song: np.ndarray  # (n,) int: same value = same song
    cold: np.ndarray  # (n,) bool: never played


@dataclass(frozen=True)
class Rewards:
    complete: float = 0.2
    skip: float = -0.1

    def expected(self, p: np.ndarray) -> np.ndarray:
        """Expected reward of rows of p(skip, listen, complete)."""
        return p[..., 1] + self.complete * p[..., 2] + self.skip * p[..., 0]


class PlaylistWorld(gym.Env):
    """See the module docstring."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(
        self,
        user_model: Callable[[np.ndarray], np.ndarray],
        pools: list[Pool],
        k: int,
        artist_cap: int,
        cold_slots: int,
        rewards: Rewards = Rewards(),
    ) -> None:
        if not pools:
            raise ValueError("the world model needs at least one listener's pool")
        self.user_model, self.k, self.artist_cap, self.cold_slots, self.rewards = (
            user_model,
            k,
            artist_cap,
            cold_slots,
            rewards,
        )
        self.width = max(len(p.static) for p in pools)
        ds = pools[0].static.shape[1]
        self.static = np.zeros((len(pools), self.width, ds), dtype=np.float32)
        self.valid = np.zeros((len(pools), self.width), dtype=bool)
        self.artist = np.full((len(pools), self.width), -1, dtype=np.int64)
        self.song = np.full((len(pools), self.width), -1, dtype=np.int64)
        self.cold = np.zeros((len(pools), self.width), dtype=bool)
        for i, p in enumerate(pools):
            n = len(p.static)
            self.static[i, :n], self.valid[i, :n] = p.static, True
            self.artist[i, :n], self.song[i, :n], self.cold[i, :n] = p.artist, p.song, p.cold
        self.pools = pools
        d = ds + 4
        self.observation_space = gym.spaces.Dict(
            {
                "candidates": gym.spaces.Box(-np.inf, np.inf, (self.width, d), np.float32),
                "mask": gym.spaces.MultiBinary(self.width),
            }
        )
        self.action_space = gym.spaces.Discrete(self.width)
        self.listener = 0
        self._start(0)

    # --- state -----------------------------------------------------------------------
    def _start(self, listener: int) -> None:
        self.listener, self.t, self.listens, self.skips = listener, 0, 0.0, 0.0
        self.chosen = np.zeros(self.width, dtype=bool)
        self.artists: dict[int, int] = {}
        self.songs: set[int] = set()
        self.cold_used = 0

    def rows_at(self, listener: int, t: int, listen_share: float, skip_share: float) -> np.ndarray:
        """Every candidate's row of ``listener`` at place ``t + 1`` with those shares so far."""
        session = session_columns(
            np.full(self.width, t + 1), np.full(self.width, listen_share), np.full(self.width, skip_share), 1.0
        )
        return np.hstack([self.static[listener], session])

    def shares(self) -> tuple[float, float]:
        return (self.listens / self.t, self.skips / self.t) if self.t else (0.0, 0.0)

    def mask(self) -> np.ndarray:
        m = self.valid[self.listener] & ~self.chosen
        if self.t >= self.k:
            return np.zeros_like(m)
        art, song = self.artist[self.listener], self.song[self.listener]
        full = [a for a, c in self.artists.items() if c >= self.artist_cap]
        if full:
            m &= ~np.isin(art, full)
        if self.songs:
            m &= ~np.isin(song, list(self.songs))
        if self.cold_used >= self.cold_slots:
            m &= ~self.cold[self.listener]
        return m

    def observation(self) -> dict[str, np.ndarray]:
        return {"candidates": self.rows_at(self.listener, self.t, *self.shares()), "mask": self.mask().astype(np.int8)}

    def _place(self, a: int) -> None:
        self.chosen[a] = True
        artist = int(self.artist[self.listener, a])
        self.artists[artist] = self.artists.get(artist, 0) + 1
        self.songs.add(int(self.song[self.listener, a]))
        self.cold_used += int(self.cold[self.listener, a])
        self.t += 1

    # --- gymnasium --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        listener = (options or {}).get("listener")
        if listener is None:
            listener = int(self.np_random.integers(len(self.pools)))
        self._start(int(listener))
        return self.observation(), {"listener": self.listener, USER_ID: self.pools[self.listener].user}

    def step(self, action: int) -> tuple[dict, float, bool, bool, dict]:
        a = int(action)
        if not (0 <= a < self.width) or not self.mask()[a]:
            raise ValueError(
                f"action {a} is not allowed at place {self.t + 1} (chosen, artist cap, song or cold limit)"
            )
        row = self.observation()["candidates"][a][None, :]
        p = np.asarray(self.user_model(row), dtype=np.float64)[0]
        p_skip, p_listen, p_complete = (float(x) for x in np.clip(p, 0.0, 1.0))
        u = self.np_random.random()
        listen = u < p_listen
        skip = (not listen) and u < p_listen + p_skip
        complete = listen and self.np_random.random() < min(1.0, p_complete / max(p_listen, 1e-9))
        reward = float(listen) + self.rewards.complete * float(complete) + self.rewards.skip * float(skip)
        self.listens += float(listen)
        self.skips += float(skip)
        self._place(a)
        obs = self.observation()
        terminated = self.t >= self.k or not obs["mask"].any()
        info = {
            "expected_reward": float(self.rewards.expected(p[None, :])[0]),
            "listen": listen,
            "skip": skip,
            "complete": complete,
            "place": self.t,
        }
        return obs, reward, terminated, False, info

    # --- planning without draws ---------------------------------------------------------
    def expected_rollout(
        self, listener: int, choose: Callable[[np.ndarray, np.ndarray, int], int]
    ) -> tuple[list[int], list[float], np.ndarray]:
        """Fill the listener's places with ``choose(rows, legal indices, t) -> index``; the shares of listens
        and skips follow the user model's expectations. Returns the chosen indices, each place's expected
        reward and the p(skip, listen, complete) of each place (``(places, 3)``)."""
        self._start(listener)
        order, rewards, probs = [], [], []
        lsum = ssum = 0.0
        while self.t < self.k:
            legal = np.flatnonzero(self.mask())
            if not len(legal):
                break
            rows = self.rows_at(listener, self.t, *((lsum / self.t, ssum / self.t) if self.t else (0.0, 0.0)))
            a = int(choose(rows, legal, self.t))
            if a not in set(legal.tolist()):
                raise ValueError(f"the choice rule chose {a}, which the merge's rules forbid at place {self.t + 1}")
            p = np.asarray(self.user_model(rows[a][None, :]), dtype=np.float64)[0]
            lsum += p[1]
            ssum += p[0]
            order.append(a)
            rewards.append(float(self.rewards.expected(p[None, :])[0]))
            probs.append(p)
            self._place(a)
        return order, rewards, np.array(probs).reshape(-1, 3)


def in_order(order: np.ndarray) -> Callable[[np.ndarray, np.ndarray, int], int]:
    """A choice rule that takes the first allowed candidate of a fixed order (the blend's, a random one)."""
    rank = {int(a): r for r, a in enumerate(order)}

    def choose(rows: np.ndarray, legal: np.ndarray, t: int) -> int:
        return int(min(legal, key=lambda a: rank.get(int(a), len(rank) + int(a))))

    return choose
