"""Musical attributes of a clip: tempo, key, mode, loudness (LUFS) and time signature, each with a confidence in 0..1.

Reads nothing and writes nothing: :func:`attributes` takes a mono signal (a clip from
:func:`jobs.audio.spectrogram.load_clip`) and returns the ``audio_attributes``
row of its track, less the ``track_id``. ``jobs.audio_features`` calls it for every clip
(the weekly job and ``--analyze FILE``); ``studies.real_audio`` calls its two halves,
:func:`clip_features` once per clip and :func:`decide` once per candidate
:class:`Params`, to choose the parameters by cross-validation on real annotated clips.

The estimators are in :mod:`~jobs.audio.rhythm` (tempo, meter) and
:mod:`~jobs.audio.tonality` (key, mode). Loudness is integrated loudness in LUFS
(ITU-R BS.1770-4, K-weighted and gated, by ``pyloudnorm``).

Confidences are calibrated probabilities of being right: each estimator's margin (how
far its winner is from the runner-up) goes through a logistic map ``1 / (1 + exp(-(a *
margin + b)))`` whose ``a, b`` (:data:`CALIBRATION`) were fitted by cross-validation on
the real clips; the benchmark shows their reliability (confidence bins vs accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jobs.audio import rhythm, tonality
from jobs.audio.spectrogram import SILENCE_DBFS, Settings, loudness_db

LOUDNESS_FLOOR_LUFS = -70.0  # BS.1770's absolute gate: a clip with nothing above it reads this
# Platt maps (a, b) from a margin to P(right), fitted on the real clips (studies.real_audio; docs/BENCHMARKS.md)
CALIBRATION: dict[str, tuple[float, float]] = {
    "tempo": (5.086, -1.491),
    "key": (4.78, -0.22),
    "mode": (3.067, 0.99),
    "time_signature": (0.0, 0.949),  # no margin helps: the share of 4s, 0.72
}


@dataclass(frozen=True)
class Params:
    """The estimators' free parameters; the defaults are the cross-validated choices."""

    tempo_prior_bpm: float = rhythm.TEMPO_PRIOR_BPM
    tempo_prior_octaves: float = rhythm.TEMPO_PRIOR_OCTAVES
    key_profile: str = tonality.KEY_PROFILE
    chroma_gamma: float = tonality.CHROMA_GAMMA
    meter_threshold: float = rhythm.METER_THRESHOLD
    calibration: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(CALIBRATION))


def platt(margin: float, ab: tuple[float, float]) -> float:
    """A margin mapped to a probability by the logistic ``1 / (1 + exp(-(a m + b)))``."""
    a, b = ab
    return float(1.0 / (1.0 + np.exp(-(a * margin + b))))


def integrated_loudness(y: np.ndarray, sr: int) -> float:
    """ITU-R BS.1770 integrated loudness in LUFS (:data:`LOUDNESS_FLOOR_LUFS` when all of it is gated out)."""
    import pyloudnorm

    if len(y) < int(0.4 * sr) + 1:  # shorter than one gating block
        return LOUDNESS_FLOOR_LUFS
    value = pyloudnorm.Meter(sr).integrated_loudness(np.asarray(y, dtype=np.float64))
    return float(value) if np.isfinite(value) else LOUDNESS_FLOOR_LUFS


def loudness_confidence(y: np.ndarray, hop: int) -> float:
    """How well one number describes the clip's level: 1 minus the spread of its frame levels.

    Frame RMS in dB over the frames above silence; the interquartile range divided by
    30 dB (a clip swinging over 30 dB has no single loudness), times how far the clip
    is above silence (full at 20 dB above -70 dBFS).
    """
    import librosa

    frames = 20 * np.log10(np.maximum(librosa.feature.rms(y=y, hop_length=hop)[0], 1e-10))
    frames = frames[frames > SILENCE_DBFS]
    if len(frames) < 2:
        return 0.0
    q1, q3 = np.percentile(frames, [25, 75])
    above = np.clip((loudness_db(y) - SILENCE_DBFS) / 20, 0, 1)
    return float(np.clip(1 - (q3 - q1) / 30, 0, 1) * above)


