"""The merge's playlists as a Spark job (``merge.engine: spark``): blocks of listeners through ``mapInPandas``.

Reads nothing itself: it takes the week's :class:`~jobs.recsys.inputs.Inputs` (read by the
merge job) and a SparkSession, and returns the same ``Playlists`` as
:func:`jobs.recsys.playlists.playlists`. The catalog side (``Items``: every track's
vector, artist, popularity, the blend's settings) is broadcast once; each listener is one
row carrying what is only theirs (their vector, the items they heard, their most-played
items and artists, their sequence candidates and taste clusters), repartitioned into
blocks of ``merge.spark_block`` listeners. On the executors each block goes through the
same pure :func:`~jobs.recsys.playlists.recommend_listeners` as the local engine, so a
listener's tracks, sources and reasons are the same whichever engine ran them, and the
scores up to their last digits: BLAS tiles a product by its rows, and Spark's blocks are
not the local engine's (``tests/integration/test_merge_spark.py`` compares the whole table).

What stays on the driver is what the whole week needs at once: the bandit and the
agent's arms (they call back into this engine for their candidates), the fallback lists,
the exposures log and the metrics. Used by :mod:`jobs.merge.job` when
``merge.engine`` is ``spark``; the session is the job's (built at its entry point from
``spark.master``; under spark-submit, the submitted one).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import MergeConf
from jobs.recsys.inputs import Inputs
from jobs.recsys.playlists import listener_arguments, recommend_listeners, select_users
from jobs.recsys.ranking import Playlists
from schemas.columns import USER_ID

SCHEMA = f"{USER_ID} string, picks binary"


def block_runner(spark: Any, block: int) -> Callable[..., Playlists]:
    """A ``playlists`` function that runs its listeners' blocks on ``spark`` (see :func:`spark_playlists`)."""

    def run(inputs: Inputs, blend: MergeConf, user_ids: list[str] | None, options_share: float | None) -> Playlists:
        return spark_playlists(spark, inputs, blend, user_ids, options_share, block)

    return run


def spark_playlists(
    spark: Any,
    inputs: Inputs,
    blend: MergeConf,
    user_ids: list[str] | None = None,
    options_share: float | None = None,
    block: int = 512,
) -> Playlists:
    """:func:`jobs.recsys.playlists.playlists` computed by Spark: the same picks for the same listeners."""
    users = select_users(inputs, user_ids)
    if not len(users):
        return {}
    ids = users[USER_ID].tolist()
    rows = pd.DataFrame(
        {
            USER_ID: ids,
            "block": np.arange(len(ids)) // max(block, 1),
            "args": [pickle.dumps(a, protocol=pickle.HIGHEST_PROTOCOL) for a in listener_arguments(inputs, users)],
        }
    )
    shared = spark.sparkContext.broadcast(
        pickle.dumps((inputs.items, blend, inputs.als_reg, options_share), protocol=pickle.HIGHEST_PROTOCOL)
    )
    n_blocks = int(rows["block"].max()) + 1
    frame = spark.createDataFrame(rows).repartition(n_blocks, "block")

    def blocks(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        items, conf, reg, share = pickle.loads(shared.value)
        for batch in batches:
            for start in range(0, len(batch), max(block, 1)):  # an Arrow batch may hold several blocks
                part = batch.iloc[start : start + block]
                lists = recommend_listeners([pickle.loads(a) for a in part["args"]], items, conf, reg, share)
                yield pd.DataFrame({USER_ID: part[USER_ID].to_numpy(), "picks": [pickle.dumps(p) for p in lists]})

    out = frame.mapInPandas(blocks, SCHEMA).toPandas()
    shared.unpersist()
    picks = dict(zip(out[USER_ID], out["picks"], strict=True))
    return {u: pickle.loads(picks[u]) for u in ids}
