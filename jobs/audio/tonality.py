"""Key and mode of a clip: tuned harmonic chroma matched to published key profiles.

Reads and writes nothing; :mod:`jobs.audio.attributes` calls it for every clip and
``studies.real_audio`` calls :func:`chroma_frames` / :func:`mean_chroma` once per clip and
:func:`decide_key` once per candidate profile to choose the profile by cross-validation
(docs/BENCHMARKS.md, "Audio attributes on real recordings").

* Chroma: a constant-Q transform (C1..B7, 3 bins per semitone) at the clip's estimated
  tuning; harmonic/percussive separation by median filtering of that CQT (Fitzgerald
  2010: drums are smeared across frequency and removed before pitch is counted); log
  compression ``log(1 + gamma x)``; the middle bin of each semitone folded to 12 pitch
  classes; each frame scaled to its maximum and the frames averaged (loud frames do not
  outvote the rest, as in HPCP).
* Key: Pearson correlation of that mean chroma with the 24 rotations of a major and a
  minor profile; the best wins. The profiles are published ones, copied as published:
  Krumhansl-Kessler (1982), Temperley (1999), Shaath (2011), and Faraldo et al.'s
  ``edma`` and ``bgate`` for electronic dance music (ISMIR 2016 / Essentia).
"""

from __future__ import annotations

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# (major, minor), tonic first
PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    "temperley": (
        (5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0),
        (5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0),
    ),
    "shaath": (
        (6.6, 2.0, 3.5, 2.3, 4.6, 4.0, 2.5, 5.2, 2.4, 3.7, 2.3, 3.4),
        (6.5, 2.7, 3.5, 5.4, 2.6, 3.5, 2.5, 5.2, 4.0, 2.7, 4.3, 3.2),
    ),
    "edma": (
        (0.1652, 0.0475, 0.0829, 0.0669, 0.0999, 0.0927, 0.0529, 0.1316, 0.0522, 0.0744, 0.0694, 0.0643),
        (0.1724, 0.0534, 0.0761, 0.1004, 0.0562, 0.0853, 0.0498, 0.1345, 0.0746, 0.0500, 0.0919, 0.0555),
    ),
    "bgate": (
        (1.00, 0.00, 0.42, 0.00, 0.53, 0.37, 0.00, 0.77, 0.00, 0.38, 0.21, 0.30),
        (1.00, 0.00, 0.36, 0.39, 0.00, 0.38, 0.00, 0.74, 0.27, 0.00, 0.42, 0.23),
    ),
}
GAMMAS = (10.0, 100.0)
# chosen by 5-fold CV on the real clips (studies.real_audio): see docs/BENCHMARKS.md
KEY_PROFILE = "bgate"
CHROMA_GAMMA = 100.0
_BINS = 3  # CQT bins per semitone
TUNING_N_FFT = 2048  # the tuning estimate's STFT (librosa's default), hop TUNING_N_FFT // 4
_HPSS_KERNEL = 31


def harmonic_cqt(y: np.ndarray, sr: int, hop: int, tuning_stft: np.ndarray | None = None) -> np.ndarray:
    """Magnitude CQT (252 bins from C1, 36 per octave) at the estimated tuning, harmonic part only.

    ``tuning_stft``: the clip's ``|STFT|`` at :data:`TUNING_N_FFT` and a hop of a quarter of
    it, when already computed (what the tuning estimate computes itself otherwise).
    """
    import librosa

    if tuning_stft is None:
        tuning = librosa.estimate_tuning(y=y, sr=sr, n_fft=TUNING_N_FFT, bins_per_octave=12 * _BINS)
    else:
        tuning = librosa.estimate_tuning(S=tuning_stft, sr=sr, bins_per_octave=12 * _BINS)
    cqt = np.abs(
        librosa.cqt(
            y,
            sr=sr,
            hop_length=hop,
            fmin=librosa.note_to_hz("C1"),
            n_bins=7 * 12 * _BINS,
            bins_per_octave=12 * _BINS,
            tuning=tuning,
        )
    )
    harmonic, _ = librosa.decompose.hpss(cqt, kernel_size=_HPSS_KERNEL)
    return harmonic


def chroma_frames(cqt: np.ndarray, gamma: float) -> np.ndarray:
    """``(12, frames)`` log-compressed chroma, each frame scaled to a maximum of 1 (all zero frames stay 0)."""
    x = np.log1p(gamma * cqt / (cqt.max() + 1e-12))
    # the CQT starts on C1 at the clip's tuning, so the first of each semitone's 3 bins is its centre
    chroma = x.reshape(-1, 12, _BINS, x.shape[1])[:, :, 0, :].sum(axis=0)
    return chroma / (chroma.max(axis=0, keepdims=True) + 1e-12)


def mean_chroma(cqt: np.ndarray, gamma: float) -> np.ndarray:
    """The clip's 12-value pitch-class profile: :func:`chroma_frames` averaged over frames."""
    return chroma_frames(cqt, gamma).mean(axis=1)


def _templates(profile: str) -> np.ndarray:
    major, minor = (np.asarray(p, dtype=np.float64) for p in PROFILES[profile])
    rows = np.array([np.roll(major, t) for t in range(12)] + [np.roll(minor, t) for t in range(12)])
    rows -= rows.mean(axis=1, keepdims=True)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def decide_key(chroma: np.ndarray, profile: str = KEY_PROFILE) -> tuple[str, str, float, float]:
    """Key, mode, the key margin (best correlation minus the best with another tonic or mode) and the mode margin."""
    v = np.asarray(chroma, dtype=np.float64) - np.mean(chroma)
    norm = np.linalg.norm(v)
    if norm == 0:
        return "C", "major", 0.0, 0.0
    scores = _templates(profile) @ (v / norm)
    best = int(np.argmax(scores))
    tonic, mode = best % 12, "major" if best < 12 else "minor"
    others = np.delete(scores, best)
    same_tonic_other_mode = scores[(best + 12) % 24]
    return PITCH_CLASSES[tonic], mode, float(scores[best] - others.max()), float(scores[best] - same_tonic_other_mode)
