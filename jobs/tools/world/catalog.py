"""The catalog of the sample world: artist names, artists, tracks, albums and releases.

Artists get a genre (at least one per genre) and a Pareto-skewed fame; tracks go to
artists by fame, a few songs get a second version (same title and artist), albums come
from three per artist. Most of the played catalog predates the window, some tracks come
out during it, and the new releases come out in the last week. A track's duration, tempo
and mode follow its genre; key and gain are drawn at random; a few tracks have no audio,
and large worlds keep clips for a sample only (``audio_tracks``). Popularity over the
played catalog is Zipf-like over a random order, scaled by the artist's fame.

No I/O: ``build_catalog`` draws from the world's one random stream, in a fixed order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.common.config import WorldConf
from jobs.tools.world.genres import GENRES

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
    track_genre: np.ndarray  # index into GENRES, per track
    is_new: np.ndarray  # per track: a new release of the last week (never played)
    release_week: np.ndarray  # per track: week of the window it came out in, -1 before the window
    durations: np.ndarray  # per track, milliseconds
    bpm: np.ndarray
    key: np.ndarray  # pitch class 0..11
    major: np.ndarray
    gain_db: np.ndarray
    no_audio: np.ndarray  # tracks drawn to have no clip (before the audio_tracks sample)
    track_pop: np.ndarray  # popularity per played track (the first conf.tracks), unnormalised


def build_catalog(conf: WorldConf, rng: np.random.Generator, start: dt.date, end: dt.date) -> Catalog:
    """Artists, tracks and their hidden attributes; the played catalog comes first, then the new releases."""
    n_genres = len(GENRES)

    # artists: at least one per genre, then by chance
    artist_genre = np.concatenate([np.arange(n_genres), rng.integers(0, n_genres, conf.artists - n_genres)])
    rng.shuffle(artist_genre)
    artist_names = _unique_names(rng, conf.artists)
    artist_ids = [f"a{i:05d}" for i in range(conf.artists)]
    artist_pop = rng.pareto(1.2, conf.artists) + 1.0  # skewed fame
    artists = pd.DataFrame({"artist_id": artist_ids, "name": artist_names})

    # tracks: played catalog first, then new releases by existing artists
    n_total = conf.tracks + conf.new_releases
    weights = artist_pop / artist_pop.sum()
    track_artist = np.concatenate(
        [np.arange(conf.artists), rng.choice(conf.artists, n_total - conf.artists, p=weights)]
    )
    track_artist[: conf.tracks] = rng.permutation(track_artist[: conf.tracks])
    track_genre = artist_genre[track_artist]
    is_new = np.zeros(n_total, dtype=bool)
    is_new[conf.tracks :] = True
    track_ids = [f"t{i:06d}" for i in range(n_total)]
    titles = [f"{rng.choice(_TITLE_WORDS)} {rng.choice(_TITLE_WORDS)}" for _ in range(n_total)]
    # a few second versions of a song (single and album take): same title, same artist
    n_versions = max(1, conf.tracks // 60)
    for j in rng.choice(conf.tracks - 1, n_versions, replace=False):
        if track_artist[j] == track_artist[j + 1]:
            continue
        titles[j + 1] = titles[j]
        track_artist[j + 1] = track_artist[j]
        track_genre[j + 1] = track_genre[j]
    album_of_artist = {
        a: [
            f"{rng.choice(_TITLE_WORDS)} {rng.choice(['Sessions', 'Nights', 'Tapes', 'Stories', 'Light'])}"
            for _ in range(3)
        ]
        for a in range(conf.artists)
    }
    albums = [album_of_artist[a][int(rng.integers(0, 3))] for a in track_artist]
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
    durations = np.array([int(rng.integers(*GENRES[g].duration_s)) * 1000 for g in track_genre])
    bpm = np.array([rng.uniform(*GENRES[g].bpm) for g in track_genre]).round(1)
    major = np.array([rng.random() < GENRES[g].major_share for g in track_genre])
    key = rng.integers(0, 12, n_total)
    gain_db = rng.uniform(-12, 0, n_total).round(1)
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
            "track_id": track_ids,
            "title": titles,
            "artist_id": [artist_ids[a] for a in track_artist],
            "album": albums,
            "release_date": release,
            "duration_ms": durations,
            "audio_path": audio_path,
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
        track_genre=track_genre,
        is_new=is_new,
        release_week=release_week,
        durations=durations,
        bpm=bpm,
        key=key,
        major=major,
        gain_db=gain_db,
        no_audio=no_audio,
        track_pop=track_pop,
    )
