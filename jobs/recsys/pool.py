"""Playlists on every core of one machine (``merge.workers``): blocks of listeners in forked processes.

Reads and writes nothing: it takes a week's :class:`~jobs.recsys.inputs.Inputs` and returns
the same ``Playlists`` as :func:`jobs.recsys.playlists.playlists`. The listeners are cut
into the same blocks (:func:`~jobs.recsys.playlists.block_size`); each block goes through
the same pure :func:`~jobs.recsys.playlists.recommend_listeners` in one of ``workers``
processes forked from the caller's, so they share its inputs (copy on write) and only
the picks travel back, in block order. A listener's picks are, bit for bit, the ones the
caller's own process would compute (``tests/unit/recsys/test_merge_pool.py``; the merge's
whole table in ``tests/integration/test_merge_spark.py``): every block runs BLAS on one
thread whichever process runs it. A worker ends with its parent.

The merge (:mod:`jobs.merge.job`, local engine) and the offline evaluation
(:mod:`jobs.evaluate`) set :func:`pool_runner` as their inputs' engine when
``merge.workers`` (0: every core this process may use) comes to two or more; with one
block, or where processes cannot be forked, the blocks run in the caller's process.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from jobs.config import MergeConf
from jobs.recsys.inputs import Inputs
from jobs.recsys.items import Items
from jobs.recsys.playlists import block_size, listener_arguments, playlists, recommend_listeners, select_users
from jobs.recsys.ranking import Pick, Playlists
from schemas.columns import USER_ID

_WORK: tuple | None = None  # (arguments, items, blend, als_reg, options_share), set before the workers fork
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends


class WorkerDiedError(RuntimeError):
    """A worker process of the pool ended without its block's picks (killed: memory, a signal)."""


def pool_runner(workers: int, block: int | None = None) -> Callable[..., Playlists]:
    """A ``playlists`` function that runs its listeners' blocks on ``workers`` processes (:func:`pooled_playlists`)."""

    def run(inputs: Inputs, blend: MergeConf, user_ids: list[str] | None, options_share: float | None) -> Playlists:
        return pooled_playlists(inputs, blend, user_ids, options_share, workers, block)

    return run


def pooled_playlists(
    inputs: Inputs,
    blend: MergeConf,
    user_ids: list[str] | None = None,
    options_share: float | None = None,
    workers: int = 2,
    block: int | None = None,
) -> Playlists:
    """:func:`jobs.recsys.playlists.playlists` with its blocks (``block`` listeners each; default
    :func:`~jobs.recsys.playlists.block_size`) on ``workers`` forked processes: the same picks."""
    global _WORK
    users = select_users(inputs, user_ids)
    block = block or block_size(inputs.items)
    bounds = [(start, min(start + block, len(users))) for start in range(0, len(users), block)]
    if workers < 2 or len(bounds) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return playlists(replace(inputs, engine=None), blend, user_ids, options_share, block)
    warm_caches(inputs.items, blend)
    _WORK = (listener_arguments(inputs, users), inputs.items, blend, inputs.als_reg, options_share)
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            min(workers, len(bounds)), mp_context=ctx, initializer=_end_with_parent, initargs=(os.getpid(),)
        ) as pool:
            lists = [picks for part in pool.map(_block, bounds) for picks in part]
    except BrokenProcessPool as exc:
        raise WorkerDiedError(
            f"a merge worker process died ({exc}); with less memory per process, set merge.workers: 1"
        ) from exc
    finally:
        _WORK = None
    return dict(zip(users[USER_ID].tolist(), lists, strict=True))


def warm_caches(items: Items, blend: MergeConf) -> None:
    """Fill the catalog's cached properties in the parent, so no worker builds its own copy."""
    _ = (items.normed, items.gram, items.prior_top, items.popularity_order, items.items_by_artist)
    if int(items.cold().sum()) > blend.annoy_min_cold:
        _ = items.cold_index


def _end_with_parent(parent: int) -> None:
    """A worker gets SIGKILL when the process that forked it ends (Linux), so a parent killed for
    memory leaves no worker behind holding its copy-on-write pages."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(1)


def _block(bounds: tuple[int, int]) -> list[list[Pick]]:
    arguments, items, blend, als_reg, options_share = _WORK  # type: ignore[misc]
    start, stop = bounds
    return recommend_listeners(arguments[start:stop], items, blend, als_reg, options_share)


def workers_of(configured: int, cores: int | None = None) -> int:
    """``merge.workers``, with 0 meaning every core this process may run on (``cores``; default: its CPU
    affinity, which a container's CPU set limits, else ``os.cpu_count()``)."""
    if configured:
        return configured
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, int(cores or 1))
