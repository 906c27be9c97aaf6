"""The sample world in memory: the typed ``World`` and ``build_world``, which makes it.

``build_world`` draws everything from one random stream seeded by ``conf.seed``, in a fixed
order (the scenes, the catalog, the sounds, the listeners, their plays, their playlists),
and writes nothing; ``cli.generate`` writes the world out. The hidden truth (genres,
scenes, track attributes, tastes, albums) travels beside the tables, for evaluation only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.config import WorldConf
from jobs.tools.world.catalog import Catalog, build_catalog
from jobs.tools.world.genres import GENRES, PITCH_CLASSES
from jobs.tools.world.listeners import Listeners, build_listeners, cumulative, scene_affinity
from jobs.tools.world.playlists import build_playlists
from jobs.tools.world.scenes import Scenes, build_scenes
from jobs.tools.world.sessions import listen, week_weights
from jobs.tools.world.sound import Sounds, build_sounds
from schemas.columns import ARTIST_ID, TRACK_ID, USER_ID


@dataclass(frozen=True)
class World:
    """The world's tables plus the hidden truth; arrays are indexed like the rows."""

    artists: pd.DataFrame  # catalog/artists.csv
    tracks: pd.DataFrame  # catalog/tracks.csv (played catalog first, then the new releases)
    plays: pd.DataFrame  # every play, clean (the raw logs add broken rows to these)
    playlists: pd.DataFrame  # raw/playlists/playlists.csv: playlist_id, owner, position, track_id
    truth: dict[str, pd.DataFrame]  # truth/<name>.csv (see truth_tables)
    scenes: Scenes
    catalog: Catalog  # artist and track genres, scenes, latent vectors, albums
    listeners: Listeners
    sounds: Sounds  # per track: what its clip plays
    artist_genre: np.ndarray  # index into GENRES, per artist
    track_genre: np.ndarray  # index into GENRES, per track
    no_audio: set[int]  # tracks drawn to have no clip
    start: dt.date  # the first day of plays
    end: dt.date  # a Monday: plays stop before it


def scene_ids(scenes: Scenes) -> list[str]:
    return [f"s{i:02d}" for i in range(len(scenes.names))]


def truth_tables(conf: WorldConf, scenes: Scenes, catalog: Catalog, sounds: Sounds, listeners: Listeners) -> dict:
    """The hidden truth as tables: what evaluations may compare the pipeline's outputs with."""
    names = [g.name for g in GENRES]
    sids = scene_ids(scenes)
    artist_ids = catalog.artists[ARTIST_ID].to_numpy()
    track_ids = catalog.tracks[TRACK_ID].to_numpy()
    # a listener's taste over genres: the genres their start-of-window taste plays, in expectation
    scene_plays = cumulative(
        scene_affinity(scenes, catalog.track_latent[: conf.tracks]) * week_weights(catalog, conf, 0)
    )
    scene_plays = np.diff(scene_plays, axis=1, prepend=0.0)
    onehot = np.eye(len(GENRES))[catalog.track_genre[: conf.tracks]]
    genre_taste = listeners.taste_start @ (scene_plays @ onehot)
    users = np.repeat(listeners.user_ids, len(sids))
    start, end = listeners.taste_start.ravel(), listeners.taste_end.ravel()
    shown = (start > 0.02) | (end > 0.02)
    return {
        "artist_genres": pd.DataFrame({ARTIST_ID: artist_ids, "genre": [names[g] for g in catalog.artist_genre]}),
        "track_attributes": pd.DataFrame(
            {
                TRACK_ID: track_ids,
                "genre": [names[g] for g in catalog.track_genre],
                "bpm": sounds.bpm,
                "key": [PITCH_CLASSES[k] for k in sounds.key],
                "mode": np.where(sounds.major, "major", "minor"),
                "time_signature": [f"{m}/4" for m in sounds.meter],
                "gain_db": sounds.gain_db,
                "is_new_release": catalog.is_new,
                "release_week": catalog.release_week,
            }
        ),
        "user_tastes": pd.DataFrame((genre_taste / genre_taste.sum(1, keepdims=True)).round(6), columns=names).assign(
            user_id=listeners.user_ids
        ),
        "scenes": pd.DataFrame(
            {
                "scene": sids,
                "name": scenes.names,
                "main_genre": [names[g] for g in scenes.main_genre],
                "genre_mix": [
                    ";".join(f"{names[g]}:{row[g]:.3f}" for g in np.flatnonzero(row)) for row in scenes.genre_mix
                ],
            }
        ),
        "artist_scenes": pd.DataFrame({ARTIST_ID: artist_ids, "scene": [sids[s] for s in catalog.artist_scene]}),
        "user_scenes": pd.DataFrame(
            {
                USER_ID: users[shown],
                "scene": np.tile(sids, len(listeners.user_ids))[shown],
                "weight_start": start[shown].round(4),
                "weight_end": end[shown].round(4),
            }
        ),
        "album_tracks": pd.DataFrame(
            {
                TRACK_ID: track_ids,
                ARTIST_ID: catalog.tracks[ARTIST_ID],
                "album": catalog.tracks["album"],
                "album_position": catalog.album_position,
            }
        ),
    }


@dataclass(frozen=True)
class Hidden:
    """The world's hidden model before any play is drawn, and its random stream at that point."""

    rng: np.random.Generator
    scenes: Scenes
    catalog: Catalog
    sounds: Sounds
    listeners: Listeners
    start: dt.date
    end: dt.date


def hidden_model(conf: WorldConf) -> Hidden:
    """Scenes, catalog, sounds and listeners, drawn in the world's order from one stream seeded by ``conf.seed``."""
    rng = np.random.default_rng(conf.seed)
    end = dt.date.fromisoformat(conf.end)
    start = end - dt.timedelta(weeks=conf.weeks)
    scenes = build_scenes(conf.artists, rng)
    catalog = build_catalog(conf, rng, start, end, scenes)
    sounds = build_sounds(catalog.track_genre, catalog.track_latent, rng)
    listeners = build_listeners(conf, rng, scenes, catalog.artist_scene)
    return Hidden(rng, scenes, catalog, sounds, listeners, start, end)


def build_world(conf: WorldConf) -> World:
    """The world's tables and hidden truth; no I/O."""
    h = hidden_model(conf)
    rng, scenes, catalog, sounds, listeners, start, end = (
        h.rng,
        h.scenes,
        h.catalog,
        h.sounds,
        h.listeners,
        h.start,
        h.end,
    )
    plays = listen(conf, rng, catalog, scenes, listeners, start)
    playlists = build_playlists(conf, rng, catalog, scenes, listeners)
    return World(
        artists=catalog.artists,
        tracks=catalog.tracks,
        plays=plays,
        playlists=playlists,
        truth=truth_tables(conf, scenes, catalog, sounds, listeners),
        scenes=scenes,
        catalog=catalog,
        listeners=listeners,
        sounds=sounds,
        artist_genre=catalog.artist_genre,
        track_genre=catalog.track_genre,
        no_audio=set(int(i) for i in catalog.no_audio),
        start=start,
        end=end,
    )
