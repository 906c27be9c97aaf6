"""The merge's playlists on every core of one machine (``merge.workers``): blocks of listeners in forked processes.

Reads and writes nothing: it takes the week's :class:`~jobs.recsys.inputs.Inputs` (read by
the merge job) and returns the same ``Playlists`` as
:func:`jobs.recsys.playlists.playlists`. The listeners are cut into the same blocks
(:func:`~jobs.recsys.playlists.block_size`); each block goes through the same pure
:func:`~jobs.recsys.playlists.recommend_listeners` in one of ``workers`` processes forked
from the merge's, so they share its inputs (copy on write) and only the picks travel
back, in block order. A listener's picks are, bit for bit, the ones the merge's own process would
compute (``tests/unit/recsys/test_merge_pool.py``): every block runs BLAS on one thread
whichever process runs it.

Used by :mod:`jobs.merge.job` for the local engine when ``merge.workers`` (0: every core)
comes to two or more and the week has two or more blocks; with one block, or where
processes cannot be forked, the blocks run in the merge's process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

from jobs.config import MergeConf
from jobs.recsys.inputs import Inputs
from jobs.recsys.playlists import block_size, listener_arguments, playlists, recommend_listeners, select_users
from jobs.recsys.ranking import Pick, Playlists
from schemas.columns import USER_ID

_WORK: tuple | None = None  # (arguments, items, blend, als_reg, options_share), set before the workers fork


class WorkerDiedError(RuntimeError):
    """A worker process of the merge's pool ended without its block's picks (killed: memory, a signal)."""


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
    _WORK = (listener_arguments(inputs, users), inputs.items, blend, inputs.als_reg, options_share)
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            min(workers, len(bounds)),
            mp_context=ctx,
        ) as pool:
            lists = [picks for part in pool.map(_block, bounds) for picks in part]
    except BrokenProcessPool as exc:
        raise WorkerDiedError(
            f"a merge worker process died ({exc}); with less memory per process, set merge.workers: 1"
        ) from exc
    finally:
        _WORK = None
    return dict(zip(users[USER_ID].tolist(), lists, strict=True))


def _block(bounds: tuple[int, int]) -> list[list[Pick]]:
    arguments, items, blend, als_reg, options_share = _WORK  # type: ignore[misc]
    start, stop = bounds
    return recommend_listeners(arguments[start:stop], items, blend, als_reg, options_share)


def workers_of(configured: int, cores: Any) -> int:
    """``merge.workers``, with 0 meaning every core (``cores``: ``os.cpu_count()``, which may be ``None``)."""
    return configured or int(cores or 1)
