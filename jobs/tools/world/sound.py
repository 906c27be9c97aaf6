"""How each track of the sample world sounds: its genre's tendency, moved by its own latent vector.

A genre only leans: a track's tempo is drawn around a centre pulled from its genre's
typical range towards the middle of all tempos, with a spread, so genres' tempo ranges
overlap; its meter is the genre's usual one three times in four; its drum pattern is the
genre's 30% of the time and otherwise one chosen by its latent vector; its partials,
brightness, register (octave), noise, attack and hi-hat level mix the genre's with values
read off fixed random projections of the track's latent vector. So the audio says
something about the track's scene and its own place in the latent space, and only
something about its genre. Key and gain are drawn at random; the mode leans on the genre
and the latent vector.

No I/O: ``build_sounds`` draws from the world's one random stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.tools.world.genres import GENRES, KICKS
from jobs.tools.world.scenes import LATENT_DIM, unit

PARTIALS = 8
PATTERNS = tuple(KICKS)


@dataclass(frozen=True)
class Voice:
    """Everything ``audio.synth_clip`` needs to play one track."""

    bpm: float
    key: int  # pitch class 0..11
    major: bool
    meter: int  # beats per bar, 3 or 4
    drums: str  # a KICKS pattern
    harmonics: tuple[float, ...]  # amplitude of partials 1..PARTIALS
    noise: float
    attack: float  # seconds
    hat: float
    octave: int  # -1, 0, 1: the register around A3
    gain_db: float


@dataclass(frozen=True)
class Sounds:
    """Per-track sound parameters (arrays indexed like the tracks)."""

    bpm: np.ndarray
    key: np.ndarray
    major: np.ndarray
    meter: np.ndarray
    drums: np.ndarray  # pattern names
    harmonics: np.ndarray  # (tracks, PARTIALS)
    noise: np.ndarray
    attack: np.ndarray
    hat: np.ndarray
    octave: np.ndarray
    gain_db: np.ndarray

    def voice(self, i: int) -> Voice:
        return Voice(
            bpm=float(self.bpm[i]),
            key=int(self.key[i]),
            major=bool(self.major[i]),
            meter=int(self.meter[i]),
            drums=str(self.drums[i]),
            harmonics=tuple(float(h) for h in self.harmonics[i]),
            noise=float(self.noise[i]),
            attack=float(self.attack[i]),
            hat=float(self.hat[i]),
            octave=int(self.octave[i]),
            gain_db=float(self.gain_db[i]),
        )


def build_sounds(track_genre: np.ndarray, track_latent: np.ndarray, rng: np.random.Generator) -> Sounds:
    """Each track's sound from its genre's tendency and its latent vector."""
    n = len(track_genre)
    genres = [GENRES[g] for g in track_genre]
    # fixed random directions of the latent space, one per sound property; ~N(0, 1) readings
    directions = unit(rng.normal(size=(8, LATENT_DIM)))
    z = track_latent @ directions.T / 0.3
    z_tempo, z_bright, z_reg, z_noise, z_attack, z_hat, z_mode, z_drums = z.T

    centre = np.array([sum(g.bpm) / 2 for g in genres])
    bpm = np.clip(0.5 * centre + 0.5 * 115 + 12 * z_tempo + 10 * rng.normal(size=n), 60, 190).round(1)
    usual_meter = np.array([g.meter for g in genres])
    meter = np.where(rng.random(n) < 0.75, usual_meter, 7 - usual_meter)
    by_latent = (np.floor((np.tanh(z_drums / 1.5) + 1) / 2 * len(PATTERNS) * 0.999)).astype(int)
    drums = np.where(rng.random(n) < 0.3, np.array([g.drums for g in genres]), np.array(PATTERNS)[by_latent])

    base = np.zeros((n, PARTIALS))
    for i, g in enumerate(genres):
        base[i, : len(g.harmonics)] = g.harmonics
    rolloff = 0.55 * np.exp(-0.6 * z_bright)[:, None]
    own = np.exp(-rolloff * np.arange(PARTIALS)[None, :])
    harmonics = (0.25 * base + 0.75 * own).round(3)

    noise = np.clip(
        np.array([g.noise for g in genres]) * rng.uniform(0.4, 1.4, n) + 0.08 * np.maximum(z_noise, 0), 0, 0.5
    )
    attack = np.clip(
        np.array([g.attack for g in genres]) * np.exp(0.6 * rng.normal(size=n) + 0.5 * z_attack), 0.002, 0.5
    )
    hat = np.clip(np.array([g.hat for g in genres]) * rng.uniform(0.3, 1.3, n) + 0.2 * np.maximum(z_hat, 0), 0, 0.7)
    octave = np.clip(np.round(0.8 * z_reg), -1, 1).astype(int)
    key = rng.integers(0, 12, n)
    share = np.clip(np.array([g.major_share for g in genres]), 0.05, 0.95)
    major = rng.random(n) < 1 / (1 + np.exp(-(np.log(share / (1 - share)) + 0.8 * z_mode)))
    gain_db = rng.uniform(-12, 0, n).round(1)
    return Sounds(
        bpm=bpm,
        key=key,
        major=major,
        meter=meter,
        drums=drums,
        harmonics=harmonics,
        noise=noise.round(3),
        attack=attack.round(4),
        hat=hat.round(3),
        octave=octave,
        gain_db=gain_db,
    )
