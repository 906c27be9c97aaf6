"""One clip's work and the process pool that runs it for every clip, surviving crashed and stuck workers.

Reads the audio files named in the tasks; writes only entries of the clip cache
(:mod:`jobs.audio.cache`) when a task names one. :func:`process_clip` turns one
``(track_id, path, settings dict[, cache folder])`` task into a spectrogram and
attributes, or a reject reason, and never raises; :func:`process_all` runs it over a pool on one machine (not
Spark: decoding and librosa's DSP are per-file NumPy work with no shuffle, and a pool
keeps the clips in the processes that decode them). On a cluster the same
:func:`process_clip` runs in Spark's ``mapInPandas`` (:mod:`jobs.audio.spark_engine`).

If a worker process dies (a decoder crash), the pool is restarted for the remaining
files and the clips that were in flight are retried one by one; the one that kills its
worker again is rejected as ``crashed_worker``. A clip that takes longer than the
per-clip timeout ends its worker the same way (``SIGALRM``, so even a decoder stuck in C
code stops) and is rejected as ``timed_out``. Used by ``jobs.audio_features``;
``python -m jobs.audio.workers`` (run by ``make setup``) only fills librosa's numba cache.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import signal
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from jobs.audio.attributes import attributes
from jobs.audio.cache import ClipCache, content_hash
from jobs.audio.spectrogram import RejectedClipError, Settings, load_clip, log_mel, stft_magnitude
from schemas import vocab
from schemas.columns import REASON, TRACK_ID

log = logging.getLogger("audio_features")  # the job these messages belong to


Task = tuple  # (track_id, path, settings dict[, cache folder]): a tuple, so it pickles cheaply


def process_clip(task: Task) -> dict[str, Any]:
    """One track: ``{"track_id", "mel", "attributes"}`` or ``{"track_id", "reason"}``. Never raises.

    ``mel`` is the clip's own length (unpadded, so the pool ships no padding between
    processes); the writer pads it to the window (:func:`pad_to_window`). With a cache
    folder as the task's fourth item (a :class:`~jobs.audio.cache.ClipCache` of the
    settings' feature version) the result is stored there under the clip's content hash;
    reading the cache is :func:`split_cached`'s work, before the pool.
    """
    track_id, path, settings_dict, *rest = task
    result = _compute(track_id, Path(path), Settings(**settings_dict))
    if rest and rest[0]:
        with contextlib.suppress(OSError):  # missing or unreadable: nothing to key it by (the result says why)
            ClipCache(rest[0]).put(content_hash(Path(path)), result)
    return result


def split_cached(tasks: list[Task]) -> tuple[list[dict[str, Any]], list[Task]]:
    """The tasks' results already in their cache, and the tasks left to compute (in order).

    Run in the calling process before the pool, so a week whose clips are all cached
    starts no worker and compiles nothing.
    """
    done: list[dict[str, Any]] = []
    left: list[Task] = []
    for task in tasks:
        track_id, path, _settings, *rest = task
        hit = None
        if rest and rest[0]:
            try:
                hit = ClipCache(rest[0]).get(content_hash(Path(path)))
            except OSError:
                hit = None
        if hit is None:
            left.append(task)
        else:
            done.append({TRACK_ID: track_id, **hit, "cached": True})
    return done, left


def _compute(track_id: str, path: Path, settings: Settings) -> dict[str, Any]:
    try:
        y = load_clip(path, settings)
        magnitude = stft_magnitude(y, settings)  # one STFT: the log-mel and the tuning estimate share it
        mel = log_mel(y, settings, magnitude)
        return {
            TRACK_ID: track_id,
            "mel": mel[:, : settings.window_frames],
            "attributes": attributes(y, settings, mel, magnitude),
        }
    except RejectedClipError as exc:
        return {TRACK_ID: track_id, REASON: str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad file never fails the run
        return {TRACK_ID: track_id, REASON: f"{vocab.FAILED}{type(exc).__name__}"}


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork where there is one (Linux): workers start in milliseconds with the parent's modules
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork") if "fork" in methods else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_one_thread)


def _one_thread() -> None:
    """A worker's BLAS and OpenMP pools shrink to one thread: the pool already has a process per core.

    Without it every worker's BLAS starts a thread per core and they contend: on 2 cores the
    job took 186.5 s for the sample's 1,533 clips before, 137.7 s with this and the shared STFT
    (docs/measurements.md).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _in_worker(task: Task, timeout: float) -> dict[str, Any]:
    """:func:`process_clip` under a hard time limit, in a pool worker only.

    ``SIGALRM`` gets its default action (end the process), so even a decoder stuck in C
    code stops; the pool then sees a dead worker and the clip is retried alone. It is set
    here because a forked worker inherits the parent's handler (Airflow's parse timeout
    installs one that raises instead of ending the process).
    """
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, math.ceil(timeout)))
    try:
        return process_clip(task)
    finally:
        signal.alarm(0)


