"""Musical attributes of a clip: tempo, key, mode, loudness and time signature, each with a confidence in 0..1.

Reads nothing and writes nothing: :func:`attributes` takes a mono signal (a clip from
:func:`jobs.common.audio.spectrogram.load_clip`) and returns the ``audio_attributes``
row of its track, less the ``track_id``. ``jobs.audio_features`` calls it for every clip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jobs.common.audio.spectrogram import SILENCE_DBFS, Settings, loudness_db

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl-Kessler key profiles
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _ac_peak(ac: np.ndarray, lag: float) -> float:
    """Largest normalised autocorrelation within a frame of ``lag`` (0 beyond the clip)."""
    c = round(lag)
    lo, hi = max(1, c - 1), min(len(ac), c + 2)
    return float(ac[lo:hi].max()) if lo < hi else 0.0


def _comb(ac: np.ndarray, lag: float, beats: int = 8) -> float:
    """Periodicity salience of a beat period: the mean autocorrelation peak at 1..``beats`` periods."""
    vals = [_ac_peak(ac, k * lag) for k in range(1, beats + 1) if k * lag < len(ac) - 2]
    return float(np.mean(vals)) if vals else 0.0


def estimate_tempo(onset_env: np.ndarray, sr: int, hop: int) -> tuple[float, float]:
    """Tempo in BPM and a confidence in 0..1.

    librosa's estimate (a tempogram weighted by a prior around 120 BPM) is often an
    octave or a 3:2 off for slow off-beat and fast syncopated music. Its x2, x1/2, x3/2
    and x2/3 are candidates too (within 50..210 BPM); the one whose period repeats best
    in the onset autocorrelation (mean peak at 1..8 periods) wins. Then the period is
    refined on the autocorrelation peak at four beats, with parabolic interpolation
    (whole onset frames are about 5 BPM apart near 120 BPM at hop 512).

    Confidence: half for the two estimates agreeing (the prior-weighted one and the
    periodicity one; on the sample world 91% of agreeing tracks are right against 62%
    of the others), half for how weak the competing 3:2 period is (one minus the
    autocorrelation at 1.5 beats).
    """
    import librosa

    prior = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=hop))[0])
    ac = librosa.autocorrelate(onset_env - onset_env.mean())
    ac = ac / (ac[0] + 1e-9)
    fps = sr / hop
    cands = [c for c in (prior, 2 * prior, prior / 2, 1.5 * prior, prior / 1.5) if 50 <= c <= 210] or [prior]
    tempo = max(cands, key=lambda c: _comb(ac, 60.0 * fps / c))
    agree = abs(tempo / prior - 1) < 0.01
    lag = 60.0 * fps / max(tempo, 1e-6)
    conf = 0.5 * agree + 0.5 * float(np.clip(1 - max(0.0, _ac_peak(ac, 1.5 * lag)), 0, 1))
    for beats in (4, 3, 2, 1):
        centre = round(lag * beats)
        if centre + 3 < len(ac):
            break
    else:
        return tempo, 0.0
    lo, hi = max(1, centre - 3), centre + 4
    peak = lo + int(np.argmax(ac[lo:hi]))
    if 1 <= peak < len(ac) - 1:
        a, b, c = ac[peak - 1], ac[peak], ac[peak + 1]
        denom = a - 2 * b + c
        offset = 0.5 * (a - c) / denom if denom != 0 else 0.0
        refined = (peak + float(np.clip(offset, -0.5, 0.5))) / beats
        tempo = 60.0 * fps / refined
    return tempo, float(np.clip(conf, 0.0, 1.0))


def _margin_confidence(margin: float, scale: float = 0.05) -> float:
    """A correlation margin mapped to 0..1 without saturating: ``m / (m + scale)`` (0.5 at ``scale``)."""
    margin = max(margin, 0.0)
    return margin / (margin + scale)


def estimate_key(y: np.ndarray, sr: int, hop: int) -> tuple[str, str, float, float]:
    """Key, mode and their confidences from the mean chroma matched to Krumhansl-Kessler profiles.

    Key confidence: the margin of the best profile correlation over the best one with
    another tonic; mode confidence: over the best one of the other mode; each mapped
    by :func:`_margin_confidence` (never exactly 1).
    """
    import librosa

    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop).mean(axis=1)
    scores = []
    for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            scores.append((float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]), tonic, mode))
    scores.sort(reverse=True)
    best, tonic, mode = scores[0]
    other_tonic = max(sc for sc, t, _ in scores if t != tonic)
    other_mode = max(sc for sc, _, m in scores if m != mode)
    return PITCH_CLASSES[tonic], mode, _margin_confidence(best - other_tonic), _margin_confidence(best - other_mode)


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


def estimate_meter(y: np.ndarray, onset_env: np.ndarray, sr: int, hop: int, tempo: float) -> tuple[int, float]:
    """Beats per bar (3 or 4) and a confidence, from the accent pattern of the beats.

    Beats are tracked at the estimated tempo; each beat's strength is the peak RMS
    around it. For each candidate meter ``m`` and phase, the contrast is how much every
    m-th beat is louder than the others; the meter whose best phase shows the larger
    contrast wins.
    """
    import librosa

    _, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=hop, bpm=tempo, trim=False)
    if len(beats) < 8:
        return 4, 0.0
    rms = librosa.feature.rms(y=y, hop_length=hop)[0]
    strength = np.array([rms[max(0, b - 2) : b + 3].max() for b in beats if b < len(rms)])
    strength = strength / (strength.mean() + 1e-9)

    def contrast(m: int) -> float:
        best = 0.0
        for phase in range(m):
            on = strength[phase::m]
            off = np.delete(strength, np.arange(phase, len(strength), m))
            best = max(best, float(on.mean() - off.mean()))
        return best

    c3, c4 = contrast(3), contrast(4)
    meter = 3 if c3 > c4 else 4
    conf = abs(c3 - c4) / (abs(c3) + abs(c4) + 1e-9)
    return meter, float(np.clip(conf, 0, 1))


def attributes(y: np.ndarray, settings: Settings) -> dict[str, Any]:
    """Tempo, key, mode, loudness and time signature of a clip, with confidences."""
    import librosa

    sr, hop = settings.sample_rate, settings.hop_length
    onset_env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    tempo, tempo_conf = estimate_tempo(onset_env, sr, hop)
    key, mode, key_conf, mode_conf = estimate_key(y, sr, hop)
    meter, meter_conf = estimate_meter(y, onset_env, sr, hop, tempo)
    loud = loudness_db(y)
    return {
        "tempo_bpm": round(tempo, 2),
        "tempo_confidence": round(tempo_conf, 3),
        "key": key,
        "key_confidence": round(key_conf, 3),
        "mode": mode,
        "mode_confidence": round(mode_conf, 3),
        "loudness_db": round(loud, 2),
        "loudness_confidence": round(loudness_confidence(y, hop), 3),
        "time_signature": meter,
        "time_signature_confidence": round(meter_conf, 3),
    }
