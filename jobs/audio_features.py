"""Audio features: log-mel spectrograms and musical attributes for every track with audio.

Reads the catalog (``audio_path`` relative to the data root) and, for each clip, loads
a mono signal at ``audio.sample_rate`` (22,050 Hz): a window of ``audio.window_seconds``
(30 s) from the middle of the file; clips shorter than the window keep their length
(the CNN pads its crops, see ``jobs.audio_cnn``). From each clip it computes

* a ``audio.n_mels``-band (128) mel spectrogram, hop ``audio.hop_length`` (512), on a
  dB scale, stored as float16 bytes (``spectrograms`` table);
* tempo (BPM), key (pitch class), mode (major/minor), loudness (dB RMS, full scale)
  and time signature (3 or 4 beats per bar), each with a confidence in 0..1
  (``audio_attributes`` table).

Files that are missing, unreadable or corrupt, silent or too short are skipped and
written with a reason to ``audio_rejects``; one bad file never fails the run. All three
tables are ``week=W`` partitions swapped in atomically; counts and throughput go to
``run_metrics/week=W/audio_features.json``.

Parallelism: a process pool over files (``audio.workers``, default all cores). Decoding
and librosa's DSP are per-file NumPy work with no shuffle; a pool keeps the clips in
the processes that decode them, where Spark's ``mapInPandas`` would add a JVM and Arrow
round trips for nothing on one machine. On a cluster the same :func:`process_clip`
runs inside ``mapInPandas`` over the catalog.

Run alone (shows progress)::

    python -m jobs.audio_features --week 2026-W47
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.common.cli import week_job
from jobs.common.config import AudioConf, Config
from jobs.common.io import write_week_table
from jobs.common.paths import week_dir

log = logging.getLogger("audio_features")

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl-Kessler key profiles
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
SILENCE_DBFS = -70.0


@dataclass(frozen=True)
class Settings:
    """Everything the spectrogram depends on; saved with the CNN so inference matches training."""

    sample_rate: int = 22_050
    window_seconds: float = 30.0
    n_mels: int = 128
    hop_length: int = 512
    n_fft: int = 2048
    min_seconds: float = 1.0

    @classmethod
    def from_conf(cls, conf: AudioConf) -> Settings:
        return cls(conf.sample_rate, conf.window_seconds, conf.n_mels, conf.hop_length, conf.n_fft, conf.min_seconds)


class RejectedClipError(Exception):
    """A clip that cannot be used; the message is the reason written to the rejects table."""


# ----------------------------------------------------------------------------- signal functions


def load_clip(path: Path, settings: Settings) -> np.ndarray:
    """Mono float32 at the configured rate: the middle ``window_seconds`` of the file."""
    import soundfile as sf

    if not path.exists():
        raise RejectedClipError("missing_file")
    try:
        info = sf.info(str(path))
        total = info.frames / info.samplerate
        offset = max(0.0, (total - settings.window_seconds) / 2)
        start = int(offset * info.samplerate)
        stop = start + int(settings.window_seconds * info.samplerate)
        data, sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - any decoder error means an unusable file
        raise RejectedClipError(f"unreadable:{type(exc).__name__}") from None
    y = data.mean(axis=1)
    if sr != settings.sample_rate:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=settings.sample_rate)
    if len(y) < settings.min_seconds * settings.sample_rate:
        raise RejectedClipError("too_short")
    if not np.isfinite(y).all():
        raise RejectedClipError("corrupt:non_finite_samples")
    if loudness_db(y) < SILENCE_DBFS:
        raise RejectedClipError("silent")
    return y.astype(np.float32)


def log_mel(y: np.ndarray, settings: Settings) -> np.ndarray:
    """``(n_mels, frames)`` log-mel spectrogram in dB (ref = 1.0 full scale), float16."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=y, sr=settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop_length, n_mels=settings.n_mels
    )
    return librosa.power_to_db(mel, ref=1.0, top_db=None).clip(-100, None).astype(np.float16)


def loudness_db(y: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a copy 6 dB quieter reads 6 dB lower)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return 20 * np.log10(max(rms, 1e-10))


def estimate_tempo(onset_env: np.ndarray, sr: int, hop: int) -> tuple[float, float]:
    """Tempo in BPM and a confidence: how much the beat period stands out in the autocorrelation.

    librosa's estimate is limited to whole onset frames (about 5 BPM apart near 120 BPM
    at hop 512), so the period is refined on the autocorrelation peak at four beats,
    with parabolic interpolation: a frame of error there is a quarter frame per beat.
    """
    import librosa

    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=hop))[0])
    ac = librosa.autocorrelate(onset_env - onset_env.mean())
    ac = ac / (ac[0] + 1e-9)
    lag = 60.0 * sr / hop / max(tempo, 1e-6)
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
        tempo = 60.0 * sr / hop / refined
    conf = float(ac[round(lag)]) if 0 < round(lag) < len(ac) else 0.0
    return tempo, float(np.clip(conf, 0.0, 1.0))


