"""Lineage between a week's tables: which contents of an upstream partition a table was computed from.

Every partition the warehouse writes carries ``_content.json`` (readers skip ``_`` names):
the digest of its data files (sha256 of the Parquet bytes, 16 hex digits; the same rows
written the same way give the same digest) and, for a table with ``made_from`` on its
contract (:data:`schemas.tables.MADE_FROM`), the digest of each upstream partition as it
was read (``null``: the week had no such partition). A reader of such a table compares
them with the upstream partitions as they are now
(:meth:`jobs.warehouse.store.Warehouse.check_lineage`): ``song_vectors`` rerun with
another seed makes last run's ``taste_vectors`` (trained in the old word2vec space)
unreadable until the ``taste_vectors`` job reruns. The ALS set's fit stamps
(:mod:`jobs.warehouse.sets`) do the same for tables computed from one fit.

This module is the file-level part: the digest and the stamp file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from jobs.warehouse.atomic import write_json_atomic
from jobs.warehouse.sets import read_json

CONTENT_FILE = "_content.json"
UNRECORDED = "unrecorded"  # a partition written before digests were recorded


def digest_files(folder: Path) -> str:
    """sha256 over the folder's data files (``*.parquet``, by name), first 16 hex digits."""
    h = hashlib.sha256()
    for f in sorted(Path(folder).glob("*.parquet")):
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def stamp_content(folder: Path, made_from: dict[str, str | None] | None = None) -> str:
    """Write ``_content.json`` into a finished (staged) partition; returns its digest."""
    digest = digest_files(folder)
    write_json_atomic(Path(folder) / CONTENT_FILE, {"digest": digest, "made_from": dict(made_from or {})})
    return digest


class StampError(ValueError):
    """A ``_content.json`` that is not what the warehouse writes; the message names the file."""


def read_content(folder: Path) -> dict[str, Any] | None:
    """The partition's ``_content.json``, or ``None`` (no partition, or written before it was recorded).

    Raises :class:`StampError` naming the file when it is not JSON, or not an object with a
    string ``digest`` and a ``made_from`` mapping (changed by hand or half-copied).
    """
    path = Path(folder) / CONTENT_FILE
    try:
        content = read_json(path)
    except (ValueError, OSError) as exc:
        raise StampError(f"{path}: unreadable ({exc})") from None
    if content is None:
        return None
    if (
        not isinstance(content, dict)
        or not isinstance(content.get("digest"), str)
        or not isinstance(content.get("made_from", {}), dict)
    ):
        raise StampError(f"{path}: not a content stamp (needs a digest and made_from)")
    return content


def current_digest(folder: Path) -> str | None:
    """The digest of the partition as it is now: ``None`` when there is none, :data:`UNRECORDED`
    when it was written before digests were recorded."""
    if not Path(folder).is_dir():
        return None
    content = read_content(folder)
    return content["digest"] if content else UNRECORDED
