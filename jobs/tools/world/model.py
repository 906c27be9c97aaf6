"""The sample world in memory: the typed ``World`` and ``build_world``, which makes it.

``build_world`` draws everything from one random stream seeded by ``conf.seed``, in a fixed
order (the catalog, then the listeners, then their plays), and writes nothing; ``cli.generate``
writes the world out. The hidden truth (genres, track attributes, tastes) travels beside the
tables, for evaluation only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.common.config import WorldConf
from jobs.tools.world.catalog import build_catalog
from jobs.tools.world.genres import GENRES, PITCH_CLASSES
from jobs.tools.world.listeners import build_listeners, listen


@dataclass(frozen=True)
class World:
    """The world's tables as pandas frames plus the hidden truth; arrays are indexed like the rows."""

    artists: pd.DataFrame  # catalog/artists.csv
    tracks: pd.DataFrame  # catalog/tracks.csv (played catalog first, then the new releases)
    plays: pd.DataFrame  # every play, clean (the raw logs add broken rows to these)
    truth: dict[str, pd.DataFrame]  # truth/<name>.csv: artist_genres, track_attributes, user_tastes
    artist_genre: np.ndarray  # index into GENRES, per artist
    track_genre: np.ndarray  # index into GENRES, per track
    bpm: np.ndarray  # per track
    key: np.ndarray  # per track, pitch class 0..11
    major: np.ndarray  # per track
    gain_db: np.ndarray  # per track
    no_audio: set[int]  # tracks drawn to have no clip
    start: dt.date  # the first day of plays
    end: dt.date  # a Monday: plays stop before it


def build_world(conf: WorldConf) -> World:
    """The world's tables and hidden truth; no I/O."""
    rng = np.random.default_rng(conf.seed)
    end = dt.date.fromisoformat(conf.end)
    start = end - dt.timedelta(weeks=conf.weeks)
    catalog = build_catalog(conf, rng, start, end)
    listeners = build_listeners(conf, rng)
    plays = listen(conf, rng, catalog, listeners, start)

    artist_ids = catalog.artists["artist_id"].tolist()
    track_ids = catalog.tracks["track_id"].tolist()
    track_genre = catalog.track_genre
    truth = {
        "artist_genres": pd.DataFrame(
            {"artist_id": artist_ids, "genre": [GENRES[g].name for g in catalog.artist_genre]}
        ),
        "track_attributes": pd.DataFrame(
            {
                "track_id": track_ids,
                "genre": [GENRES[g].name for g in track_genre],
                "bpm": catalog.bpm,
                "key": [PITCH_CLASSES[k] for k in catalog.key],
                "mode": np.where(catalog.major, "major", "minor"),
                "time_signature": [f"{GENRES[g].meter}/4" for g in track_genre],
                "gain_db": catalog.gain_db,
                "is_new_release": catalog.is_new,
                "release_week": catalog.release_week,
            }
        ),
        "user_tastes": pd.DataFrame(listeners.taste, columns=[g.name for g in GENRES]).assign(
            user_id=listeners.user_ids
        ),
    }
    return World(
        artists=catalog.artists,
        tracks=catalog.tracks,
        plays=plays,
        truth=truth,
        artist_genre=catalog.artist_genre,
        track_genre=track_genre,
        bpm=catalog.bpm,
        key=catalog.key,
        major=catalog.major,
        gain_db=catalog.gain_db,
        no_audio=set(int(i) for i in catalog.no_audio),
        start=start,
        end=end,
    )