def estimate_key(y: np.ndarray, sr: int, hop: int) -> tuple[str, str, float, float]:
    """Key, mode and their confidences from the mean chroma matched to Krumhansl-Kessler profiles."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop).mean(axis=1)
    scores = []
    for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            scores.append((float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]), tonic, mode))
    scores.sort(reverse=True)
    best, tonic, mode = scores[0]
    second = scores[1][0]
    other_mode = max(s for s, t, m in scores if m != mode)
    key_conf = float(np.clip((best - second) * 5 + 0.5 * max(best, 0), 0, 1))
    mode_conf = float(np.clip((best - other_mode) * 5, 0, 1))
    return PITCH_CLASSES[tonic], mode, key_conf, mode_conf


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
        "loudness_confidence": round(float(np.clip((loud + 70) / 40, 0, 1)), 3),
        "time_signature": meter,
        "time_signature_confidence": round(meter_conf, 3),
    }


def process_clip(task: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """One track: ``{"track_id", "mel", "attributes"}`` or ``{"track_id", "reason"}``. Never raises."""
    track_id, path, settings_dict = task
    settings = Settings(**settings_dict)
    try:
        y = load_clip(Path(path), settings)
        mel = log_mel(y, settings)
        return {"track_id": track_id, "mel": mel, "attributes": attributes(y, settings)}
    except RejectedClipError as exc:
        return {"track_id": track_id, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad file never fails the run
        return {"track_id": track_id, "reason": f"failed:{type(exc).__name__}"}


def mel_from_bytes(blob: bytes, n_mels: int, n_frames: int) -> np.ndarray:
    """Inverse of the stored encoding: float16 bytes -> ``(n_mels, n_frames)`` array."""
    return np.frombuffer(blob, dtype="<f2").reshape(n_mels, n_frames)


# ----------------------------------------------------------------------------- job


def run(config: Config, week: str, progress: bool = False) -> dict[str, Any]:
    from jobs.common.catalog import read_catalog_table

    t0 = time.perf_counter()
    settings = Settings.from_conf(config.audio)
    tracks = read_catalog_table(config.paths.data, "tracks").sort_values("track_id", ignore_index=True)
    rejects: list[dict[str, Any]] = []
    tasks = []
    for row in tracks.itertuples(index=False):
        if pd.isna(row.audio_path):
            rejects.append({"track_id": row.track_id, "audio_path": None, "reason": "no_audio"})
        else:
            tasks.append((row.track_id, str(config.paths.data / row.audio_path), asdict(settings)))
    paths = {t[0]: t[1] for t in tasks}
    workers = config.audio.workers or os.cpu_count() or 1
    spec_rows, attr_rows = [], []
    done = 0
    t_dsp = time.perf_counter()
    # The first clip runs here, before the pool forks: librosa's numba functions compile (and
    # write their on-disk cache) once, in one process. Workers compiling concurrently on a
    # fresh install can corrupt that cache and crash later runs.
    warm = [process_clip(tasks[0])] if tasks else []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for result in itertools.chain(warm, pool.map(process_clip, tasks[1:], chunksize=8)):
            done += 1
            if "reason" in result:
                rejects.append(
                    {
                        "track_id": result["track_id"],
                        "audio_path": paths[result["track_id"]],
                        "reason": result["reason"],
                    }
                )
            else:
                mel = result["mel"]
                spec_rows.append(
                    {
                        "track_id": result["track_id"],
                        "n_mels": mel.shape[0],
                        "n_frames": mel.shape[1],
                        "mel": mel.astype("<f2").tobytes(),
                    }
                )
                attr_rows.append({"track_id": result["track_id"], **result["attributes"]})
            if progress and (done % 100 == 0 or done == len(tasks)):
                rate = done / (time.perf_counter() - t_dsp)
                log.info("%d/%d clips (%.1f clips/s)", done, len(tasks), rate)
    dsp_seconds = time.perf_counter() - t_dsp
    warehouse = config.paths.warehouse
    write_week_table(
        pd.DataFrame(spec_rows, columns=["track_id", "n_mels", "n_frames", "mel"]), warehouse, "spectrograms", week
    )
    write_week_table(pd.DataFrame(attr_rows), warehouse, "audio_attributes", week)
    write_week_table(
        pd.DataFrame(rejects, columns=["track_id", "audio_path", "reason"]), warehouse, "audio_rejects", week
    )
    reasons = pd.Series([r["reason"] for r in rejects], dtype=object).value_counts().sort_index().to_dict()
    metrics = {
        "week": week,
        "clips": len(tasks),
        "spectrograms": len(spec_rows),
        "rejects": reasons,
        "workers": workers,
        "dsp_seconds": round(dsp_seconds, 2),
        "clips_per_second": round(len(tasks) / max(dsp_seconds, 1e-9), 2),
        "clips_per_second_per_core": round(len(tasks) / max(dsp_seconds, 1e-9) / workers, 2),
        "settings": asdict(settings),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    from jobs.common.atomic import write_json_atomic

    write_json_atomic(week_dir(warehouse, "run_metrics", week) / "audio_features.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "audio_features",
        "Log-mel spectrograms and audio attributes for every track.",
        lambda config, week, args: run(config, week, progress=not args.quiet),
        argv,
        add_arguments=lambda p: p.add_argument("--quiet", action="store_true", help="no progress lines"),
    )


if __name__ == "__main__":
    sys.exit(main())
