"""Listeners of the sample world: tastes over scenes that drift, activity, and the weeks they are around.

Each listener's taste is a set of weights over the scenes (1-3 favourite scenes, bigger
scenes more often, and a small floor over all), a lognormal weekly activity (heavy and
light listeners), and some join late or stop early. Six in ten listeners drift: one of
their favourite scenes hands its weight, week by week, to a scene they did not care for at
the start, so the taste of week ``w`` is ``(1 - w / (weeks - 1)) * start + w / (weeks - 1) * end``.

How a taste turns into plays: ``scene_affinity`` gives, for each scene, how much each track
appeals to it (``exp(beta * cos(scene point, track latent))``); the chance that a listener
plays a track in a week is their taste dotted with those affinities (each scene's row
normalised), times the track's popularity that week. ``sessions.py`` draws the plays.

No I/O: ``build_listeners`` draws from the world's one random stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.config import WorldConf
from jobs.tools.world.scenes import Scenes, unit

BETA = 6.0  # how sharply a scene prefers the tracks near its point
DRIFT_SHARE = 0.6


@dataclass(frozen=True)
class Listeners:
    """The listeners' hidden traits (arrays indexed like ``user_ids``)."""

    user_ids: list[str]
    taste_start: np.ndarray  # (listeners, scenes), each row sums to 1
    taste_end: np.ndarray  # the same in the last week (equal to the start for listeners who do not drift)
    activity: np.ndarray  # mean plays per week
    first_week: np.ndarray  # first week of the window they play in
    last_week: np.ndarray  # last week of the window they play in

    def taste(self, week: int, weeks: int) -> np.ndarray:
        """Every listener's weights over the scenes in ``week`` (0-based; after the window, its last week's)."""
        lam = min(week / max(weeks - 1, 1), 1.0)
        return (1 - lam) * self.taste_start + lam * self.taste_end


def scene_affinity(scenes: Scenes, track_latent: np.ndarray) -> np.ndarray:
    """(scenes, tracks): how much each track appeals to each scene, unnormalised."""
    return np.exp(BETA * (scenes.latent @ unit(track_latent).T))


def build_listeners(conf: WorldConf, rng: np.random.Generator, scenes: Scenes, artist_scene: np.ndarray) -> Listeners:
    """Tastes over the scenes (and their drift), activity, and the weeks each listener is around."""
    n_scenes = len(scenes.names)
    n_users = conf.users
    size = np.bincount(artist_scene, minlength=n_scenes) + 0.5
    # favourites: 1-3 scenes drawn without replacement by size (Gumbel top-k); the next in that
    # order is the scene a drifting listener moves to
    k = rng.choice([1, 2, 3], n_users, p=[0.3, 0.45, 0.25])
    order = np.argsort(-(np.log(size / size.sum()) + rng.gumbel(size=(n_users, n_scenes))), axis=1)[:, :4]
    weights = rng.gamma(1.0, size=(n_users, 3)) * (np.arange(3)[None, :] < k[:, None])
    weights = weights / weights.sum(1, keepdims=True) * 0.94
    rows = np.arange(n_users)[:, None]
    start = np.full((n_users, n_scenes), 0.06 / n_scenes)
    start[rows, order[:, :3]] += weights
    end = start.copy()
    drifts = np.flatnonzero(rng.random(n_users) < DRIFT_SHARE)  # one favourite hands its weight to a new scene
    leaving = rng.integers(0, k[drifts])
    moved = weights[drifts, leaving]
    end[drifts, order[drifts, leaving]] -= moved
    end[drifts, order[drifts, k[drifts]]] += moved
    activity = rng.lognormal(np.log(conf.plays_per_user_week), 0.9, n_users)
    first_week = np.where(rng.random(n_users) < 0.1, rng.integers(1, conf.weeks, n_users), 0)
    last_week = np.where(rng.random(n_users) < 0.08, rng.integers(0, conf.weeks - 1, n_users), conf.weeks - 1)
    user_ids = [f"u{u:06d}" for u in range(n_users)]
    return Listeners(
        user_ids=user_ids,
        taste_start=start,
        taste_end=end,
        activity=activity,
        first_week=first_week,
        last_week=last_week,
    )


class RowSampler:
    """Draws one column per request from row-wise cumulative distributions (each row ends at 1)."""

    def __init__(self, cum: np.ndarray) -> None:
        self.n_cols = cum.shape[1]
        self.flat = (cum + np.arange(cum.shape[0])[:, None]).ravel()

    def draw(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pos = np.searchsorted(self.flat, rows + rng.random(len(rows)) * 0.999999, side="right")
        return np.clip(pos - rows * self.n_cols, 0, self.n_cols - 1)


def draw_rows(cum: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column per request from the row-wise cumulative distributions ``cum`` (each row ends at 1)."""
    return RowSampler(cum).draw(rows, rng)


def cumulative(p: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of non-negative weights (rows of zeros become uniform)."""
    p = np.where(p.sum(1, keepdims=True) > 0, p, 1.0)
    cum = np.cumsum(p, axis=1)
    return cum / cum[:, -1:]
