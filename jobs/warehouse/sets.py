"""Sets of partitions published as one: the all-or-none swap, and the fit stamp each partition carries.

A set is several tables that one job computes together and that are only meaningful
together: ALS's ``play_counts``, ``user_factors``, ``item_factors`` and ``als_metrics``
of one fit. :meth:`jobs.warehouse.store.Warehouse.publish_set` stages all of a set's
partitions, stamps each with the fit (``_fit.json``: the set, a fresh ``fit_id``, the run
id, the rank and the partition's row count), swaps them in together with
:func:`staged_together` and writes the set's manifest
(``<set>/week=W/manifest.json``) last; tables computed from a set (:data:`DERIVED`) carry
the stamp of the fit they came from. Readers check stamps against the manifest
(:meth:`~jobs.warehouse.store.Warehouse.check_fit`). This module is the file-level part:
the file names and the swaps; it knows no table's contents (the sets are declared on the
contracts, :data:`schemas.tables.SETS`).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from jobs.warehouse.atomic import (
    LOCK_TIMEOUT_S,
    exchange,
    exclusive_lock,
    lock_file,
    staging_dir,
    sweep_dead_writers,
    write_json_atomic,
)
from schemas.tables import DERIVED, SETS

# The sets and the tables derived from them are declared on the contracts (schemas.tables).
SET_OF: dict[str, str] = {t: s for s, tables in SETS.items() for t in tables} | DERIVED
FIT_FILE = "_fit.json"  # in each partition of a set or derived from one (readers skip "_" names)
MANIFEST = "manifest.json"  # <set>/week=W/manifest.json: the fit and each table's row count, written last


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or ``None`` when there is no such file."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def write_stamp(folder: Path, fit: dict[str, Any], rows: int) -> None:
    """``folder/_fit.json``: the fit (without a manifest's per-table counts) and the partition's ``rows``."""
    stamp = {k: v for k, v in fit.items() if k not in ("tables", "rows")}
    write_json_atomic(Path(folder) / FIT_FILE, {**stamp, "rows": rows})


@contextmanager
def staged_together(
    targets: Sequence[Path], last: Callable[[], None] | None = None, lock_timeout: float = LOCK_TIMEOUT_S
) -> Iterator[list[Path]]:
    """:func:`jobs.warehouse.atomic.staged` for several folders published as one: all of them, or none.

    Takes every target's lock (in sorted order, so two such writers cannot deadlock) and
    yields one staging folder per target. When the block succeeds the folders are swapped
    in one by one (each swap atomic, the old folder kept aside) and then ``last`` runs (a
    set's manifest: the commit point); when a swap or ``last`` fails, the folders swapped
    so far are swapped back, so every old folder stays; on any failure nothing new is
    left. A reader that looks during the swaps may see some new and some old: a set's
    readers tell by the fit stamps. A writer killed during the swaps leaves such a mix,
    which readers refuse until a rerun.
    """
    targets = [Path(t) for t in targets]
    if len(set(targets)) != len(targets):
        raise ValueError(f"targets named twice: {sorted({str(t) for t in targets if targets.count(t) > 1})}")
    with ExitStack() as locks:
        for target in sorted(set(targets)):
            locks.enter_context(exclusive_lock(lock_file(target), lock_timeout, str(target)))
        stages = [staging_dir(t) for t in targets]
        try:
            yield stages
            swapped: list[tuple[Path, Path, bool]] = []
            try:
                for stage, target in zip(stages, targets, strict=True):
                    existed = target.exists()
                    _swap(stage, target, existed)  # a failed swap leaves both folders as they were
                    swapped.append((stage, target, existed))
                if last is not None:
                    last()
            except BaseException:
                for stage, target, existed in reversed(swapped):
                    _swap(target, stage, existed)
                raise
        finally:
            for stage in stages:  # unused, or holding the old folder after a swap
                shutil.rmtree(stage, ignore_errors=True)
        for target in targets:
            sweep_dead_writers(target)


def _swap(src: Path, dst: Path, both: bool) -> None:
    """Exchange folders ``src`` and ``dst`` (or, when not ``both``, move ``src`` to ``dst``, if there).

    Called with the arguments reversed it undoes itself. The exchange is one
    ``renameat2(RENAME_EXCHANGE)``; without it, three renames (a reader may briefly find
    no folder at ``dst``, as with :func:`jobs.warehouse.atomic.publish_dir`'s fallback).
    """
    if not both:
        if src.exists():
            os.rename(src, dst)
        return
    if exchange(src, dst):
        return
    aside = dst.parent / f"_old-{dst.name.replace('=', '~')}-{uuid.uuid4().hex[:12]}"  # as publish_dir's fallback
    os.rename(dst, aside)
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(aside, dst)
        raise
    os.rename(aside, src)
