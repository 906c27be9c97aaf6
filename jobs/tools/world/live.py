"""A week after the sample world's window, lived: the listeners' own plays and their answers to Discover Weekly.

:func:`load_sim_world` rebuilds the world's hidden model from its configuration (the same
seed gives the same scenes, catalog, listeners and favourites as the generated world) and
the listeners' answer traits (:mod:`jobs.tools.world.respond`). :func:`live_week` draws one
week: every listener still around plays as the generator makes them play
(:func:`jobs.tools.world.sessions.play_week`, with the taste of the window's last week), and
each listener shown a playlist answers it (open, look, stream, skip, complete, save). The
answers become play rows with ``context = discover_weekly`` (looked-at places only: a
stream of 30 s or more, or a skip) and save rows; the truth (every shown row with its
outcomes and the probabilities they were drawn with) is returned beside them, for
evaluation only. :func:`write_week` writes the plays as ``raw/plays/YYYY-MM-DD.csv`` (one
file per day of the week, each replaced atomically) and the saves as
``raw/saves/<week>.csv``. Deterministic for a seed: the week's draws come from their own
stream (``[seed, week number]``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.config import WorldConf
from jobs.tools.world.model import hidden_model
from jobs.tools.world.respond import REASON_KINDS, Traits, listener_traits, reason_kind, respond
from jobs.tools.world.sessions import HOUR_MS, Listening, _diurnal, listening, play_week
from jobs.warehouse.atomic import write_text_atomic
from jobs.warehouse.weeks import week_start
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, POSITION, REASON, SAVED_AT, TRACK_ID, USER_ID
from schemas.vocab import DISCOVER_WEEKLY_CONTEXT

DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class SimWorld:
    """The hidden model the simulator lives weeks with."""

    conf: WorldConf
    ctx: Listening
    traits: Traits
    user_index: dict[str, int]
    track_index: dict[str, int]
    track_ids: np.ndarray
    end: dt.date  # the window's end: the first simulated week's Monday

    @property
    def users(self) -> int:
        return len(self.user_index)


def load_sim_world(conf: WorldConf) -> SimWorld:
    """The world of ``conf`` (as generated), ready to live weeks after its window."""
    h = hidden_model(conf)
    ctx = listening(conf, h.rng, h.catalog, h.scenes, h.listeners)
    track_ids = np.array(h.catalog.tracks[TRACK_ID].tolist(), dtype=object)
    return SimWorld(
        conf,
        ctx,
        listener_traits(ctx, conf.seed),
        {u: i for i, u in enumerate(h.listeners.user_ids)},
        {t: i for i, t in enumerate(track_ids.tolist())},
        track_ids,
        h.end,
    )


@dataclass(frozen=True)
class LivedWeek:
    plays: pd.DataFrame  # user_id, track_id, played_at (UTC), ms_played, context
    saves: pd.DataFrame  # user_id, track_id, saved_at
    responses: pd.DataFrame  # every shown row with its outcomes and probabilities (truth)
    fatigue: np.ndarray  # per listener, after the week


def live_week(sim: SimWorld, week: str, shown: pd.DataFrame | None, fatigue: np.ndarray, seed: int) -> LivedWeek:
    """Live ISO ``week`` (on or after the window's end): own plays, and answers to ``shown``.

    ``shown``: the week's published playlists (``user_id, position, track_id, reason``);
    ``fatigue``: per listener, weeks in a row they opened the list and streamed nothing."""
    monday = week_start(week)
    j = (monday - sim.end).days // 7
    if j < 0 or (monday - sim.end).days % 7:
        raise ValueError(f"{week}: the simulator lives weeks from {sim.end} on")
    w = sim.conf.weeks + j
    rng = np.random.default_rng([seed, 7_000 + j])
    base = np.datetime64(monday.isoformat(), "ms")
    own = play_week(sim.ctx, w, rng, np.full(sim.users, -(1 << 40), dtype=np.int64) + np.int64(7 * w * DAY_MS))
    frames = []
    if own is not None:
        frames.append(
            pd.DataFrame(
                {
                    "user": own["user"].to_numpy(),
                    "track": own["track"].to_numpy(),
                    PLAYED_AT: base + own["offset"].to_numpy().astype("timedelta64[ms]"),
                    MS_PLAYED: own[MS_PLAYED].to_numpy(),
                    CONTEXT: None,
                }
            )
        )
    responses = pd.DataFrame()
    fatigue = fatigue.copy()
    saves = pd.DataFrame(columns=[USER_ID, TRACK_ID, SAVED_AT])
    if shown is not None and len(shown):
        known = shown[USER_ID].isin(sim.user_index.keys()) & shown[TRACK_ID].isin(sim.track_index.keys())
        rows = shown[known]
        kinds = rows[REASON].map(reason_kind)
        asked = pd.DataFrame(
            {
                USER_ID: rows[USER_ID].to_numpy(),
                TRACK_ID: rows[TRACK_ID].to_numpy(),
                "user": rows[USER_ID].map(sim.user_index).to_numpy(),
                "track": rows[TRACK_ID].map(sim.track_index).to_numpy(),
                POSITION: rows[POSITION].to_numpy().astype(np.int64),
                "kind": kinds.map(REASON_KINDS.index).to_numpy(),
                "reason_kind": kinds.to_numpy(),
            }
        )
        responses = respond(sim.ctx, sim.traits, asked, w, fatigue, rng)
        responses["week"] = week
        listened = _listening_times(responses, rng)
        looked = responses[responses["looked"]]
        frames.append(
            pd.DataFrame(
                {
                    "user": looked["user"].to_numpy(),
                    "track": looked["track"].to_numpy(),
                    PLAYED_AT: base + listened[responses["looked"].to_numpy()].astype("timedelta64[ms]"),
                    MS_PLAYED: looked[MS_PLAYED].to_numpy(),
                    CONTEXT: DISCOVER_WEEKLY_CONTEXT,
                }
            )
        )
        saved = responses["saved"].to_numpy()
        ends = listened + responses[MS_PLAYED].to_numpy()
        saves = pd.DataFrame(
            {
                USER_ID: responses.loc[saved, USER_ID].to_numpy(),
                TRACK_ID: responses.loc[saved, TRACK_ID].to_numpy(),
                SAVED_AT: base + ends[saved].astype("timedelta64[ms]"),
            }
        )
        per_user = responses.groupby("user").agg(opened=("opened", "max"), streams=("streamed", "sum"))
        opened = per_user.index[per_user["opened"]].to_numpy()
        fatigue[opened] = np.where(per_user.loc[per_user["opened"], "streams"].to_numpy() > 0, 0, fatigue[opened] + 1)
    plays = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["user", "track"])
    plays = plays[plays[PLAYED_AT] < base + np.timedelta64(7, "D")]
    plays = plays.sort_values([PLAYED_AT, "user", "track"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame(
        {
            USER_ID: np.array(list(sim.user_index), dtype=object)[plays["user"].to_numpy(dtype=np.int64)],
            TRACK_ID: sim.track_ids[plays["track"].to_numpy(dtype=np.int64)],
            PLAYED_AT: plays[PLAYED_AT].to_numpy(),
            MS_PLAYED: plays[MS_PLAYED].to_numpy(dtype=np.int64),
            CONTEXT: plays[CONTEXT].to_numpy(),
        }
    )
    return LivedWeek(out, saves, responses, fatigue)


def _listening_times(responses: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Offsets (ms from the week's Monday) of each row's play: each listener opens the list once, at a
    day and hour of the week drawn from the daily rhythm, and plays the places looked at back to back."""
    users = responses["user"].to_numpy()
    uniq, inverse = np.unique(users, return_inverse=True)
    start = (
        rng.integers(0, 6, len(uniq)) * DAY_MS
        + rng.choice(24, len(uniq), p=_diurnal()) * HOUR_MS
        + rng.integers(0, HOUR_MS, len(uniq))
    )
    length = np.where(responses["looked"].to_numpy(), responses[MS_PLAYED].to_numpy() + 5_000, 0)
    before = np.zeros(len(users), dtype=np.int64)
    order = np.lexsort((responses[POSITION].to_numpy(), users))
    done: dict[int, int] = {}
    for i in order.tolist():
        u = int(inverse[i])
        before[i] = done.get(u, 0)
        done[u] = before[i] + int(length[i])
    return (start[inverse] + before).astype(np.int64)


def write_week(lived: LivedWeek, data: Path, week: str) -> list[Path]:
    """Write the week's plays (one CSV per day, ISO times, with ``context``) and saves into ``data/raw``."""
    written = []
    plays = lived.plays
    days = pd.to_datetime(plays[PLAYED_AT]).dt.strftime("%Y-%m-%d")
    for day, chunk in plays.groupby(days, sort=True):
        path = data / "raw" / "plays" / f"{day}.csv"
        text = chunk.assign(
            played_at=pd.to_datetime(chunk[PLAYED_AT]).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str[:-4] + "Z",
            context=chunk[CONTEXT].fillna(""),
        ).to_csv(index=False, lineterminator="\n")
        write_text_atomic(path, text)
        written.append(path)
    saves = lived.saves.assign(saved_at=pd.to_datetime(lived.saves[SAVED_AT]).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    path = data / "raw" / "saves" / f"{week}.csv"
    write_text_atomic(path, saves.to_csv(index=False, lineterminator="\n"))
    written.append(path)
    return written
