"""The catalog of the sample world: artist names, artists, tracks, albums and releases.

Artists belong to a scene and draw their genre from the scene's genre mixture (at least
one artist per genre); an artist's latent vector is its scene's point plus its own offset
and a lean towards its genre, and a track's latent vector is its artist's plus the track's
own offset, so two tracks of one artist, let alone of one genre, are not alike. Artists
have a Pareto-skewed fame; tracks go to artists by fame, a few songs get a second version
(same title and artist, nearly the same latent), and each artist has three albums whose
track order is the catalog's row order. Most of the played catalog predates the window,
some tracks come out during it, and the new releases come out in the last week. Durations
lean on the genre; a few tracks have no audio, and large worlds keep clips for a sample
only (``audio_tracks``). Popularity over the played catalog is Zipf-like over a random
order, scaled by the artist's fame.

No I/O: ``build_catalog`` draws from the world's one random stream, in a fixed order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.config import WorldConf
from jobs.tools.world.genres import GENRES
from jobs.tools.world.scenes import LATENT_DIM, Scenes, unit
from schemas.columns import ARTIST_ID, AUDIO_PATH, TRACK_ID

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "zen",
    "do",
    "vi",
    "sol",
    "tar",
    "ne",
    "bo",
    "lu",
    "shi",
    "an",
    "el",
    "or",
    "ru",
    "ta",
    "mo",
    "fi",
    "gra",
    "ve",
    "nox",
    "pa",
    "qui",
    "dar",
    "ly",
    "sen",
    "cor",
    "um",
]
_TITLE_WORDS = [
    "Midnight",
    "Static",
    "River",
    "Glass",
    "Echo",
    "Summer",
    "Orbit",
    "Velvet",
    "Neon",
    "Harbor",
    "Ghost",
    "Paper",
    "Golden",
    "Hollow",
    "Signal",
    "Winter",
    "Fever",
    "Silver",
    "Window",
    "Desert",
    "Satellite",
    "Lantern",
    "Copper",
    "Dream",
    "Thunder",
    "Garden",
    "Mirror",
    "Ocean",
    "Shadow",
    "Wire",
]


def _name(rng: np.random.Generator, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES, size=parts)).capitalize()


def _unique_names(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        kind = rng.integers(0, 3)
        if kind == 0:
            name = f"{_name(rng, 2)} {_name(rng, 2)}"
        elif kind == 1:
            name = f"The {_name(rng, 2)}s"
        else:
            name = f"{_name(rng, 3)}"
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


@dataclass(frozen=True)
class Catalog:
    """The catalog's tables plus the hidden attributes behind them (arrays indexed like the rows)."""

    artists: pd.DataFrame  # artist_id, name
    tracks: pd.DataFrame  # track_id, title, artist_id, album, release_date, duration_ms, audio_path
    artist_genre: np.ndarray  # index into GENRES, per artist
    artist_scene: np.ndarray  # index into the scenes, per artist
    artist_latent: np.ndarray  # (artists, LATENT_DIM), unit rows
    track_artist: np.ndarray  # index into artists, per track
    track_genre: np.ndarray  # index into GENRES, per track
    track_latent: np.ndarray  # (tracks, LATENT_DIM): the artist's point plus the track's own offset
    album: np.ndarray  # per track: album number (artist * 3 + k)
    album_position: np.ndarray  # per track: 1-based position on its album (catalog row order)
    is_new: np.ndarray  # per track: a new release of the last week (never played)
    release_week: np.ndarray  # per track: week of the window it came out in, -1 before the window
    durations: np.ndarray  # per track, milliseconds
    no_audio: np.ndarray  # tracks drawn to have no clip (before the audio_tracks sample)
    track_pop: np.ndarray  # popularity per played track (the first conf.tracks), unnormalised


def _artists(conf: WorldConf, rng: np.random.Generator, scenes: Scenes) -> tuple[np.ndarray, np.ndarray]:
    """Each artist's scene and genre: the first twelve cover every genre, the rest follow scene mixtures."""
    n_genres = len(GENRES)
    n_scenes = len(scenes.names)
    scene_size = rng.dirichlet(np.full(n_scenes, 2.0))  # some scenes are bigger than others
    scene = np.empty(conf.artists, dtype=np.int64)
    genre = np.empty(conf.artists, dtype=np.int64)
    for a in range(conf.artists):
        if a < n_genres:
            p = scenes.genre_mix[:, a] * scene_size
            scene[a], genre[a] = rng.choice(n_scenes, p=p / p.sum()), a
        else:
            scene[a] = rng.choice(n_scenes, p=scene_size)
            genre[a] = rng.choice(n_genres, p=scenes.genre_mix[scene[a]])
    order = rng.permutation(conf.artists)
    return scene[order], genre[order]