def clip_features(
    y: np.ndarray,
    settings: Settings,
    mel_db: np.ndarray | None = None,
    gammas: tuple[float, ...] | None = None,
    magnitude: np.ndarray | None = None,
) -> dict[str, Any]:
    """Everything the decisions need, computed once per clip: onsets, their autocorrelation and tempo
    salience, and the harmonic chroma (frames and mean) for each chroma compression in ``gammas``.

    ``mel_db`` is the clip's log-mel spectrogram in dB (:func:`~jobs.audio.spectrogram.log_mel`);
    computed here when not given. ``magnitude`` is its ``|STFT|``
    (:func:`~jobs.audio.spectrogram.stft_magnitude`), reused by the tuning estimate when
    the settings' STFT is the one that estimate would compute (``n_fft`` 2048, hop 512).
    """
    from jobs.audio.spectrogram import log_mel

    sr, hop = settings.sample_rate, settings.hop_length
    if mel_db is None:
        mel_db = log_mel(y, settings)
    onset = rhythm.onset_envelope(np.asarray(mel_db, dtype=np.float32), sr, hop)
    ac = rhythm.autocorrelation(onset)
    fps = sr / hop
    shared = magnitude is not None and settings.n_fft == tonality.TUNING_N_FFT and hop == settings.n_fft // 4
    cqt = tonality.harmonic_cqt(y, sr, hop, tuning_stft=magnitude if shared else None)
    chroma = {g: tonality.chroma_frames(cqt, g) for g in (gammas or (tonality.CHROMA_GAMMA,))}
    return {
        "sr": sr,
        "hop": hop,
        "fps": fps,
        "onset": onset,
        "level": rhythm.frame_level(mel_db),
        "ac": ac,
        "salience": rhythm.tempo_salience(ac, fps),
        "chroma": chroma,
        "mean_chroma": {g: c.mean(axis=1) for g, c in chroma.items()},
    }


def decide(features: dict[str, Any], params: Params = Params()) -> dict[str, Any]:
    """Tempo, key, mode and meter with their margins and calibrated confidences, from :func:`clip_features`."""
    f = features
    tempo, tempo_margin = rhythm.decide_tempo(
        f["salience"], f["ac"], f["fps"], params.tempo_prior_bpm, params.tempo_prior_octaves
    )
    key, mode, key_margin, mode_margin = tonality.decide_key(f["mean_chroma"][params.chroma_gamma], params.key_profile)
    cue = rhythm.meter_cues(f["onset"], f["level"], f["chroma"][params.chroma_gamma], tempo, f["sr"], f["hop"])
    meter, meter_margin = rhythm.decide_meter(cue, params.meter_threshold)
    cal = params.calibration
    return {
        "tempo_bpm": tempo,
        "tempo_margin": tempo_margin,
        "tempo_confidence": platt(tempo_margin, cal["tempo"]),
        "key": key,
        "mode": mode,
        "key_margin": key_margin,
        "key_confidence": platt(key_margin, cal["key"]),
        "mode_margin": mode_margin,
        "mode_confidence": platt(mode_margin, cal["mode"]),
        "meter_cue": cue,
        "time_signature": meter,
        "time_signature_margin": meter_margin,
        "time_signature_confidence": platt(meter_margin, cal["time_signature"]),
    }


def attributes(
    y: np.ndarray, settings: Settings, mel_db: np.ndarray | None = None, magnitude: np.ndarray | None = None
) -> dict[str, Any]:
    """Tempo, key, mode, loudness and time signature of a clip, with confidences (an ``audio_attributes`` row).

    ``mel_db`` and ``magnitude``: as :func:`clip_features` takes them.
    """
    d = decide(clip_features(y, settings, mel_db, magnitude=magnitude))
    return {
        "tempo_bpm": round(d["tempo_bpm"], 2),
        "tempo_confidence": round(d["tempo_confidence"], 3),
        "key": d["key"],
        "key_confidence": round(d["key_confidence"], 3),
        "mode": d["mode"],
        "mode_confidence": round(d["mode_confidence"], 3),
        "loudness_lufs": round(integrated_loudness(y, settings.sample_rate), 2),
        "loudness_confidence": round(loudness_confidence(y, settings.hop_length), 3),
        "time_signature": int(d["time_signature"]),
        "time_signature_confidence": round(d["time_signature_confidence"], 3),
    }
