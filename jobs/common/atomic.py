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
import json
import os
import shutil
import uuid
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


def staging_dir(target: Path) -> Path:
    """A fresh, empty, hidden directory beside ``target`` to write into."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f"_staging-{target.name}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def _exchange(a: Path, b: Path) -> bool:
    if _LIBC is None:
        return False
    res = _LIBC.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return res == 0


def publish_dir(staged: Path, target: Path) -> None:
    """Move the finished directory ``staged`` to ``target``, replacing any old one atomically."""
    staged, target = Path(staged), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.rename(staged, target)
        return
    if _exchange(staged, target):
        shutil.rmtree(staged)  # `staged` now holds the old contents
        return
    old = target.parent / f"_old-{target.name}-{uuid.uuid4().hex[:12]}"
    os.rename(target, old)
    os.rename(staged, target)
    shutil.rmtree(old)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small text file so readers never see it half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def clean_stale_staging(parent: Path) -> int:
    """Remove staging leftovers of killed writers under ``parent``; returns how many."""
    parent = Path(parent)
    if not parent.exists():
        return 0
    stale = [p for p in parent.iterdir() if p.name.startswith(("_staging-", "_old-"))]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)