def build_catalog(conf: WorldConf, rng: np.random.Generator, start: dt.date, end: dt.date, scenes: Scenes) -> Catalog:
    """Artists, tracks and their hidden attributes; the played catalog comes first, then the new releases."""
    artist_scene, artist_genre = _artists(conf, rng, scenes)
    artist_latent = unit(
        scenes.latent[artist_scene]
        + 0.5 * unit(rng.normal(size=(conf.artists, LATENT_DIM)))
        + 0.3 * scenes.genre_latent[artist_genre]
    )
    artist_names = _unique_names(rng, conf.artists)
    artist_ids = [f"a{i:05d}" for i in range(conf.artists)]
    artist_pop = rng.pareto(1.2, conf.artists) + 1.0  # skewed fame
    artists = pd.DataFrame({ARTIST_ID: artist_ids, "name": artist_names})

    # tracks: played catalog first, then new releases by existing artists
    n_total = conf.tracks + conf.new_releases
    weights = artist_pop / artist_pop.sum()
    track_artist = np.concatenate(
        [np.arange(conf.artists), rng.choice(conf.artists, n_total - conf.artists, p=weights)]
    )
    track_artist[: conf.tracks] = rng.permutation(track_artist[: conf.tracks])
    is_new = np.zeros(n_total, dtype=bool)
    is_new[conf.tracks :] = True
    track_ids = [f"t{i:06d}" for i in range(n_total)]
    titles = [f"{rng.choice(_TITLE_WORDS)} {rng.choice(_TITLE_WORDS)}" for _ in range(n_total)]
    offsets = 0.6 * unit(rng.normal(size=(n_total, LATENT_DIM))) * rng.uniform(0.5, 1.5, (n_total, 1))
    # a few second versions of a song (single and album take): same title, same artist, nearly the same sound
    n_versions = max(1, conf.tracks // 60)
    for j in rng.choice(conf.tracks - 1, n_versions, replace=False):
        if track_artist[j] == track_artist[j + 1]:
            continue
        titles[j + 1] = titles[j]
        track_artist[j + 1] = track_artist[j]
        offsets[j + 1] = offsets[j] + 0.1 * unit(rng.normal(size=LATENT_DIM))
    track_genre = artist_genre[track_artist]
    track_latent = artist_latent[track_artist] + offsets
    album_names: list[str] = []
    while len(album_names) < 3 * conf.artists:  # an artist's three albums have three names
        name = f"{rng.choice(_TITLE_WORDS)} {rng.choice(['Sessions', 'Nights', 'Tapes', 'Stories', 'Light'])}"
        if name not in album_names[len(album_names) - len(album_names) % 3 :]:
            album_names.append(name)
    album = track_artist * 3 + rng.integers(0, 3, n_total)
    album_position = np.zeros(n_total, dtype=np.int64)
    seen: dict[int, int] = {}
    for i, a in enumerate(album.tolist()):  # the album's order is the catalog's row order
        seen[a] = seen.get(a, 0) + 1
        album_position[i] = seen[a]
    # most of the played catalog predates the window; some tracks come out during it (playable
    # from the Monday after their release week); the new releases come out in the last week
    release_week = np.where(rng.random(n_total) < 0.12, rng.integers(0, conf.weeks - 1, n_total), -1)
    release_week[is_new] = conf.weeks - 1
    release = np.array(
        [
            (end - dt.timedelta(days=int(rng.integers(1, 7)))).isoformat()
            if is_new[i]
            else (start + dt.timedelta(days=7 * int(release_week[i]) + int(rng.integers(0, 7)))).isoformat()
            if release_week[i] >= 0
            else (start - dt.timedelta(days=int(rng.integers(30, 3000)))).isoformat()
            for i in range(n_total)
        ]
    )
    low = np.array([GENRES[g].duration_s[0] for g in track_genre]) * 0.75
    high = np.array([GENRES[g].duration_s[1] for g in track_genre]) * 1.25
    durations = (rng.uniform(low, high) * 1000).astype(np.int64) // 1000 * 1000
    audio_path = np.array([f"audio/{t}.flac" for t in track_ids], dtype=object)
    no_audio = rng.choice(n_total, max(1, n_total // 200), replace=False)
    audio_path[no_audio] = ""
    if 0 < conf.audio_tracks < conf.tracks:  # large worlds: clips for a sample of the played catalog
        keep = np.zeros(n_total, dtype=bool)
        keep[rng.choice(conf.tracks, conf.audio_tracks, replace=False)] = True
        keep[conf.tracks :] = True  # every new release has audio: that is the cold-start path
        audio_path[~keep] = ""
    tracks = pd.DataFrame(
        {
            TRACK_ID: track_ids,
            "title": titles,
            ARTIST_ID: [artist_ids[a] for a in track_artist],
            "album": [album_names[a] for a in album],
            "release_date": release,
            "duration_ms": durations,
            AUDIO_PATH: audio_path,
        }
    )

    # popularity within the played catalog: Zipf over a random order, scaled by artist fame
    order = rng.permutation(conf.tracks)
    track_pop = np.empty(conf.tracks)
    track_pop[order] = 1.0 / np.arange(1, conf.tracks + 1) ** 0.9
    track_pop *= artist_pop[track_artist[: conf.tracks]] ** 0.5
    return Catalog(
        artists=artists,
        tracks=tracks,
        artist_genre=artist_genre,
        artist_scene=artist_scene,
        artist_latent=artist_latent,
        track_artist=track_artist,
        track_genre=track_genre,
        track_latent=track_latent,
        album=album,
        album_position=album_position,
        is_new=is_new,
        release_week=release_week,
        durations=durations,
        no_audio=no_audio,
        track_pop=track_pop,
    )
