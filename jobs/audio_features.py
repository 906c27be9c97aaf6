"""Audio features: log-mel spectrograms and musical attributes for every track with audio.

Reads the catalog (``audio_path`` relative to the data root) and, for each clip, loads
a mono signal at ``audio.sample_rate`` (22,050 Hz): a window of ``audio.window_seconds``
(30 s) from the middle of the file. From each clip it computes

* a ``audio.n_mels``-band (128) mel spectrogram, hop ``audio.hop_length`` (512), on a
  dB scale, stored as float16 bytes (``spectrograms`` table). Every stored spectrogram
  is exactly the window long (``1 + window samples // hop`` frames, 1,292 at the
  defaults): a shorter clip is padded at the end with the silence floor (-100 dB, where
  ``log_mel`` clips) and ``valid_frames`` says how many frames are real audio (the CNN
  reads only those, see ``jobs.audio_cnn.load_spectrograms``);
* tempo (BPM), key (pitch class), mode (major/minor), loudness (integrated loudness,
  ITU-R BS.1770 LUFS) and time signature (3 or 4 beats per bar), each with a calibrated
  confidence in 0..1 (``audio_attributes`` table; the estimators and their measured
  accuracy on real recordings: :mod:`jobs.audio.attributes`, docs/BENCHMARKS.md).

The signal processing lives in the library :mod:`jobs.audio` (``spectrogram``:
loading, log-mel, padding; ``attributes``: the estimators; ``workers``: the pool); this
module is the job: it lists the clips, runs the pool and writes the tables.

Files that cannot be used are skipped and written with a reason to ``audio_rejects``:
``no_audio`` (the catalog has no path), ``missing_file``, ``empty_file`` (0 bytes or 0
frames), ``unreadable`` (not an audio format the decoder knows), ``corrupt`` (the header
parses but decoding fails or stops short), ``corrupt:non_finite_samples`` (NaN or
infinite samples), ``too_short`` (under ``audio.min_seconds``), ``silent`` (below -70
dBFS), ``crashed_worker`` (decoding it killed the worker process twice), ``timed_out``
(over ``audio.clip_timeout_seconds``, twice) and ``failed:<error>`` (anything else).
One bad file never fails the run. A catalog without any ``audio_path`` (real listening
data usually has none) is a skip, not a failure: the tables are written empty (every track
in ``audio_rejects`` as ``no_audio``) and the metrics say ``"skipped": "no audio: ..."``;
the CNN's training then skips too. All three tables are ``week=W`` partitions swapped in
atomically; counts, throughput and, when ``<data>/truth/track_attributes.csv`` exists
(the sample world), the attributes' ``accuracy_vs_truth`` go to
``run_metrics/week=W/audio_features.json``.

Each clip is computed once: its result is kept in the clip cache
(``<paths.cache>/audio/<feature version>/``, :mod:`jobs.audio.cache`) under the SHA-256
of its bytes, and a later run (a rerun of the week, the next week) reads it back instead
of decoding the file again. The feature version hashes the spectrogram settings, the
feature code and the DSP libraries' versions, so a change to any of them, or to a
clip's bytes, computes exactly what it changed. The tables are the same with or without
the cache (``audio.cache: false`` turns it off; deleting the folder is always safe); the
metrics say how many clips were ``computed`` and how many came ``from_cache``.

Parallelism: a process pool on one machine (``audio.workers``, default all cores) by
default. Decoding and librosa's DSP are per-file NumPy work with no shuffle; a pool keeps
the clips in the processes that decode them, where Spark would add a JVM and Arrow round
trips for nothing on one machine. With ``audio.engine: spark`` the same ``process_clip``
runs in ``mapInPandas`` on ``spark.master``'s executors (:mod:`jobs.audio.spark_engine`;
every executor must see the data root at the same path), for catalogs one machine cannot
decode in time; the tables are the same. If a worker process dies (a decoder crash), the pool is
restarted for the remaining files and the clips that were in flight are retried one by
one; the one that kills its worker again is rejected as ``crashed_worker``. A clip that
takes longer than ``audio.clip_timeout_seconds`` ends its worker the same way
(``SIGALRM``, so even a decoder stuck in C code stops) and is rejected as ``timed_out``.

Run alone (shows progress)::

    python -m jobs.audio_features --week 2026-W47

Any audio file (its middle ``audio.window_seconds``), through the same per-clip code as
the weekly job (:func:`~jobs.audio.workers.process_clip`; settings from the
configuration, ``DW_CONF`` applies):
one JSON line per file on stdout (``file``, ``tempo_bpm``, ``key``, ``mode``,
``loudness_lufs``, ``time_signature``, each with its ``*_confidence``); a file that cannot
be used is one JSON line on stderr with its ``error`` (the reject reason), the others are
still analysed, and the exit code is 1 if any failed (``make analyze FILES=...``)::

    python -m jobs.audio_features --analyze song.flac other.ogg
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.audio.cache import ClipCache
from jobs.audio.checks import accuracy_vs_truth, inside_data_root
from jobs.audio.spectrogram import Settings, pad_to_window
from jobs.audio.workers import process_all, process_clip, split_cached, warm_up
from jobs.config import Config
from jobs.runtime.cli import week_job, with_spark
from jobs.warehouse.store import Warehouse
from schemas import vocab
from schemas.columns import AUDIO_PATH, REASON, TRACK_ID

log = logging.getLogger("audio_features")


# ----------------------------------------------------------------------------- outputs


def write_spectrograms(
    mels: list[tuple[str, np.ndarray]], warehouse: Path, week: str, frames: int, batch: int = 64
) -> Path:
    """The ``spectrograms`` partition: each mel padded to ``frames`` (float16, zstd), ``batch`` rows at a time.

    Written as row groups of ``batch`` clips, so padded copies exist for one batch at a
    time; the unpadded spectrograms (``mels``) are all in memory, which for clips as long
    as the window is the same ~0.33 MB each.
    """

    def batches() -> Iterator[dict[str, list[Any]]]:
        for i in range(0, max(len(mels), 1), batch):
            rows: dict[str, list[Any]] = {TRACK_ID: [], "n_mels": [], "n_frames": [], "valid_frames": [], "mel": []}
            for track_id, mel in mels[i : i + batch]:
                padded, valid = pad_to_window(mel, frames)
                rows[TRACK_ID].append(track_id)
                rows["n_mels"].append(padded.shape[0])
                rows["n_frames"].append(frames)
                rows["valid_frames"].append(valid)
                rows["mel"].append(padded.astype("<f2", copy=False).tobytes())
            yield rows

    return Warehouse(warehouse).write_batches("spectrograms", week, batches())


def run(config: Config, week: str, progress: bool = False) -> dict[str, Any]:
    from jobs.warehouse.catalog import read_catalog_table

    settings = Settings.from_conf(config.audio)
    tracks = read_catalog_table(config.paths.data, "tracks").sort_values(TRACK_ID, ignore_index=True)
    rejects: list[dict[str, Any]] = []
    tasks = []
    cache = ClipCache.for_settings(config.paths.cache, settings) if config.audio.cache else None
    cache_folder = str(cache.folder) if cache else ""
    for row in tracks.itertuples(index=False):
        if pd.isna(row.audio_path) or not str(row.audio_path).strip():
            rejects.append({TRACK_ID: row.track_id, AUDIO_PATH: None, REASON: vocab.NO_AUDIO})
            continue
        path = inside_data_root(config.paths.data, str(row.audio_path))
        if path is None:
            rejects.append({TRACK_ID: row.track_id, AUDIO_PATH: row.audio_path, REASON: vocab.OUTSIDE_DATA_ROOT})
        else:
            tasks.append((row.track_id, str(path), asdict(settings), cache_folder))
    paths = {t[0]: t[1] for t in tasks}
    workers = config.audio.workers or os.cpu_count() or 1
    mels: list[tuple[str, np.ndarray]] = []
    attr_rows = []
    from_cache = 0
    t_dsp = time.perf_counter()
    cached, to_compute = split_cached(tasks)
    if config.audio.engine == "spark" and to_compute:
        from jobs.audio.spark_engine import spark_process_all

        computed = with_spark(
            config, "dw-audio-features", lambda spark: list(spark_process_all(spark, to_compute, 4 * workers))
        )
    else:
        if to_compute:
            warm_up(settings)
        computed = process_all(to_compute, workers, config.audio.clip_timeout_seconds)
    results = itertools.chain(cached, computed)
    for done, result in enumerate(results, start=1):
        from_cache += bool(result.get("cached"))
        if REASON in result:
            rejects.append({TRACK_ID: result[TRACK_ID], AUDIO_PATH: paths[result[TRACK_ID]], REASON: result[REASON]})
        else:
            mels.append((result[TRACK_ID], result["mel"]))
            attr_rows.append({TRACK_ID: result[TRACK_ID], **result["attributes"]})
        if progress and (done % 100 == 0 or done == len(tasks)):
            rate = done / (time.perf_counter() - t_dsp)
            log.info("%d/%d clips (%.1f clips/s, %d from the cache)", done, len(tasks), rate, from_cache)
    dsp_seconds = time.perf_counter() - t_dsp
    wh = Warehouse(config.paths.warehouse)
    mels.sort(key=lambda m: m[0])
    write_spectrograms(mels, config.paths.warehouse, week, settings.window_frames)
    attrs = (pd.DataFrame(attr_rows) if attr_rows else _empty_attributes()).sort_values(TRACK_ID, ignore_index=True)
    wh.write("audio_attributes", week, attrs)
    rejects_frame = pd.DataFrame(rejects, columns=[TRACK_ID, AUDIO_PATH, REASON])
    wh.write("audio_rejects", week, rejects_frame.sort_values(TRACK_ID, ignore_index=True))
    reasons = rejects_frame[REASON].value_counts().sort_index().to_dict()
    metrics: dict[str, Any] = {
        "week": week,
        "clips": len(tasks),
        "spectrograms": len(mels),
        "padded_to_window": int(sum(m.shape[1] < settings.window_frames for _, m in mels)),
        "window_frames": settings.window_frames,
        "rejects": {str(k): int(v) for k, v in reasons.items()},
        "workers": workers,
        "engine": config.audio.engine,
        "dsp_seconds": round(dsp_seconds, 2),
        "clips_per_second": round(len(tasks) / max(dsp_seconds, 1e-9), 2),
        "clips_per_second_per_core": round(len(tasks) / max(dsp_seconds, 1e-9) / workers, 2),
        "computed": len(tasks) - from_cache,
        "from_cache": from_cache,
        "cache": cache_folder or None,
        "settings": asdict(settings),
    }
    if not tasks:  # a skip: nothing to decode (the tables above are written, empty)
        if set(reasons) <= {vocab.NO_AUDIO}:
            metrics["skipped"] = f"no audio: none of the catalog's {len(tracks)} tracks has an audio_path"
        else:
            metrics["skipped"] = f"no audio clip to decode: rejects {metrics['rejects']}"
        log.warning("skipped: %s", metrics["skipped"])
    truth_path = config.paths.data / "truth" / "track_attributes.csv"
    if truth_path.exists() and attr_rows:
        metrics["accuracy_vs_truth"] = accuracy_vs_truth(attrs, pd.read_csv(truth_path, dtype={TRACK_ID: str}))
    return metrics


def _empty_attributes() -> pd.DataFrame:
    from schemas.tables import arrow_schema

    return arrow_schema("audio_attributes").empty_table().to_pandas()


def analyze(files: list[str], settings: Settings | None = None) -> int:
    """``--analyze``: each file's attributes as one JSON line (stdout), or its error (stderr); 1 if any failed."""
    import json

    settings = settings or Settings.from_conf()
    failed = 0
    for file in files:
        result = process_clip((file, file, asdict(settings)))
        if REASON in result:
            failed += 1
            print(json.dumps({"file": file, "error": result[REASON]}), file=sys.stderr, flush=True)
        else:
            print(json.dumps({"file": file, **result["attributes"]}), flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--analyze":
        if len(args) < 2:
            print("usage: python -m jobs.audio_features --analyze FILE...", file=sys.stderr)
            return 2
        from jobs.config import load_config

        return analyze(args[1:], Settings.from_conf(load_config().audio))
    return week_job(
        "audio_features",
        "Log-mel spectrograms and audio attributes for every track.",
        lambda config, week, args: run(config, week, progress=not args.quiet),
        argv,
        add_arguments=lambda p: p.add_argument("--quiet", action="store_true", help="no progress lines"),
        metrics="audio_features",
    )


if __name__ == "__main__":
    sys.exit(main())
