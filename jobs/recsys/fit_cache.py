"""ALS fits kept under the hash of the ratings they were fitted on: a week fits only ratings it has not fitted.

Each week ALS fits twice: the week's model, and its offline evaluation's model, the same recipe
on the window ending a week earlier (:func:`jobs.recsys.als.holdout_evaluation`). That second
fit is, rating for rating, the fit the week before published, unless plays or saves of that
window changed since. So once week ``W - 1`` ran, week ``W``'s evaluation reads its factors
back instead of fitting again; and a rerun of a week whose steps are not reused (a new
evaluation setting, ``dag.reuse: false``) reads back both fits.

Reads and writes ``<paths.cache>/als/<version>/<hh>/<key>.parquet``
(:class:`jobs.warehouse.cache.ContentStore`) and nothing else:

* the *version* names the settings that shape a fit (rank, iterations, regularisation, alpha,
  seed, blocks, checkpoint interval), the source of the functions of :mod:`jobs.recsys.als` that
  turn ratings into factors (the ratings themselves are the key) and the installed pyspark;
* the *key* is :func:`ratings_key`: the SHA-256 of the number of rated triples, the listeners
  and tracks the fit indexes, and two order-free sums of 64- and 32-bit hashes of each, computed
  by Spark where the ratings are (one pass over the cached ratings);
* an entry is one Parquet file: the user factors, then the item factors, each ``(id, vector)``
  sorted by id, as :func:`jobs.recsys.als.fit_als` returns them.

Spark's ALS gave the same factors, bit for bit, for the same ratings, settings and seed in
every comparison made (local mode: the week's evaluation fit and the fit of the week before, on
the sample world and on a hand-made one, ``tests/unit/recsys/test_fit_cache.py``), so a factor
read back is the factor a fit would give and the tables with the cache and without it are the
same. That is observed, not guaranteed: Spark sums a listener's ratings in the order its shuffles
deliver them, which other partitions, shuffle settings or a cluster's fetch order can change in
the last bits (as in any rerun there); the end-to-end test's recomputation and the bench turn the
cache off so that they fit. Deleting the cache at any time is safe; ``als.cache: false`` turns it
off; nothing is pruned (an entry is (listeners + tracks) x rank x 4 bytes: 39 MB at 10M events).
Nothing to run alone: :mod:`jobs.als` uses it.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.config import AlsConf
from jobs.warehouse.cache import ContentStore, code_version
from schemas.columns import TRACK_ID, USER_ID, VECTOR

log = logging.getLogger(__name__)

Factors = tuple[pd.DataFrame, pd.DataFrame]
FitFn = Callable[[Any, AlsConf, Any], Factors]
SHAPING = ("rank", "max_iter", "reg_param", "alpha", "seed", "num_blocks", "checkpoint_interval")
FITTING = ("fit_als", "fit_model", "index_ids", "factors_of")  # jobs.recsys.als: the ratings to factors
FORMAT = 1  # an entry's layout (encode_factors): a new one reads no entry of the old


def fit_version(conf: AlsConf) -> str:
    """16 hex digits naming what shapes a fit besides its ratings: the settings, the source of the
    functions that fit (:data:`FITTING`; not the rest of :mod:`jobs.recsys.als`, such as the
    evaluation's scoring) and pyspark's version."""
    from jobs.recsys import als

    code = [inspect.getsource(getattr(als, name)) for name in FITTING]
    settings = {"settings": {name: getattr(conf, name) for name in SHAPING}, "code": code, "format": FORMAT}
    return code_version(settings, [], ["pyspark"])


def ratings_key(counts: Any, rated: Any) -> str:
    """SHA-256 (hex) of the ratings ``rated`` (user_id, track_id, rating) and the pairs ``counts``
    (whose listeners and tracks the fit indexes): their sizes and two order-free sums of row hashes."""
    from pyspark.sql import functions as F

    def digest(df: Any, columns: list[str]) -> list[str]:
        row = df.select(
            F.xxhash64(*columns).cast("decimal(38,0)").alias("h64"),
            F.hash(*columns).cast("decimal(38,0)").alias("h32"),
        ).agg(F.count(F.lit(1)).alias("n"), F.sum("h64").alias("h64"), F.sum("h32").alias("h32"))
        n, h64, h32 = row.first()
        return [str(n), str(h64 or 0), str(h32 or 0)]

    parts = digest(rated.select(USER_ID, TRACK_ID, "rating"), [USER_ID, TRACK_ID, "rating"])
    parts += digest(counts.select(USER_ID, TRACK_ID), [USER_ID, TRACK_ID])
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def encode_factors(users: pd.DataFrame, items: pd.DataFrame) -> bytes:
    """One Parquet file: the user rows, then the item rows (``side`` 0 and 1), each ``(id, vector)``."""
    frame = pd.DataFrame(
        {
            "side": [0] * len(users) + [1] * len(items),
            "id": users[USER_ID].tolist() + items[TRACK_ID].tolist(),
            VECTOR: users[VECTOR].tolist() + items[VECTOR].tolist(),
        }
    )
    table = pa.Table.from_pandas(
        frame,
        schema=pa.schema([("side", pa.int8()), ("id", pa.string()), (VECTOR, pa.list_(pa.float32()))]),
        preserve_index=False,
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def decode_factors(blob: bytes) -> Factors:
    """:func:`encode_factors` back: ``(user_id, vector)`` and ``(track_id, vector)`` frames."""
    frame = pq.read_table(io.BytesIO(blob)).to_pandas()
    users = frame[frame["side"] == 0]
    items = frame[frame["side"] == 1]
    return (
        pd.DataFrame({USER_ID: users["id"].to_numpy(), VECTOR: users[VECTOR].to_numpy()}),
        pd.DataFrame({TRACK_ID: items["id"].to_numpy(), VECTOR: items[VECTOR].to_numpy()}),
    )


class CachedFit:
    """``fit(counts, conf, rated)`` through the cache in ``folder`` (None: no cache); ``outcomes`` lists
    ``"hit"``/``"miss"`` per call, in order (the run metrics say which fits were read back)."""

    def __init__(self, fit: FitFn, folder: Path | None):
        self.fit, self.folder = fit, folder
        self.outcomes: list[str] = []

    def __call__(self, counts: Any, conf: AlsConf, rated: Any) -> Factors:
        if self.folder is None:
            return self.fit(counts, conf, rated)
        store = ContentStore(self.folder / fit_version(conf), ".parquet")
        key = ratings_key(counts, rated)
        blob = store.read(key)
        if blob is not None:
            try:
                users, items = decode_factors(blob)
            except (OSError, pa.ArrowException, KeyError) as exc:
                log.warning("ALS fit cache entry %s unreadable (%s); fitting again", store.path(key), exc)
            else:
                self.outcomes.append("hit")
                return users, items
        users, items = self.fit(counts, conf, rated)
        try:
            blob = encode_factors(users, items)
        except (pa.ArrowException, ValueError, TypeError) as exc:  # the fit stands; the next week fits again
            log.warning("ALS fit not stored in the fit cache (%s)", exc)
        else:
            store.write(key, blob)
        self.outcomes.append("miss")
        return users, items
