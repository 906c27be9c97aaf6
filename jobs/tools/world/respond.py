"""How the sample world's listeners answer their Discover Weekly: the simulator's hidden response model.

The pipeline never sees this module (an import rule forbids every stage and domain
package to import it): it sees only the play logs and saves the answers turn into
(:mod:`jobs.tools.world.live`). It was written, and its constants fixed, before the bandit
(:mod:`jobs.feedback.bandit`) that learns from it; they are not tuned to favour any policy.

For each listener and week:

* **Open.** 15% of listeners never open the playlist (a seeded trait). The others open it
  with probability ``0.75 * 0.7 ** fatigue``, ``fatigue`` being the number of weeks in a
  row, up to the last one, in which they opened it and streamed nothing.
* **Browse.** An opened list is read from the top; position ``p`` is looked at with
  probability ``0.93 ** (p - 1)`` (a cascade: late places are seen less).
* **Stream** (>= 30 s) a track looked at, with probability
  ``sigmoid(-0.5 + 6 * (closeness - 0.3) + effect[listener, kind])``: ``closeness`` is the
  cosine between the track's latent vector and the point of the listener's taste that
  week (the same closeness that makes the world's own plays skip less), and ``effect``
  the listener's receptivity to the kind of explanation shown (:func:`reason_kind`):
  on average +0.4 for "Because you play X", +0.2 for "More from X", +0.15 for "Sounds like",
  -0.1 for "Fans describe it as", 0 for the others, and for "Popular with listeners" +0.3
  from light listeners but -0.4 from heavy ones (activity above the median), each listener
  off the mean by a normal draw (sd 0.3). A track looked at and not streamed is skipped
  (2-29 s).
* **Complete** a stream with probability ``sigmoid(0.3 + 4 * (closeness - 0.3))``
  (90-100% of the track; otherwise 30 s up to 90%), and **save** a completed track with
  probability ``sigmoid(-2.2 + 4 * (closeness - 0.3))``.

The outcomes are drawn from a generator the caller seeds; :func:`expected_reward` gives the
exact expected reward of showing a (track, explanation) at a place, which evaluations use
as the truth that off-policy estimates are judged against. Pure; no I/O.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.tools.world.scenes import unit
from jobs.tools.world.sessions import Listening
from schemas.columns import MS_PLAYED, POSITION

REASON_KINDS = ("because", "more_from", "sounds_like", "fans", "popular", "taste")
NEVER_OPEN = 0.15
OPEN_BASE = 0.75
FATIGUE = 0.7
EXAMINE = 0.93
STREAM_BIAS, SLOPE, CENTRE = -0.5, 6.0, 0.3
COMPLETE_BIAS, COMPLETE_SLOPE = 0.3, 4.0
SAVE_BIAS, SAVE_SLOPE = -2.2, 4.0
EFFECT_MEAN = {"because": 0.4, "more_from": 0.2, "sounds_like": 0.15, "fans": -0.1, "popular": 0.0, "taste": 0.0}
POPULAR_LIGHT, POPULAR_HEAVY = 0.3, -0.4
EFFECT_SD = 0.3


def reason_kind(reason: str) -> str:
    """The kind of an explanation, from its words (what a listener reads)."""
    text = reason.strip()
    if text.startswith("Because you play"):
        return "because"
    if text.startswith("More from"):
        return "more_from"
    if "sounds like" in text.lower():
        return "sounds_like"
    if text.startswith("Fans describe"):
        return "fans"
    if "popular with listeners" in text.lower():
        return "popular"
    return "taste"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Traits:
    """Each listener's hidden answers to a playlist (arrays indexed like the world's listeners)."""

    never_opens: np.ndarray  # bool
    heavy: np.ndarray  # bool: activity above the median
    effect: np.ndarray  # (listeners, len(REASON_KINDS)): receptivity to each kind of explanation


def listener_traits(ctx: Listening, seed: int) -> Traits:
    """The listeners' traits, drawn from their own stream (``seed``), the same for every week."""
    rng = np.random.default_rng([seed, zlib.crc32(b"respond")])
    n = len(ctx.listeners.user_ids)
    never = rng.random(n) < NEVER_OPEN
    heavy = ctx.listeners.activity > np.median(ctx.listeners.activity)
    mean = np.array([EFFECT_MEAN[k] for k in REASON_KINDS])[None, :].repeat(n, axis=0)
    mean[:, REASON_KINDS.index("popular")] = np.where(heavy, POPULAR_HEAVY, POPULAR_LIGHT)
    return Traits(never, heavy, mean + rng.normal(0.0, EFFECT_SD, (n, len(REASON_KINDS))))


