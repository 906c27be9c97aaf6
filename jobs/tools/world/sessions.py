"""The listening of the sample world: sessions of plays, albums played through, skips, a daily rhythm.

Each week an active listener plays a Poisson number of tracks (their activity). Each play
is one of three kinds: a replay of one of their 12 favourites (30%; drawn from their taste
at the start, and again from their taste at mid-window), a play found by popularity alone
(7%), or a play from their taste: a scene drawn from the week's taste weights, then a
track by that scene's affinity times the track's popularity that week (among the tracks
already released, with a bump in the two weeks after release).

Plays come in sessions (a new one starts with chance 1/6 at each play): inside a session
each play starts when the previous one ends, plus up to 20 s, so plays are minutes apart;
a listener's sessions start at hours of the day drawn from a daily rhythm and are at
least an hour apart (a session is pushed later when the previous one, of this week or the
week before, is still running).
One session in seven of three plays or more plays an album through: the album of the
track it started with, from its first released track, in album order. A play is skipped
(2-30 s) more often when the track is far from the listener's taste (the cosine between
the track's latent vector and the taste's point); favourites and albums are rarely
skipped. Plays that would fall after the window's end are dropped; the new releases of the
last week are never played.

No I/O: ``listen`` draws from the world's one random stream, in a fixed order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.config import WorldConf
from jobs.tools.world.catalog import Catalog
from jobs.tools.world.listeners import Listeners, cumulative, draw_rows, scene_affinity
from jobs.tools.world.scenes import Scenes, unit
from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID

N_FAVOURITES = 12
HOUR_MS = 3_600_000


def _diurnal() -> np.ndarray:
    p = np.array([2, 1, 1, 1, 1, 1, 2, 4, 6, 6, 5, 5, 6, 6, 5, 5, 6, 7, 8, 9, 9, 8, 6, 4], dtype=float)
    return p / p.sum()


def _group_start(groups: np.ndarray) -> np.ndarray:
    """For sorted group labels: the index of each element's group's first element."""
    first = np.r_[True, groups[1:] != groups[:-1]]
    return np.maximum.accumulate(np.where(first, np.arange(len(groups)), 0))


def _exclusive_cumsum_in_groups(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    total = np.cumsum(values) - values
    return total - total[_group_start(groups)]


def week_weights(catalog: Catalog, conf: WorldConf, week: int) -> np.ndarray:
    """Popularity of each played track in ``week``: zero before release, a bump just after."""
    released = catalog.release_week[: conf.tracks]
    bump = np.where(released + 1 == week, 4.0, np.where(released + 2 == week, 2.0, 1.0))
    return np.where(released < week, catalog.track_pop * bump, 0.0)


def _albums_in_order(catalog: Catalog, conf: WorldConf) -> dict[int, np.ndarray]:
    """Album number -> its played-catalog tracks in album order."""
    album = catalog.album[: conf.tracks]
    order = np.lexsort((catalog.album_position[: conf.tracks], album))
    bounds = np.flatnonzero(np.r_[True, album[order][1:] != album[order][:-1], True])
    return {int(album[order[a]]): order[a:b] for a, b in itertools.pairwise(bounds)}


def _session_times(
    rng: np.random.Generator, users: np.ndarray, session: np.ndarray, length_ms: np.ndarray, free: np.ndarray
) -> np.ndarray:
    """Each play's offset from the week's Monday (ms): sessions at least an hour apart, plays back to back.

    ``free[u]``: the offset before which listener ``u`` is still busy (last week's sessions)."""
    first_of_session = np.r_[True, session[1:] != session[:-1]]
    s_user = users[first_of_session]
    n_sessions = len(s_user)
    gap = rng.integers(0, 20_000, len(users))
    within = _exclusive_cumsum_in_groups(length_ms + gap, session)
    duration = np.bincount(session, weights=length_ms + gap, minlength=n_sessions).astype(np.int64)
    starts = (
        rng.integers(0, 7, n_sessions) * 24 * HOUR_MS
        + rng.choice(24, n_sessions, p=_diurnal()) * HOUR_MS
        + rng.integers(0, HOUR_MS, n_sessions)
    )
    starts = np.maximum(starts[np.lexsort((starts, s_user))], free[s_user])  # each listener's sessions in order
    pause = HOUR_MS + rng.exponential(2 * HOUR_MS, n_sessions).astype(np.int64)
    before = _exclusive_cumsum_in_groups(duration + pause, s_user)
    big = np.int64(1) << 40
    label = np.cumsum(np.r_[True, s_user[1:] != s_user[:-1]]).astype(np.int64)
    pushed = np.maximum.accumulate(starts - before + label * big) - label * big + before
    return pushed[session] + within


@dataclass(frozen=True)
class Listening:
    """What the listening of every week is drawn from: the hidden model, indexed for drawing."""

    conf: WorldConf
    catalog: Catalog
    scenes: Scenes
    listeners: Listeners
    affinity: np.ndarray  # (scenes, played tracks)
    unit_latent: np.ndarray  # the played tracks' latent vectors, unit length
    albums: dict[int, np.ndarray]
    favourites: np.ndarray  # (2, listeners, N_FAVOURITES): the favourites of each half of the window
    halves: tuple[int, int]

    def taste_draw(self, users: np.ndarray, week: int, rng: np.random.Generator) -> np.ndarray:
        """A track for each of ``users`` from their taste of ``week``: a scene, then a track by affinity."""
        scene = draw_rows(cumulative(self.listeners.taste(week, self.conf.weeks)), users, rng)
        return draw_rows(cumulative(self.affinity * week_weights(self.catalog, self.conf, week)), scene, rng)


def listening(
    conf: WorldConf, rng: np.random.Generator, catalog: Catalog, scenes: Scenes, listeners: Listeners
) -> Listening:
    """The listening model; draws each listener's favourites (of the window's two halves) from ``rng``."""
    n_users = len(listeners.user_ids)
    latent = catalog.track_latent[: conf.tracks]
    base = Listening(
        conf,
        catalog,
        scenes,
        listeners,
        scene_affinity(scenes, latent),
        unit(latent),
        _albums_in_order(catalog, conf),
        np.zeros((2, n_users, N_FAVOURITES), dtype=np.int64),
        (0, conf.weeks // 2),
    )
    fav_users = np.repeat(np.arange(n_users), N_FAVOURITES)
    favourites = np.stack([base.taste_draw(fav_users, w, rng).reshape(n_users, N_FAVOURITES) for w in base.halves])
    return dataclasses.replace(base, favourites=favourites)


def play_week(ctx: Listening, w: int, rng: np.random.Generator, busy_until: np.ndarray) -> pd.DataFrame | None:
    """One week's plays (``user``, ``track`` indices, ``offset`` ms from the week's Monday, ``ms_played``).

    Week ``w`` counts from the window's first (0-based); a week after the window (the
    simulator's) keeps the taste of its last week and the listeners still around at its end.
    ``busy_until`` (ms from the window's start, per listener) is updated in place. ``None``
    when nobody plays."""
    conf, catalog, listeners, scenes = ctx.conf, ctx.catalog, ctx.listeners, ctx.scenes
    album_of = catalog.album[: conf.tracks]
    durations = catalog.durations[: conf.tracks]
    around = (listeners.first_week <= w) & (listeners.last_week >= min(w, conf.weeks - 1))
    active = np.flatnonzero(around)
    users = np.repeat(active, rng.poisson(listeners.activity[active]))
    if len(users) == 0:
        return None
    weights = week_weights(catalog, conf, w)
    kind = rng.choice(3, len(users), p=[0.30, 0.07, 0.63])  # favourite, popular, taste
    tracks = ctx.taste_draw(users, w, rng)
    popular = draw_rows(cumulative(weights[None, :]), np.zeros(len(users), dtype=np.int64), rng)
    tracks = np.where(kind == 1, popular, tracks)
    fav = ctx.favourites[int(w >= ctx.halves[1]), users, rng.integers(0, N_FAVOURITES, len(users))]
    tracks = np.where(kind == 0, fav, tracks)

    new_session = np.r_[True, users[1:] != users[:-1]] | (rng.random(len(users)) < 1 / 6)
    session = np.cumsum(new_session) - 1
    firsts = np.flatnonzero(new_session)
    sizes = np.diff(np.r_[firsts, len(users)])
    in_album = np.zeros(len(users), dtype=bool)
    for first, size in zip(firsts[(sizes >= 3)], sizes[sizes >= 3], strict=True):
        if rng.random() >= 1 / 7:
            continue
        listing = ctx.albums[int(album_of[tracks[first]])]
        listing = listing[weights[listing] > 0][:size]  # released ones, from the first
        tracks[first : first + len(listing)] = listing
        in_album[first : first + len(listing)] = True

    taste_point = unit(listeners.taste(w, conf.weeks) @ scenes.latent)
    closeness = np.einsum("ij,ij->i", ctx.unit_latent[tracks], taste_point[users])
    p_skip = 0.04 + 0.5 / (1 + np.exp((closeness - 0.2) * 10))
    p_skip = np.where((kind == 0) | in_album, 0.04, p_skip)
    skip = rng.random(len(users)) < p_skip
    full = (durations[tracks] * rng.uniform(0.7, 1.0, len(users))).astype(np.int64)
    ms = np.where(skip, rng.integers(2_000, 30_000, len(users)), full)
    week_ms = np.int64(7 * w * 24 * HOUR_MS)
    offset = _session_times(rng, users, session, ms, busy_until - week_ms)
    ends = offset + ms
    np.maximum.at(busy_until, users, week_ms + ends + HOUR_MS)
    return pd.DataFrame({"user": users, "track": tracks, "offset": offset, MS_PLAYED: ms})


def listen(
    conf: WorldConf,
    rng: np.random.Generator,
    catalog: Catalog,
    scenes: Scenes,
    listeners: Listeners,
    start: dt.date,
) -> pd.DataFrame:
    """Every play of the window (user_id, track_id, played_at, ms_played), clean and sorted by time."""
    ctx = listening(conf, rng, catalog, scenes, listeners)
    n_users = len(listeners.user_ids)
    track_ids = np.array(catalog.tracks[TRACK_ID].tolist(), dtype=object)
    rows = []
    busy_until = np.full(n_users, -(1 << 40), dtype=np.int64)  # ms from the window's start, plus an hour
    base = np.datetime64(start.isoformat(), "ms")
    end = base + np.timedelta64(7 * conf.weeks, "D")
    for w in range(conf.weeks):
        week = play_week(ctx, w, rng, busy_until)
        if week is None:
            continue
        played_at = base + np.timedelta64(7 * w, "D") + week["offset"].to_numpy().astype("timedelta64[ms]")
        keep = played_at < end
        rows.append(
            pd.DataFrame(
                {
                    "user": week["user"].to_numpy()[keep],
                    "track": week["track"].to_numpy()[keep],
                    PLAYED_AT: played_at[keep],
                    MS_PLAYED: week[MS_PLAYED].to_numpy()[keep],
                }
            )
        )
    plays = pd.concat(rows, ignore_index=True)
    plays = plays.sort_values([PLAYED_AT, "user", "track"], kind="stable").reset_index(drop=True)
    return pd.DataFrame(
        {
            USER_ID: np.array(listeners.user_ids, dtype=object)[plays["user"].to_numpy()],
            TRACK_ID: track_ids[plays["track"].to_numpy()],
            PLAYED_AT: plays[PLAYED_AT].to_numpy(),
            MS_PLAYED: plays[MS_PLAYED].to_numpy(),
        }
    )