def _alone(task: Task, timeout: float) -> dict[str, Any]:
    """``process_clip`` in a process of its own; a worker that dies is a ``crashed_worker`` reject,
    one that ran out of time a ``timed_out`` one."""
    t0 = time.perf_counter()
    with _pool(1) as pool:
        try:
            return pool.submit(_in_worker, task, timeout).result()
        except BrokenProcessPool:
            reason = vocab.TIMED_OUT if time.perf_counter() - t0 >= timeout else vocab.CRASHED_WORKER
            log.warning("%s: %s ended its worker process; rejected as %s", task[0], task[1], reason)
            return {TRACK_ID: task[0], REASON: reason}


def warm_up(settings: Settings) -> None:
    """Run the DSP once on a made-up signal in this process, before any worker starts.

    librosa's numba functions compile (and write their on-disk cache) once, here, and the
    forked workers inherit them; concurrent first compiles can corrupt that cache. No file
    is read, so no bad input can crash the parent. ``make setup`` runs it once after installing
    (``python -m jobs.audio.workers``), so that two jobs starting together on a fresh venv (the
    DAG's audio features beside the bench's, in two test processes) never both compile: that
    killed one of them with SIGSEGV on a clean clone.
    """
    sr = settings.sample_rate
    t = np.arange(int(3 * sr)) / sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + (np.floor(t * 2) % 2))).astype(np.float32)
    attributes(y, settings, log_mel(y, settings))


def process_all(tasks: list[Task], workers: int, timeout: float = 120.0) -> Iterator[dict[str, Any]]:
    """:func:`process_clip` of every task, in completion order, over a pool that survives crashes.

    At most ``2 * workers`` clips are in flight, so when a worker dies (``BrokenProcessPool``:
    a decoder crash, or a clip over ``timeout`` seconds) the suspects are known: each of
    them is retried alone (:func:`_alone`) and the pool restarts for the rest. Call
    :func:`warm_up` first.
    """
    pending = list(reversed(tasks))  # pop() from the end keeps catalog order
    while pending:
        suspects: list[Task] = []
        with _pool(workers) as pool:
            inflight: dict[Future, Task] = {}
            while (pending or inflight) and not suspects:
                try:
                    while pending and len(inflight) < 2 * workers:
                        task = pending.pop()
                        inflight[pool.submit(_in_worker, task, timeout)] = task
                except BrokenProcessPool:
                    suspects.append(task)
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    task = inflight.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        suspects.append(task)
                    else:
                        yield future.result()
            suspects += inflight.values()
        if suspects:
            log.warning("a worker process died; retrying the %d clips in flight one by one", len(suspects))
        for task in sorted(suspects, key=lambda t: t[0]):
            yield _alone(task, timeout)


def main() -> int:
    """``python -m jobs.audio.workers``: fill librosa's on-disk numba cache (:func:`warm_up`, default settings)."""
    t0 = time.perf_counter()
    warm_up(Settings.from_conf())
    print(f">> librosa's numba functions compiled into their cache ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
