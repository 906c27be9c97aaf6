"""Generate the embedded sample world: listeners, catalog, play logs, audio and a small web.

Everything is a deterministic function of the seed and the sizes (``world`` section of
``conf/pipeline.yaml``, overridable by flags). Writes, under ``--out`` (default
``paths.data``)::

    catalog/artists.csv, catalog/tracks.csv      the catalog (input contract)
    raw/plays/YYYY-MM-DD.{csv,jsonl,parquet}     one file per day, the three formats in turn
    audio/<track_id>.flac                        a short clip per track, sound set by genre
    web/                                         HTML about the artists + robots.txt + seeds.txt
    truth/                                       ground truth (genres, tastes) for evaluation only
    world.json                                   manifest: seed, sizes, the week to publish

The hidden structure is real: listeners have tastes over 12 genres; a genre fixes a
track's tempo range, key and mode preference, timbre, meter and drum pattern, and the
vocabulary written about its artists. Popularity is Zipf-like, listeners are heavy or
light, favourites are replayed, and plays of tracks outside a listener's taste are more
often skipped. A few malformed rows are mixed into the raw logs on purpose, and the
latest week brings new releases that nobody has played.

Run alone::

    python -m jobs.generate_world --out data/sample            # default size
    python -m jobs.generate_world --out /tmp/tiny --tiny        # the test size
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common.atomic import publish_dir, staging_dir
from jobs.common.config import WorldConf, load_config
from jobs.common.weeks import week_of

log = logging.getLogger("generate_world")

SR = 22_050
PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


@dataclass(frozen=True)
class Genre:
    name: str
    bpm: tuple[int, int]
    major_share: float
    meter: int  # beats per bar
    harmonics: tuple[float, ...]  # timbre: amplitude of partials 1..n
    noise: float  # breathiness / distortion
    attack: float  # seconds
    drums: str  # kick pattern name
    hat: float  # hi-hat level
    duration_s: tuple[int, int]
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]
    places: tuple[str, ...]


GENERATOR_VERSION = 3  # bump when the world's content changes: `--if-missing` then regenerates

GENRES: tuple[Genre, ...] = (
    Genre(
        "ambient",
        (60, 76),
        0.6,
        4,
        (1.0, 0.2, 0.05),
        0.02,
        0.35,
        "none",
        0.0,
        (300, 540),
        ("ethereal", "drifting", "meditative", "glacial", "weightless", "serene"),
        ("drone", "texture", "soundscape", "field recording", "synth pad", "stillness"),
        ("Reykjavik", "Kyoto"),
    ),
    Genre(
        "techno",
        (126, 134),
        0.2,
        4,
        (1.0, 0.5, 0.33, 0.25, 0.2, 0.16, 0.14),
        0.05,
        0.005,
        "four",
        0.5,
        (330, 480),
        ("hypnotic", "relentless", "industrial", "pounding", "minimal", "mechanical"),
        ("warehouse", "kick drum", "acid line", "modular synth", "dancefloor", "rave"),
        ("Berlin", "Detroit"),
    ),
    Genre(
        "house",
        (118, 124),
        0.7,
        4,
        (1.0, 0.0, 0.33, 0.0, 0.2, 0.0, 0.14),
        0.02,
        0.01,
        "four",
        0.35,
        (300, 420),
        ("soulful", "uplifting", "groovy", "sunny", "funky", "euphoric"),
        ("piano house", "diva vocal", "disco sample", "club night", "groove", "hook"),
        ("Chicago", "Ibiza"),
    ),
    Genre(
        "hip hop",
        (84, 96),
        0.3,
        4,
        (1.0, 0.6, 0.2),
        0.03,
        0.005,
        "boombap",
        0.25,
        (180, 260),
        ("gritty", "lyrical", "boom-bap", "streetwise", "introspective", "hard-hitting"),
        ("verse", "sample", "mixtape", "punchline", "beat tape", "cypher"),
        ("Queens", "Atlanta"),
    ),
    Genre(
        "metal",
        (150, 180),
        0.1,
        4,
        (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4),
        0.35,
        0.002,
        "double",
        0.6,
        (240, 420),
        ("crushing", "brutal", "thunderous", "dark", "furious", "apocalyptic"),
        ("riff", "blast beat", "distortion", "mosh pit", "guitar solo", "breakdown"),
        ("Gothenburg", "Birmingham"),
    ),
    Genre(
        "jazz",
        (104, 140),
        0.5,
        4,
        (1.0, 0.3, 0.15, 0.08),
        0.01,
        0.02,
        "swing",
        0.3,
        (240, 480),
        ("improvised", "smoky", "virtuosic", "swinging", "modal", "elegant"),
        ("saxophone", "walking bass", "standard", "quartet", "solo", "late night set"),
        ("New Orleans", "Harlem"),
    ),
    Genre(
        "classical",
        (66, 96),
        0.7,
        3,
        (1.0, 0.45, 0.3, 0.2, 0.1),
        0.0,
        0.12,
        "none",
        0.0,
        (360, 720),
        ("majestic", "lyrical", "romantic", "stately", "delicate", "orchestral"),
        ("symphony", "string quartet", "concerto", "movement", "conductor", "sonata"),
        ("Vienna", "Leipzig"),
    ),
    Genre(
        "folk",
        (92, 112),
        0.8,
        3,
        (1.0, 0.5, 0.25, 0.12, 0.06),
        0.0,
        0.003,
        "waltz",
        0.0,
        (180, 280),
        ("rustic", "heartfelt", "earthy", "pastoral", "wistful", "homespun"),
        ("acoustic guitar", "banjo", "ballad", "campfire", "harmony", "storytelling"),
        ("Appalachia", "Dublin"),
    ),
    Genre(
        "reggae",
        (70, 84),
        0.75,
        4,
        (1.0, 0.2, 0.5, 0.1),
        0.01,
        0.005,
        "onedrop",
        0.2,
        (200, 300),
        ("laid-back", "sunny", "conscious", "dubby", "rootsy", "mellow"),
        ("offbeat", "dub", "bassline", "sound system", "skank", "riddim"),
        ("Kingston", "Bristol"),
    ),
    Genre(
        "punk",
        (168, 196),
        0.55,
        4,
        (1.0, 0.7, 0.6, 0.5, 0.4),
        0.45,
        0.002,
        "rock",
        0.5,
        (110, 180),
        ("raw", "snotty", "fast", "rebellious", "loud", "abrasive"),
        ("power chord", "mosh", "three chords", "fanzine", "basement show", "singalong"),
        ("London", "Washington"),
    ),
    Genre(
        "soul",
        (92, 108),
        0.65,
        4,
        (1.0, 0.4, 0.3, 0.0, 0.1),
        0.01,
        0.02,
        "backbeat",
        0.2,
        (170, 260),
        ("velvety", "gospel", "heartbreaking", "warm", "sultry", "smooth"),
        ("horn section", "falsetto", "organ", "love song", "choir", "rhythm section"),
        ("Memphis", "Philadelphia"),
    ),
    Genre(
        "drum and bass",
        (170, 176),
        0.25,
        4,
        (1.0, 0.1, 0.05),
        0.1,
        0.003,
        "dnb",
        0.45,
        (300, 420),
        ("rolling", "frenetic", "liquid", "jungle", "breakneck", "heavy"),
        ("breakbeat", "amen break", "sub bass", "reese bass", "junglist", "pirate radio"),
        ("London", "Bristol"),
    ),
)

# kick pattern per bar in eighth notes (1 = kick), accents on the bar's first beat
_KICKS = {
    "none": [],
    "four": [0, 2, 4, 6],
    "boombap": [0, 3, 5],
    "double": [0, 1, 2, 3, 4, 5, 6, 7],
    "swing": [0, 4],
    "waltz": [0],
    "onedrop": [4],
    "rock": [0, 4],
    "backbeat": [0, 3, 4],
    "dnb": [0, 5],
}

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


# ----------------------------------------------------------------------------- audio


def _envelope(n: int, attack_s: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    att = np.clip(t / max(attack_s, 1e-4), 0, 1)
    return att * np.exp(-decay * t)


def synth_clip(
    genre: Genre, bpm: float, key: int, major: bool, gain_db: float, seconds: float, rng: np.random.Generator
) -> np.ndarray:
    """A clip whose tempo, key, mode, timbre, meter and drums follow the genre (float32, -1..1)."""
    n = int(seconds * SR)
    out = np.zeros(n, dtype=np.float64)
    beat = 60.0 / bpm
    bar = beat * genre.meter
    third = 4 if major else 3
    # I-IV-V-I (major) or i-iv-V-i (harmonic minor: the raised 7th marks the mode)
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    t_bar = np.arange(int(bar * SR)) / SR
    bar_env = _envelope(len(t_bar), genre.attack, 1.2 / bar)
    pos, idx = 0, 0
    while pos < n:
        intervals = chords[idx % 4]
        seg = np.zeros(len(t_bar))
        for j, iv in enumerate(intervals):
            freq = 220.0 * 2 ** ((key + iv - 9) / 12)  # around A3
            for h, amp in enumerate(genre.harmonics, start=1):
                if amp:
                    seg += amp / (1 + j * 0.3) * np.sin(2 * np.pi * freq * h * t_bar + rng.uniform(0, 6.28))
        bass = 55.0 * 2 ** ((key + intervals[0] - 9) / 12)
        seg += 0.8 * np.sin(2 * np.pi * bass * t_bar)
        seg *= bar_env
        end = min(n, pos + len(seg))
        out[pos:end] += seg[: end - pos] * 0.12
        pos += len(seg)
        idx += 1
    # drums: kicks on the genre's pattern (eighth-note grid), accent on each bar's first beat
    eighth = beat / 2
    kick_len = int(0.12 * SR)
    tk = np.arange(kick_len) / SR
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-tk * 30)) * tk) * np.exp(-tk * 25)
    hat_len = int(0.04 * SR)
    slots_per_bar = genre.meter * 2
    n_slots = int(seconds / eighth) + 1
    pattern = set(_KICKS[genre.drums])
    if genre.drums == "waltz":
        pattern = {0}
    for s in range(n_slots):
        start = int(s * eighth * SR)
        if start >= n:
            break
        in_bar = s % slots_per_bar
        if genre.drums != "none" and (in_bar in pattern or (genre.meter == 3 and in_bar in (2, 4))):
            accent = 1.0 if in_bar == 0 else 0.45
            seg = kick[: n - start] * accent
            out[start : start + len(seg)] += seg * 0.6
        if genre.meter == 3 and genre.drums == "none" and in_bar in (0, 2, 4):
            # classical waltz: a plucked low string on each beat, strong on one
            accent = 1.0 if in_bar == 0 else 0.35
            seg = kick[: n - start] * accent
            out[start : start + len(seg)] += seg * 0.4
        if genre.hat and s % 1 == 0:
            burst = rng.normal(0, 1, hat_len) * np.exp(-np.arange(hat_len) / SR * 120)
            burst = np.diff(burst, prepend=0)  # crude high-pass
            seg = burst[: n - start]
            out[start : start + len(seg)] += seg * genre.hat * 0.08
    if genre.noise:
        out += rng.normal(0, genre.noise * 0.05, n)
        out = np.tanh(out * (1 + genre.noise * 4)) / (1 + genre.noise)
    peak = np.max(np.abs(out)) or 1.0
    out = out / peak * 0.5 * 10 ** (gain_db / 20)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- world


def build_world(conf: WorldConf) -> dict[str, object]:
    """The world's tables as pandas frames plus the hidden truth; no I/O."""
    rng = np.random.default_rng(conf.seed)
    n_genres = len(GENRES)
    end = dt.date.fromisoformat(conf.end)
    start = end - dt.timedelta(weeks=conf.weeks)

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

    truth = {
        "artist_genres": pd.DataFrame({"artist_id": artist_ids, "genre": [GENRES[g].name for g in artist_genre]}),
        "track_attributes": pd.DataFrame(
            {
                "track_id": track_ids,
                "genre": [GENRES[g].name for g in track_genre],
                "bpm": bpm,
                "key": [PITCH_CLASSES[k] for k in key],
                "mode": np.where(major, "major", "minor"),
                "time_signature": [f"{GENRES[g].meter}/4" for g in track_genre],
                "gain_db": gain_db,
                "is_new_release": is_new,
                "release_week": release_week,
            }
        ),
        "user_tastes": pd.DataFrame(taste, columns=[g.name for g in GENRES]).assign(user_id=user_ids),
    }
    return {
        "artists": artists,
        "tracks": tracks,
        "plays": plays,
        "truth": truth,
        "artist_genre": artist_genre,
        "track_genre": track_genre,
        "bpm": bpm,
        "key": key,
        "major": major,
        "gain_db": gain_db,
        "no_audio": set(int(i) for i in no_audio),
        "start": start,
        "end": end,
    }