def closeness(ctx: Listening, users: np.ndarray, tracks: np.ndarray, week: int) -> np.ndarray:
    """Cosine between each track's latent vector and its listener's taste point in ``week`` (any track)."""
    point = unit(ctx.listeners.taste(week, ctx.conf.weeks) @ ctx.scenes.latent)
    latent = unit(ctx.catalog.track_latent[tracks])
    return np.einsum("ij,ij->i", latent, point[users])


def probabilities(
    ctx: Listening,
    traits: Traits,
    users: np.ndarray,
    tracks: np.ndarray,
    positions: np.ndarray,
    kinds: np.ndarray,
    week: int,
    fatigue: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per shown row: the chance its listener opens the list, looks at the place, streams, completes, saves.

    ``kinds`` index :data:`REASON_KINDS`; ``fatigue`` is per listener of the world."""
    close = closeness(ctx, users, tracks, week)
    p_open = np.where(traits.never_opens[users], 0.0, OPEN_BASE * FATIGUE ** fatigue[users])
    p_look = EXAMINE ** (np.asarray(positions) - 1)
    logit = STREAM_BIAS + SLOPE * (close - CENTRE) + traits.effect[users, kinds]
    return {
        "closeness": close,
        "p_open": p_open,
        "p_look": p_look,
        "p_stream": sigmoid(logit),
        "p_complete": sigmoid(COMPLETE_BIAS + COMPLETE_SLOPE * (close - CENTRE)),
        "p_save": sigmoid(SAVE_BIAS + SAVE_SLOPE * (close - CENTRE)),
    }


def expected_reward(p: dict[str, np.ndarray], save_bonus: float) -> np.ndarray:
    """The exact expected reward of each row: a stream in the week (1) plus ``save_bonus`` for a save."""
    streamed = p["p_open"] * p["p_look"] * p["p_stream"]
    return streamed * (1.0 + save_bonus * p["p_complete"] * p["p_save"])


def respond(
    ctx: Listening,
    traits: Traits,
    shown: pd.DataFrame,
    week: int,
    fatigue: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Draw the answers to the shown rows (``user``, ``track`` indices, ``position``, ``kind`` index).

    Returns the rows with ``opened``, ``looked``, ``streamed``, ``completed``, ``saved``,
    ``ms_played`` (0 when not looked at) and the probabilities they were drawn with. Rows
    are answered per listener in position order; one open draw per listener."""
    shown = shown.sort_values(["user", POSITION], kind="stable").reset_index(drop=True)
    users = shown["user"].to_numpy()
    p = probabilities(
        ctx,
        traits,
        users,
        shown["track"].to_numpy(),
        shown[POSITION].to_numpy(),
        shown["kind"].to_numpy(),
        week,
        fatigue,
    )
    uniq, first = np.unique(users, return_index=True)
    opens = dict(zip(uniq.tolist(), (rng.random(len(uniq)) < p["p_open"][first]).tolist(), strict=True))
    opened = np.array([opens[u] for u in users.tolist()], dtype=bool)
    n = len(shown)
    looked = opened & (rng.random(n) < p["p_look"])
    streamed = looked & (rng.random(n) < p["p_stream"])
    completed = streamed & (rng.random(n) < p["p_complete"])
    saved = completed & (rng.random(n) < p["p_save"])
    duration = ctx.catalog.durations[shown["track"].to_numpy()].astype(np.float64)
    full = duration * rng.uniform(0.9, 1.0, n)
    partial = np.maximum(30_000.0, duration * rng.uniform(0.0, 0.9, n))
    skip = rng.integers(2_000, 30_000, n)
    ms = np.where(completed, full, np.where(streamed, np.minimum(partial, full), np.where(looked, skip, 0)))
    out = shown.assign(opened=opened, looked=looked, streamed=streamed, completed=completed, saved=saved)
    out[MS_PLAYED] = ms.astype(np.int64)
    for name, values in p.items():
        out[name] = values
    return out
