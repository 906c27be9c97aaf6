"""Content-addressed caches: values keyed by the hash of what they were computed from, under a code version.

Reads and writes ``<paths.cache>/<kind>/<version>/<hh>/<key><suffix>`` and nothing else.
A job computes a value from some bytes (a clip's file, a page's text) with some code and
settings; the key is the SHA-256 of the bytes and the folder the *version*, a hash of the
settings, the source of the code and the versions of the libraries it calls
(:func:`code_version`). Change any of them and the version changes: everything is
computed again, into a new folder; change the bytes and exactly that value is computed
again.

Entries are written to a temporary file and renamed, so a process killed mid-write
leaves no half entry, and two writers of one entry write the same bytes. An entry that
cannot be read is a miss. A cache changes how long a run takes, never what it writes:
deleting it at any time is safe. Used by :mod:`jobs.audio.cache` (audio features) and
:mod:`jobs.culture.page_cache` (terms per page).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def module_source(module: str) -> bytes:
    """A module's source, read through its loader: from a file, or from the code zip Spark ships to executors."""
    spec = importlib.util.find_spec(module)
    source = spec.loader.get_source(module) if spec is not None and spec.loader is not None else None
    if source is None:
        raise ImportError(f"no source for {module}: its code version cannot be computed")
    return source.encode("utf-8")


def code_version(settings: Any, modules: Iterable[str], libraries: Iterable[str]) -> str:
    """16 hex digits naming the settings (JSON-able), the modules' source and the libraries' installed versions."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for module in modules:
        digest.update(module.encode() + b"\0" + module_source(module))
    for lib in libraries:
        try:
            version = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{lib}=={version}\0".encode())
    return digest.hexdigest()[:16]


class ContentStore:
    """Entries of one version: bytes under a key (a hex hash), each file written atomically."""

    def __init__(self, folder: Path | str, suffix: str):
        self.folder, self.suffix = Path(folder), suffix

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{self.suffix}"

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cache entry %s unreadable (%s); computing it again", self.path(key), exc)
            return None

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; a full or read-only disk slows the next run, it never fails this one."""
        path = self.path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cache entry %s not written (%s)", path, exc)
            tmp.unlink(missing_ok=True)
