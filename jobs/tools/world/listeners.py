"""Listeners of the sample world and their listening: who plays what, when, and for how long.

Each listener has 1-3 favourite genres (a taste over all 12, with a floor), a lognormal
weekly activity (heavy and light listeners), and some join late or stop early. Each week
an active listener plays a Poisson number of tracks: 35% replay one of their 12
favourites, the rest are drawn by genre from their taste and, within the genre, by
popularity among the tracks already released (a bump for the first two weeks a track is
out). Plays of tracks outside the listener's taste are skipped more often. Times follow a
daily rhythm. The new releases of the last week are never played.

No I/O: ``build_listeners`` then ``listen`` draw from the world's one random stream, in a fixed order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.common.config import WorldConf
from jobs.tools.world.catalog import Catalog
from jobs.tools.world.genres import GENRES


@dataclass(frozen=True)
class Listeners:
    """The listeners' hidden traits (arrays indexed like ``user_ids``)."""

    user_ids: list[str]
    taste: np.ndarray  # (listeners, genres), each row sums to 1
    activity: np.ndarray  # mean plays per week
    first_week: np.ndarray  # first week of the window they play in
    last_week: np.ndarray  # last week of the window they play in


def build_listeners(conf: WorldConf, rng: np.random.Generator) -> Listeners:
    """Tastes over the genres, activity, and the weeks each listener is around."""
    n_genres = len(GENRES)
    # listeners: 1-3 favourite genres, heavy and light, some join late or stop
    n_users = conf.users
    taste = np.full((n_users, n_genres), 0.02)
    for u in range(n_users):
        k = rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2])
        favs = rng.choice(n_genres, k, replace=False)
        taste[u, favs] += rng.dirichlet(np.ones(k)) * 0.9
    taste /= taste.sum(1, keepdims=True)
    activity = rng.lognormal(np.log(conf.plays_per_user_week), 0.9, n_users)
    first_week = np.where(rng.random(n_users) < 0.1, rng.integers(1, conf.weeks, n_users), 0)
    last_week = np.where(rng.random(n_users) < 0.08, rng.integers(0, conf.weeks - 1, n_users), conf.weeks - 1)
    user_ids = [f"u{u:06d}" for u in range(n_users)]
    return Listeners(user_ids=user_ids, taste=taste, activity=activity, first_week=first_week, last_week=last_week)


def _diurnal() -> np.ndarray:
    p = np.array([2, 1, 1, 1, 1, 1, 2, 4, 6, 6, 5, 5, 6, 6, 5, 5, 6, 7, 8, 9, 9, 8, 6, 4], dtype=float)
    return p / p.sum()


def listen(
    conf: WorldConf, rng: np.random.Generator, catalog: Catalog, listeners: Listeners, start: dt.date
) -> pd.DataFrame:
    """Every play of the window (user_id, track_id, played_at, ms_played), clean and sorted by time."""
    n_genres = len(GENRES)
    n_users = len(listeners.user_ids)
    taste, activity = listeners.taste, listeners.activity
    first_week, last_week, user_ids = listeners.first_week, listeners.last_week, listeners.user_ids
    track_genre, release_week, track_pop = catalog.track_genre, catalog.release_week, catalog.track_pop
    durations = catalog.durations
    track_ids = catalog.tracks["track_id"].tolist()

    # genre -> played tracks; each week's popularity counts only released tracks, with a bump
    # for the first two weeks a new track is out
    genre_tracks = [np.flatnonzero(track_genre[: conf.tracks] == g) for g in range(n_genres)]
    played_release = release_week[: conf.tracks]

    def week_weights(w: int) -> np.ndarray:
        bump = np.where(played_release + 1 == w, 4.0, np.where(played_release + 2 == w, 2.0, 1.0))
        return np.where(played_release < w, track_pop * bump, 0.0)

    def draw_from_genres(genres: np.ndarray, weights: np.ndarray) -> np.ndarray:
        out = np.empty(len(genres), dtype=np.int64)
        available = np.flatnonzero(weights > 0)
        for g in range(n_genres):
            sel = np.flatnonzero(genres == g)
            if len(sel) == 0:
                continue
            ix = genre_tracks[g]
            total = weights[ix].sum() if len(ix) else 0.0
            if total <= 0:  # a genre with nothing released yet: fall back to anything out
                out[sel] = available[rng.integers(0, len(available), len(sel))]
                continue
            cum = np.cumsum(weights[ix]) / total
            idx = np.searchsorted(cum, rng.random(len(sel)))
            out[sel] = ix[np.minimum(idx, len(ix) - 1)]
        return out

    def draw_genres(users: np.ndarray) -> np.ndarray:
        cum = np.cumsum(taste[users], axis=1)
        return np.minimum((rng.random(len(users))[:, None] > cum).sum(1), n_genres - 1)

    # favourites: each listener's heavy rotation, replayed often
    n_fav = 12
    fav_users = np.repeat(np.arange(n_users), n_fav)
    favourites = draw_from_genres(draw_genres(fav_users), week_weights(0)).reshape(n_users, n_fav)

    rows = []
    for w in range(conf.weeks):
        active = np.flatnonzero((first_week <= w) & (last_week >= w))
        counts = rng.poisson(activity[active])
        users = np.repeat(active, counts)
        if len(users) == 0:
            continue
        replay = rng.random(len(users)) < 0.35
        genres = draw_genres(users)
        tracks_drawn = draw_from_genres(genres, week_weights(w))
        fav_pick = favourites[users, rng.integers(0, n_fav, len(users))]
        tracks_drawn = np.where(replay, fav_pick, tracks_drawn)
        g_of_track = track_genre[tracks_drawn]
        liked = taste[users, g_of_track] > 0.15
        skip = rng.random(len(users)) < np.where(liked, 0.12, 0.5)
        dur = durations[tracks_drawn]
        ms = np.where(
            skip, rng.integers(2_000, 30_000, len(users)), (dur * rng.uniform(0.7, 1.0, len(users))).astype(np.int64)
        )
        day = rng.integers(0, 7, len(users))
        hour = rng.choice(24, len(users), p=_diurnal())
        secs = rng.integers(0, 3600, len(users))
        base = np.datetime64(start.isoformat(), "ms") + np.timedelta64(w * 7, "D")
        ts = base + day.astype("timedelta64[D]") + hour.astype("timedelta64[h]") + secs.astype("timedelta64[s]")
        rows.append(pd.DataFrame({"user": users, "track": tracks_drawn, "played_at": ts, "ms_played": ms}))
    plays = pd.concat(rows, ignore_index=True)
    plays = plays.sort_values(["played_at", "user", "track"], kind="stable").reset_index(drop=True)
    plays = pd.DataFrame(
        {
            "user_id": np.array(user_ids, dtype=object)[plays["user"].to_numpy()],
            "track_id": np.array(track_ids, dtype=object)[plays["track"].to_numpy()],
            "played_at": plays["played_at"].to_numpy(),
            "ms_played": plays["ms_played"].to_numpy(),
        }
    )
    return plays