def _diurnal() -> np.ndarray:
    p = np.array([2, 1, 1, 1, 1, 1, 2, 4, 6, 6, 5, 5, 6, 6, 5, 5, 6, 7, 8, 9, 9, 8, 6, 4], dtype=float)
    return p / p.sum()


def corrupt_rows(plays: pd.DataFrame, share: float, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn a few rows into the kinds of bad input real logs carry; returns (rows, what was done)."""
    n_bad = int(len(plays) * share)
    if n_bad == 0:
        return plays, pd.DataFrame(columns=["row", "kind"])
    out = plays.astype({"played_at": object, "ms_played": object}).copy()
    idx = rng.choice(len(out), n_bad, replace=False)
    kinds = np.array(["missing_user_id", "bad_played_at", "negative_ms_played", "unknown_track_id", "duplicate"])
    chosen = kinds[rng.integers(0, len(kinds), n_bad)]
    dups = []
    for i, kind in zip(idx, chosen, strict=True):
        if kind == "missing_user_id":
            out.at[i, "user_id"] = ""
        elif kind == "bad_played_at":
            out.at[i, "played_at"] = "yesterday evening"
        elif kind == "negative_ms_played":
            out.at[i, "ms_played"] = -int(rng.integers(1, 100_000))
        elif kind == "unknown_track_id":
            out.at[i, "track_id"] = f"t9{int(rng.integers(0, 99999)):05d}x"
        else:
            dups.append(out.iloc[[i]])
    if dups:
        out = pd.concat([out, *dups]).sort_index(kind="stable").reset_index(drop=True)
    return out, pd.DataFrame({"row": idx, "kind": chosen})


def _fmt_time(value: object, style: str) -> object:
    if isinstance(value, np.datetime64 | pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if style == "iso" else int(ts.value // 1_000_000)
    return value


def write_raw_plays(plays: pd.DataFrame, out: Path) -> list[str]:
    """One file per day, formats in turn: CSV (ISO times), JSON lines (epoch ms), Parquet (epoch ms)."""
    out.mkdir(parents=True, exist_ok=True)
    days = pd.to_datetime(
        plays["played_at"].map(lambda v: v if isinstance(v, np.datetime64 | pd.Timestamp) else pd.NaT)
    )
    # bad timestamps stay in the file of the row before them
    day_str = days.dt.strftime("%Y-%m-%d").replace("NaT", None).ffill().bfill()
    files = []
    for i, (day, chunk) in enumerate(plays.groupby(day_str, sort=True)):
        fmt = ("csv", "jsonl", "parquet")[i % 3]
        path = out / f"{day}.{fmt}"
        if fmt == "csv":
            c = chunk.assign(played_at=chunk["played_at"].map(lambda v: _fmt_time(v, "iso")))
            c.to_csv(path, index=False, lineterminator="\n")
        elif fmt == "jsonl":
            c = chunk.assign(played_at=chunk["played_at"].map(lambda v: _fmt_time(v, "ms")))
            with path.open("w", encoding="utf-8") as fh:
                for rec in c.to_dict("records"):
                    fh.write(json.dumps(rec) + "\n")
        else:
            c = chunk.assign(played_at=chunk["played_at"].map(lambda v: _fmt_time(v, "ms")))
            pq.write_table(pa.Table.from_pandas(c.astype(str), preserve_index=False), path)
        files.append(path.name)
    return files


def write_audio(world: dict[str, object], conf: WorldConf, out: Path, seed: int) -> int:
    import soundfile as sf

    tracks: pd.DataFrame = world["tracks"]  # type: ignore[assignment]
    track_genre = world["track_genre"]
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    seeds = np.random.SeedSequence(seed).spawn(len(tracks))
    for i, row in enumerate(tracks.itertuples(index=False)):
        if not row.audio_path:
            continue
        rng = np.random.default_rng(seeds[i])
        clip = synth_clip(
            GENRES[track_genre[i]],
            float(world["bpm"][i]),
            int(world["key"][i]),
            bool(world["major"][i]),
            float(world["gain_db"][i]),
            conf.clip_seconds,
            rng,
        )
        sf.write(out / Path(row.audio_path).name, clip, SR, format="FLAC", subtype="PCM_16")
        written += 1
        if written % 250 == 0:
            log.info("audio: %d clips", written)
    return written


def write_web(world: dict[str, object], out: Path, seed: int, n_artists: int = 0) -> int:
    """A small site about the artists: index, artist bios, album reviews, genre lists, robots.txt.

    ``n_artists > 0`` writes pages about a seeded sample of that many artists only."""
    rng = np.random.default_rng(seed + 1)
    artists: pd.DataFrame = world["artists"]  # type: ignore[assignment]
    tracks: pd.DataFrame = world["tracks"]  # type: ignore[assignment]
    genre_of = world["artist_genre"]
    for sub in ("artists", "reviews", "lists", "private"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    slugs = [f"{a.lower()}" for a in artists["artist_id"]]
    covered = np.ones(len(artists), dtype=bool)
    if 0 < n_artists < len(artists):  # large worlds: pages about a sample of the artists
        covered[:] = False
        covered[rng.choice(len(artists), n_artists, replace=False)] = True
    by_genre = {g: np.flatnonzero((genre_of == g) & covered) for g in range(len(GENRES))}
    first_album = tracks.drop_duplicates("artist_id").set_index("artist_id")["album"]

    def page(title: str, body: str, depth: int = 1) -> str:
        """A whole HTML page; links written ``@/path`` become relative to the page's folder."""
        nav = '<nav><a href="@/index.html">Home</a> | <a href="@/lists/index.html">Lists</a> | <a href="@/about.html">About</a></nav>'
        foot = "<footer>Copyright Sample Music Weekly. All rights reserved. Cookie settings. Subscribe to our newsletter.</footer>"
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f"<body>{nav}<article><h1>{html.escape(title)}</h1>{body}</article>{foot}</body></html>\n"
        ).replace('href="@/', f'href="{"../" * depth}')

    def sentences(g: Genre, name: str, n: int) -> list[str]:
        out_s = []
        for _ in range(n):
            a1, a2 = rng.choice(g.adjectives, 2, replace=False)
            n1, n2 = rng.choice(g.nouns, 2, replace=False)
            tmpl = rng.integers(0, 6)
            if tmpl == 0:
                s = f"{name} make {a1} {g.name} built on {n1} and {n2}."
            elif tmpl == 1:
                s = f"Critics call {name} the most {a1} voice of the {rng.choice(g.places)} {g.name} scene."
            elif tmpl == 2:
                s = f"On stage, {name} turn every {n1} into something {a2} and {a1}."
            elif tmpl == 3:
                s = f"The new record finds {name} at their most {a2}, with a {a1} {n2} at its heart."
            elif tmpl == 4:
                s = f"Fans of {name} love the {n1}; the {n2} is {a1}."
            else:
                s = f"{name} started out in {rng.choice(g.places)}, playing {a1} {n1} in small clubs."
            out_s.append(s)
        return out_s

    pages = 0
    pool = np.flatnonzero(covered)
    for i, row in enumerate(artists.itertuples(index=False)):
        if not covered[i]:
            continue
        g = GENRES[genre_of[i]]
        same = by_genre[genre_of[i]]
        peers = same[same != i]
        links = [int(j) for j in rng.choice(peers, min(3, len(peers)), replace=False)] if len(peers) else []
        links.append(int(pool[rng.integers(0, len(pool))]))
        link_html = " ".join(
            f'<a href="@/artists/{slugs[j]}.html">{html.escape(artists["name"].iloc[j])}</a>' for j in links if j != i
        )
        body = "".join(f"<p>{html.escape(s)}</p>" for s in sentences(g, row.name, 6))
        body += f'<p>Related artists: {link_html}</p><p><a href="@/reviews/{slugs[i]}-1.html">Review</a></p>'
        (out / "artists" / f"{slugs[i]}.html").write_text(page(f"{row.name} - biography", body), encoding="utf-8")
        album = first_album.get(row.artist_id, "Early Recordings")  # a large world can leave an artist no tracks
        body = f"<p>Review of {html.escape(album)}.</p>" + "".join(
            f"<p>{html.escape(s)}</p>" for s in sentences(g, row.name, 5)
        )
        body += f'<p>Back to <a href="@/artists/{slugs[i]}.html">{html.escape(row.name)}</a>.</p>'
        (out / "reviews" / f"{slugs[i]}-1.html").write_text(page(f"Review: {album}", body), encoding="utf-8")
        pages += 2
    for g_idx, g in enumerate(GENRES):
        members = by_genre[g_idx]
        items = "".join(
            f'<li><a href="@/artists/{slugs[j]}.html">{html.escape(artists["name"].iloc[j])}</a>: '
            f"{html.escape(rng.choice(g.adjectives))} {html.escape(rng.choice(g.nouns))}</li>"
            for j in members
        )
        slug = g.name.replace(" ", "-")
        (out / "lists" / f"best-{slug}.html").write_text(
            page(f"The best {g.name} artists", f"<p>Our favourite {g.name} acts right now.</p><ol>{items}</ol>"),
            encoding="utf-8",
        )
        pages += 1
    list_links = "".join(
        f'<li><a href="@/lists/best-{g.name.replace(" ", "-")}.html">Best {g.name}</a></li>' for g in GENRES
    )
    (out / "lists" / "index.html").write_text(page("Lists", f"<ul>{list_links}</ul>"), encoding="utf-8")
    (out / "about.html").write_text(page("About", "<p>A sample music magazine.</p>", depth=0), encoding="utf-8")
    (out / "private" / "drafts.html").write_text(page("Drafts", "<p>Not for crawlers.</p>"), encoding="utf-8")
    (out / "index.html").write_text(
        page("Sample Music Weekly", f"<p>Music news.</p><ul>{list_links}</ul>", depth=0), encoding="utf-8"
    )
    (out / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")
    (out / "seeds.txt").write_text(
        "# one URL per line; relative entries are file:// paths under this folder\nindex.html\n", encoding="utf-8"
    )
    return pages + 4


def generate(conf: WorldConf, out: Path, with_audio: bool = True, with_web: bool = True) -> dict[str, object]:
    """Write the whole world to ``out`` atomically (a half-written world is never left behind)."""
    t0 = time.perf_counter()
    world = build_world(conf)
    rng = np.random.default_rng(conf.seed + 99)
    stage = staging_dir(out)
    try:
        (stage / "catalog").mkdir()
        world["artists"].to_csv(stage / "catalog" / "artists.csv", index=False, lineterminator="\n")  # type: ignore[union-attr]
        world["tracks"].to_csv(stage / "catalog" / "tracks.csv", index=False, lineterminator="\n")  # type: ignore[union-attr]
        raw, bad = corrupt_rows(world["plays"], conf.bad_row_share, rng)  # type: ignore[arg-type]
        files = write_raw_plays(raw, stage / "raw" / "plays")
        (stage / "truth").mkdir()
        for name, frame in world["truth"].items():  # type: ignore[union-attr]
            frame.to_csv(stage / "truth" / f"{name}.csv", index=False, lineterminator="\n")
        bad.to_csv(stage / "truth" / "injected_bad_rows.csv", index=False, lineterminator="\n")
        clips = write_audio(world, conf, stage / "audio", conf.seed) if with_audio else 0
        pages = write_web(world, stage / "web", conf.seed, conf.web_artists) if with_web else 0
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "seed": conf.seed,
            "sizes": {
                "users": conf.users,
                "artists": conf.artists,
                "tracks": conf.tracks,
                "new_releases": conf.new_releases,
                "weeks": conf.weeks,
                "audio_tracks": conf.audio_tracks,
                "web_artists": conf.web_artists,
            },
            "play_events": len(world["plays"]),  # type: ignore[arg-type]
            "raw_rows": len(raw),
            "injected_bad_rows": bad["kind"].value_counts().sort_index().to_dict(),
            "raw_files": len(files),
            "audio_clips": clips,
            "web_pages": pages,
            "first_day": world["start"].isoformat(),  # type: ignore[union-attr]
            "end": conf.end,
            "publish_week": week_of(world["end"]),  # type: ignore[arg-type]
            "genres": [g.name for g in GENRES],
        }
        (stage / "world.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        publish_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    manifest["seconds"] = round(time.perf_counter() - t0, 1)
    return manifest


TINY = {
    "users": 80,
    "artists": 24,
    "tracks": 240,
    "new_releases": 12,
    "weeks": 8,
    "plays_per_user_week": 12.0,
    "clip_seconds": 3.0,
}


def generator_version_of(folder: Path) -> int | None:
    """The generator version recorded in ``folder/world.json``; None when this generator did not write it."""
    manifest = folder / "world.json"
    try:
        version = json.loads(manifest.read_text()).get("generator_version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, int) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", help="configuration file (default conf/pipeline.yaml)")
    parser.add_argument("--out", type=Path, help="where to write the world (default paths.data)")
    parser.add_argument("--tiny", action="store_true", help="the small world the tests use")
    for name in ("seed", "users", "artists", "tracks", "new_releases", "weeks", "audio_tracks", "web_artists"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, dest=name)
    parser.add_argument("--plays-per-user-week", type=float, dest="plays_per_user_week")
    parser.add_argument("--clip-seconds", type=float, dest="clip_seconds")
    parser.add_argument("--end", help="a Monday; plays stop before it")
    parser.add_argument("--no-audio", action="store_true")
    parser.add_argument("--no-web", action="store_true")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the world already exists")
    parser.add_argument(
        "--force", action="store_true", help="replace the folder even when it holds data this generator did not write"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    config = load_config(args.conf)
    out = args.out or config.paths.data
    version = generator_version_of(out)
    if args.if_missing and version == GENERATOR_VERSION:
        log.info("world already at %s; leaving it", out)
        return 0
    if version is None and out.exists() and any(out.iterdir()) and not args.force:
        log.error(
            "refusing to replace %s: it holds data this generator did not write (no world.json with a "
            "generator_version); pass --force to replace it, or --out an empty folder",
            out,
        )
        return 2
    if version is not None and version != GENERATOR_VERSION:
        log.info("world at %s was made by generator version %s; regenerating", out, version)
    values = {**config.world.__dict__, **(TINY if args.tiny else {})}
    values.update({k: v for k, v in vars(args).items() if k in values and v is not None})
    from jobs.common.config import build_config

    conf = build_config({"world": values}).world
    manifest = generate(conf, out, with_audio=not args.no_audio, with_web=not args.no_web)
    log.info("world written to %s: %s", out, json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
