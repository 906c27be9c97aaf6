"""Audio of the sample world: a short clip per track, played with the track's own ``Voice``.

``synth_clip`` plays a I-IV-V-I progression (i-iv-V-i in minor) in the track's key and
register with its partials, attack and noise, over its meter and kick pattern, with
hi-hats at its level, at its tempo and gain (``sound.py`` says how those lean on the genre
and on the track's latent vector). ``write_audio`` writes
``audio/<track_id>.flac`` (16-bit, 22,050 Hz) for each track with an ``audio_path``, each
clip from its own seeded random stream.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from jobs.config import WorldConf
from jobs.tools.world.genres import KICKS
from jobs.tools.world.model import World
from jobs.tools.world.sound import Voice

log = logging.getLogger("world")

SR = 22_050


def _envelope(n: int, attack_s: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    att = np.clip(t / max(attack_s, 1e-4), 0, 1)
    return att * np.exp(-decay * t)


_TABLE = 2048
_GRID = np.arange(_TABLE) / _TABLE


def _tone(freq: float, harmonics: tuple[float, ...], t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tone with these partials (random phases), read from one period's wavetable."""
    table = np.zeros(_TABLE + 1)
    for h, amp in enumerate(harmonics, start=1):
        if amp > 0.04:  # inaudible partials are left out
            table[:_TABLE] += amp * np.sin(2 * np.pi * h * _GRID + rng.uniform(0, 6.28))
    table[_TABLE] = table[0]
    pos = (freq * t) % 1.0 * _TABLE
    idx = pos.astype(np.int64)
    frac = pos - idx
    return table[idx] * (1 - frac) + table[idx + 1] * frac


def synth_clip(voice: Voice, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A clip with the voice's tempo, key, mode, register, timbre, meter and drums (float32, -1..1)."""
    bpm, key, major, gain_db = voice.bpm, voice.key, voice.major, voice.gain_db
    n = int(seconds * SR)
    out = np.zeros(n, dtype=np.float64)
    beat = 60.0 / bpm
    bar = beat * voice.meter
    third = 4 if major else 3
    # I-IV-V-I (major) or i-iv-V-i (harmonic minor: the raised 7th marks the mode)
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    t_bar = np.arange(int(bar * SR)) / SR
    bar_env = _envelope(len(t_bar), voice.attack, 1.2 / bar)
    pos, idx = 0, 0
    while pos < n:
        intervals = chords[idx % 4]
        seg = np.zeros(len(t_bar))
        for j, iv in enumerate(intervals):
            freq = 220.0 * 2.0**voice.octave * 2 ** ((key + iv - 9) / 12)  # around A3, an octave up or down
            seg += _tone(freq, voice.harmonics, t_bar, rng) / (1 + j * 0.3)
        bass = 55.0 * 2 ** ((key + intervals[0] - 9) / 12)
        seg += 0.8 * np.sin(2 * np.pi * bass * t_bar)
        seg *= bar_env
        end = min(n, pos + len(seg))
        out[pos:end] += seg[: end - pos] * 0.12
        pos += len(seg)
        idx += 1
    # drums: kicks on the voice's pattern (eighth-note grid), accent on each bar's first beat
    eighth = beat / 2
    kick_len = int(0.12 * SR)
    tk = np.arange(kick_len) / SR
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-tk * 30)) * tk) * np.exp(-tk * 25)
    hat_len = int(0.04 * SR)
    slots_per_bar = voice.meter * 2
    n_slots = int(seconds / eighth) + 1
    pattern = set(KICKS[voice.drums])
    if voice.drums == "waltz":
        pattern = {0}
    for s in range(n_slots):
        start = int(s * eighth * SR)
        if start >= n:
            break
        in_bar = s % slots_per_bar
        if voice.drums != "none" and (in_bar in pattern or (voice.meter == 3 and in_bar in (2, 4))):
            accent = 1.0 if in_bar == 0 else 0.45
            seg = kick[: n - start] * accent
            out[start : start + len(seg)] += seg * 0.6
        if voice.meter == 3 and voice.drums == "none" and in_bar in (0, 2, 4):
            # classical waltz: a plucked low string on each beat, strong on one
            accent = 1.0 if in_bar == 0 else 0.35
            seg = kick[: n - start] * accent
            out[start : start + len(seg)] += seg * 0.4
        if voice.hat and s % 1 == 0:
            burst = rng.normal(0, 1, hat_len) * np.exp(-np.arange(hat_len) / SR * 120)
            burst = np.diff(burst, prepend=0)  # crude high-pass
            seg = burst[: n - start]
            out[start : start + len(seg)] += seg * voice.hat * 0.08
    if voice.noise:
        out += rng.normal(0, voice.noise * 0.05, n)
        out = np.tanh(out * (1 + voice.noise * 4)) / (1 + voice.noise)
    peak = np.max(np.abs(out)) or 1.0
    out = out / peak * 0.5 * 10 ** (gain_db / 20)
    return out.astype(np.float32)


def write_audio(world: World, conf: WorldConf, out: Path, seed: int) -> int:
    """Write a clip for each track with an ``audio_path``; returns how many."""
    import soundfile as sf

    tracks = world.tracks
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    seeds = np.random.SeedSequence(seed).spawn(len(tracks))
    for i, row in enumerate(tracks.itertuples(index=False)):
        if not row.audio_path:
            continue
        rng = np.random.default_rng(seeds[i])
        clip = synth_clip(world.sounds.voice(i), conf.clip_seconds, rng)
        sf.write(out / Path(row.audio_path).name, clip, SR, format="FLAC", subtype="PCM_16")
        written += 1
        if written % 250 == 0:
            log.info("audio: %d clips", written)
    return written
