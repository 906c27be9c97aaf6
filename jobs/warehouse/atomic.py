"""Atomic publication of files and directories on a local (POSIX) file system.

Writers produce their output in a hidden staging directory next to the target (names
starting with ``_`` are ignored by Spark, pyarrow and DuckDB globs) and then call
:func:`publish_dir`, which swaps it into place. On Linux the swap is one
``renameat2(RENAME_EXCHANGE)`` call, so a reader sees either the whole old partition
or the whole new one, never a mix and never a gap; elsewhere it falls back to two
renames (a reader may then briefly see no partition, but never a partial one).

Object stores (S3, GCS) have no rename: there, publish by writing a new versioned
prefix and flipping a pointer instead (see ARCHITECTURE.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _libc() -> Any | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc if hasattr(libc, "renameat2") else None
    except OSError:
        return None


_LIBC = _libc()


def _hidden(name: str) -> str:
    """``week=2026-W47`` -> ``week~2026-W47``: a helper folder's name must not hold ``=``.

    Spark skips ``_``-names only when they hold no ``=`` (one that does is read as a
    partition folder), so staging and moved-aside folders spell ``=`` as ``~``.
    """
    return name.replace("=", "~")


def staging_dir(target: Path) -> Path:
    """A fresh, empty, hidden directory beside ``target`` to write into."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f"_staging-{_hidden(target.name)}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def exchange(a: Path, b: Path) -> bool:
    if _LIBC is None:
        return False
    res = _LIBC.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return res == 0


def publish_dir(staged: Path, target: Path) -> None:
    """Move the finished directory ``staged`` to ``target``, replacing any old one atomically.

    ``staged`` must exist: it is checked before the live ``target`` is touched, so a
    missing replacement can never leave the table without its partition. On the fallback
    path (no ``renameat2``) a failed second rename puts the old partition back.
    """
    staged, target = Path(staged), Path(target)
    if not staged.is_dir():
        raise FileNotFoundError(f"{staged}: nothing to publish as {target} (the staged folder is missing)")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.rename(staged, target)
        return
    if exchange(staged, target):
        shutil.rmtree(staged, ignore_errors=True)  # `staged` now holds the old contents
        return
    old = target.parent / f"_old-{_hidden(target.name)}-{uuid.uuid4().hex[:12]}"
    os.rename(target, old)
    try:
        os.rename(staged, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small text file so readers never see it half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves neither a half file nor a stray temp
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def clean_stale_staging(parent: Path) -> int:
    """Tidy the leftovers of killed writers under ``parent``; returns how many were handled.

    ``_staging-*`` folders are unfinished output and are removed. An ``_old-<name>-<id>``
    folder is a live partition that a fallback publish moved aside: when ``<name>`` is
    missing (the writer died between its two renames) it is put back, never deleted.
    """
    parent = Path(parent)
    if not parent.exists():
        return 0
    handled = 0
    for p in sorted(parent.iterdir()):
        if p.name.startswith("_staging-"):
            shutil.rmtree(p, ignore_errors=True)
            handled += 1
        elif p.name.startswith("_old-"):
            live = parent / p.name[len("_old-") :].rsplit("-", 1)[0].replace("~", "=")
            if live.exists():
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.rename(p, live)
            handled += 1
    return handled


def _litter_names(name: str) -> list[str]:
    """The hidden target names a ``_staging-<hidden>-<id>`` folder may belong to: ``<hidden>``, and
    for ``_staging-discarded-<hidden>-<id>`` (:func:`discard_dir`'s trash) also ``<hidden>`` without
    the prefix. Empty when the name does not parse."""
    if not name.startswith("_staging-"):
        return []
    head, _, tail = name[len("_staging-") :].rpartition("-")
    if not head or len(tail) != 12 or any(c not in "0123456789abcdef" for c in tail):
        return []
    return [head] + ([head[len("discarded-") :]] if head.startswith("discarded-") and len(head) > 10 else [])


def sweep_dead_writers(target: Path) -> int:
    """Remove the ``_staging-*`` folders beside ``target`` whose writers are gone; returns how many.

    Called by a writer that holds ``target``'s lock, after it published. A staging folder
    names its target hidden (``=`` spelled ``~``), so it may belong to any target beside it
    whose hidden name matches (``a=b`` and ``a~b`` share one): it is litter only when every
    such target's writer is gone: ``target`` itself (we hold its lock), or one whose lock
    file exists and can be taken now (the kernel frees a dead process's lock). A folder
    that may be a live writer's, or a writer's that takes no lock (no lock file), stays.
    """
    target = Path(target)
    parent = target.parent
    locks: dict[str, list[str]] = {}
    for lock in parent.glob(".lock-*"):
        name = lock.name[len(".lock-") :]
        locks.setdefault(_hidden(name), []).append(name)
    removed = 0
    for p in sorted(parent.glob("_staging-*")):
        hidden = _litter_names(p.name)
        owners = sorted(
            {n for h in hidden for n in locks.get(h, [])} | ({target.name} if _hidden(target.name) in hidden else set())
        )
        if not owners or not p.is_dir():
            continue
        if all(name == target.name or _lock_is_free(parent / f".lock-{name}") for name in owners):
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed


def _lock_is_free(lock: Path) -> bool:
    """Whether nobody holds ``lock`` (a lock file): taken and released at once; a lock that is not a
    regular file counts as held."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # releases it


class LockTimeoutError(RuntimeError):
    """Another writer holds the lock of the output this one wants to publish."""


@contextmanager
def exclusive_lock(lock_file: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if missing) for the block.

    Waits up to ``timeout`` seconds for another holder, then raises
    :class:`LockTimeoutError` naming ``what`` and the holder's pid. The kernel drops the
    lock when its process dies, so a killed writer never leaves the output locked.
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise LockTimeoutError(
                        f"{what} is being written by another run (pid {holder}, lock {lock_file}); "
                        f"waited {timeout:g} s. Wait for it to finish, then rerun."
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# How long a writer waits for another writer of the same output before it gives up.
LOCK_TIMEOUT_S = 600.0


def lock_file(target: Path) -> Path:
    """The lock file of ``target``: ``.lock-<name>`` beside it (every reader skips ``.`` names)."""
    return Path(target).parent / f".lock-{Path(target).name}"


def discard_dir(folder: Path) -> None:
    """Remove ``folder`` so that it is gone at once: one rename out of the way, then the delete.

    A delete interrupted half-way leaves a ``_staging-*`` folder (cleaned later), never a
    half-emptied ``folder`` that a retry could mistake for a whole one.
    """
    folder = Path(folder)
    if not folder.exists():
        return
    trash = folder.parent / f"_staging-discarded-{_hidden(folder.name)}-{uuid.uuid4().hex[:12]}"
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


@contextmanager
def staged(target: Path, lock_timeout: float = LOCK_TIMEOUT_S, lock: bool = True) -> Iterator[Path]:
    """Write into the yielded folder; it replaces ``target`` atomically when the block succeeds.

    One writer at a time per target (a lock file ``.lock-<name>`` beside it): a second one
    waits up to ``lock_timeout`` seconds and then fails naming the holder. ``lock=False``
    leaves no lock file (for a folder of the user's own, e.g. an import's destination). On
    an error the staged folder is removed and the old ``target`` (if any) is untouched.
    After a locked publish, the staging folders that killed writers left beside ``target``
    are removed (:func:`sweep_dead_writers`).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(lock_file(target), lock_timeout, str(target)) if lock else nullcontext():
        stage = staging_dir(target)
        try:
            yield stage
            publish_dir(stage, target)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        if lock:
            sweep_dead_writers(target)
