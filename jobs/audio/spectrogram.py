"""Clips and their log-mel spectrograms: loading, the dB scale, padding to the window, the stored encoding.

Reads audio files (any format ``soundfile`` decodes); writes nothing. Used by
``jobs.audio_features`` (which stores the spectrograms) and ``jobs.audio_cnn`` (which
reads them back with :func:`mel_from_bytes` and saves :class:`Settings` with its model).

A clip is the middle ``window_seconds`` of a file, mono, at ``sample_rate``; its
spectrogram has ``n_mels`` bands in dB (ref = 1.0 full scale), clipped at
:data:`FLOOR_DB`, which is also the value of the padding past the end of a short clip.
A file that cannot be used raises :class:`RejectedClipError` with the reason the rejects
table gets (see :func:`load_clip`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jobs.config import AudioConf
from schemas import vocab

log = logging.getLogger("audio_features")  # the job these messages belong to

SILENCE_DBFS = -70.0
FLOOR_DB = -100.0  # log_mel clips here; padding past the end of a short clip uses it too


@dataclass(frozen=True)
class Settings:
    """Everything the spectrogram depends on; saved with the CNN so inference matches training."""

    sample_rate: int
    window_seconds: float
    n_mels: int
    hop_length: int
    n_fft: int
    min_seconds: float

    @classmethod
    def from_conf(cls, conf: AudioConf | None = None) -> Settings:
        """The ``audio`` section's spectrogram settings (its defaults when ``conf`` is None): defaults live there only."""
        conf = conf or AudioConf()
        return cls(conf.sample_rate, conf.window_seconds, conf.n_mels, conf.hop_length, conf.n_fft, conf.min_seconds)

    @property
    def window_frames(self) -> int:
        """Frames of a full window: what librosa gives for ``window_seconds`` of samples (centred frames)."""
        return 1 + int(self.window_seconds * self.sample_rate) // self.hop_length


class RejectedClipError(Exception):
    """A clip that cannot be used; the message is the reason written to the rejects table."""


def loudness_db(y: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a copy 6 dB quieter reads 6 dB lower)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return 20 * np.log10(max(rms, 1e-10))


def load_clip(path: Path, settings: Settings) -> np.ndarray:
    """Mono float32 at the configured rate: the middle ``window_seconds`` of the file.

    Raises :class:`RejectedClipError` with the reject reason: ``missing_file``,
    ``empty_file`` (0 bytes or 0 frames), ``unreadable`` (not an audio format the decoder
    knows), ``corrupt`` (the header parses but decoding fails or stops short),
    ``corrupt:non_finite_samples`` (NaN or infinite samples), ``too_short`` (under
    ``min_seconds``) or ``silent`` (below :data:`SILENCE_DBFS`). A read that returns fewer
    frames than the header promised (beyond 1% or 0.1 s of slack, for formats whose frame
    count is an estimate) is ``corrupt``.
    """
    import soundfile as sf

    if not path.exists():
        raise RejectedClipError(vocab.MISSING_FILE)
    if path.stat().st_size == 0:
        raise RejectedClipError(vocab.EMPTY_FILE)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001 - the decoder does not know this format
        log.debug("%s: unreadable (%s)", path, exc)
        raise RejectedClipError(vocab.UNREADABLE) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise RejectedClipError(vocab.EMPTY_FILE)
    want = min(info.frames, int(settings.window_seconds * info.samplerate))
    start = (info.frames - want) // 2
    try:
        data, sr = sf.read(str(path), start=start, stop=start + want, dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - the header parsed but the data does not decode
        log.debug("%s: corrupt (%s)", path, exc)
        raise RejectedClipError(vocab.CORRUPT) from None
    if len(data) == 0:
        raise RejectedClipError(vocab.EMPTY_FILE)
    if want - len(data) > max(want // 100, info.samplerate // 10):
        raise RejectedClipError(vocab.CORRUPT)  # truncated: fewer frames than the header says
    y = data.mean(axis=1)
    del data
    if not np.isfinite(y).all():
        raise RejectedClipError(vocab.CORRUPT_NON_FINITE)
    if sr != settings.sample_rate:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=settings.sample_rate)
    if len(y) < settings.min_seconds * settings.sample_rate:
        raise RejectedClipError(vocab.TOO_SHORT)
    if loudness_db(y) < SILENCE_DBFS:
        raise RejectedClipError(vocab.SILENT)
    return y.astype(np.float32, copy=False)


def stft_magnitude(y: np.ndarray, settings: Settings) -> np.ndarray:
    """``|STFT|`` at the configured ``n_fft`` and hop: computed once per clip, shared by the log-mel and the tuning."""
    import librosa

    return np.abs(librosa.stft(y, n_fft=settings.n_fft, hop_length=settings.hop_length))


def log_mel(y: np.ndarray, settings: Settings, magnitude: np.ndarray | None = None) -> np.ndarray:
    """``(n_mels, frames)`` log-mel spectrogram in dB (ref = 1.0 full scale), float16.

    ``magnitude`` is the clip's :func:`stft_magnitude` when already computed (the same
    spectrogram, bit for bit, without a second STFT).
    """
    import librosa

    if magnitude is None:
        mel = librosa.feature.melspectrogram(
            y=y, sr=settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop_length, n_mels=settings.n_mels
        )
    else:
        mel = librosa.feature.melspectrogram(S=magnitude**2, sr=settings.sample_rate, n_mels=settings.n_mels)
    return librosa.power_to_db(mel, ref=1.0, top_db=None).clip(FLOOR_DB, None).astype(np.float16)


def pad_to_window(mel: np.ndarray, frames: int) -> tuple[np.ndarray, int]:
    """``(n_mels, frames)`` float16: ``mel`` cut or padded at the end with :data:`FLOOR_DB`; and the real frames."""
    valid = min(mel.shape[1], frames)
    out = np.full((mel.shape[0], frames), FLOOR_DB, dtype=np.float16)
    out[:, :valid] = mel[:, :valid]
    return out, valid


def mel_from_bytes(blob: bytes, n_mels: int, n_frames: int) -> np.ndarray:
    """Inverse of the stored encoding: float16 bytes -> ``(n_mels, n_frames)`` array."""
    return np.frombuffer(blob, dtype="<f2").reshape(n_mels, n_frames)
