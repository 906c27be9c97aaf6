"""The clip cache: one clip's spectrogram and attributes (or its reject reason), stored under its content hash.

Reads and writes ``<paths.cache>/audio/<feature version>/<hh>/<sha256>.npz``; nothing
else. A clip's features depend only on its bytes, the spectrogram settings and the code
that computes them, so the key is the SHA-256 of the file and the folder is the
*feature version*: a hash of the :class:`~jobs.audio.spectrogram.Settings`, the source of
every module that computes a feature (:data:`FEATURE_MODULES`) and the versions of the
libraries that do the signal processing. Change a setting, edit an estimator or upgrade
librosa and the version changes: every clip is computed again, into a new folder. A
changed clip has a new hash, so exactly that clip is computed again.

An entry holds what :func:`jobs.audio.workers.process_clip` returns: the unpadded log-mel
spectrogram (float16, the same bytes) and the attributes row; or the reject reason of a
clip whose rejection follows from its bytes alone (:data:`CACHED_REJECTS`: not
``crashed_worker``, ``timed_out`` or ``failed:...``, which may not happen again). Entries
are written atomically by :class:`jobs.warehouse.cache.ContentStore`; an entry that cannot
be read is a miss (and is computed again). Deleting the cache at any time changes no
output, only the time the next run takes (``tests/unit/audio/test_audio_cache.py``).
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from jobs.audio.spectrogram import Settings
from jobs.warehouse.cache import ContentStore, code_version, sha256_file
from schemas import vocab
from schemas.columns import REASON

log = logging.getLogger("audio_features")

# Every module whose code decides a stored feature: editing one invalidates the cache.
FEATURE_MODULES = ("spectrogram", "attributes", "rhythm", "tonality", "workers")
FEATURE_LIBRARIES = ("librosa", "numpy", "scipy", "soundfile", "pyloudnorm", "soxr")
CACHED_REJECTS = frozenset(
    {vocab.EMPTY_FILE, vocab.UNREADABLE, vocab.CORRUPT, vocab.CORRUPT_NON_FINITE, vocab.TOO_SHORT, vocab.SILENT}
)
content_hash = sha256_file


def feature_version(settings: Settings) -> str:
    """16 hex digits naming everything a clip's features depend on besides its bytes."""
    return code_version(asdict(settings), [f"jobs.audio.{name}" for name in FEATURE_MODULES], FEATURE_LIBRARIES)


class ClipCache:
    """Entries of one feature version: ``get`` a clip's result by content hash, ``put`` one."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.store = ContentStore(self.folder, ".npz")

    @classmethod
    def for_settings(cls, root: Path, settings: Settings) -> ClipCache:
        return cls(Path(root) / "audio" / feature_version(settings))

    def get(self, key: str) -> dict[str, Any] | None:
        """``{"mel", "attributes"}`` or ``{REASON}``; None when absent or unreadable."""
        blob = self.store.read(key)
        if blob is None:
            return None
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if REASON in meta:
                    return {REASON: meta[REASON]}
                return {"mel": z["mel"].astype(np.float16, copy=False), "attributes": meta["attributes"]}
        except Exception as exc:  # noqa: BLE001 - a damaged entry is a miss, computed again
            log.warning("clip cache entry %s unreadable (%s); computing the clip again", self.store.path(key), exc)
            return None

    def put(self, key: str, result: dict[str, Any]) -> None:
        """Store a result (a spectrogram and attributes, or a reject in :data:`CACHED_REJECTS`); others are ignored."""
        if REASON in result:
            if result[REASON] not in CACHED_REJECTS:
                return
            meta: dict[str, Any] = {REASON: result[REASON]}
            arrays: dict[str, np.ndarray] = {}
        else:
            meta = {"attributes": result["attributes"]}
            arrays = {"mel": np.ascontiguousarray(result["mel"], dtype=np.float16)}
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8), **arrays)
        self.store.write(key, buffer.getvalue())
