"""Clips through Spark (``audio.engine: spark``): :func:`~jobs.audio.workers.process_clip` in ``mapInPandas`` on the executors.

Reads the audio files on the executors (every executor must see the data root at the same
path: a shared or object-store-mounted folder); writes only clip cache entries (there too,
when the cache folder is shared). Takes a SparkSession and the tasks the local pool would
take (``(track_id, path, settings dict, cache folder)``, the clips not already in the
cache) and yields the same result dictionaries as :func:`~jobs.audio.workers.process_all`:
one row per clip, repartitioned into ``partitions`` groups, librosa and the estimators
running in the executors' Python workers (one BLAS thread each: Spark already runs a task
per core). A clip that fails is a reject row, as in the pool (``process_clip`` never
raises); a Python worker that dies fails its task and Spark retries it
(``spark.task.maxFailures``) instead of the pool's retry-alone rule.

Used by :mod:`jobs.audio_features` when ``audio.engine`` is ``spark``; the session is the
job's (built at its entry point from ``spark.master``; under spark-submit, the submitted one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from jobs.audio.workers import Task, process_clip
from schemas.columns import REASON, TRACK_ID

SCHEMA = f"{TRACK_ID} string, {REASON} string, mel binary, n_mels int, frames int, attributes string"


def _rows(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    for batch in batches:
        out = []
        for task in batch.itertuples(index=False):
            r = process_clip((task.track_id, task.path, json.loads(task.settings), task.cache))
            if REASON in r:
                out.append((r[TRACK_ID], r[REASON], None, None, None, None))
            else:
                mel = np.ascontiguousarray(r["mel"], dtype="<f2")
                out.append((r[TRACK_ID], None, mel.tobytes(), mel.shape[0], mel.shape[1], json.dumps(r["attributes"])))
        yield pd.DataFrame(out, columns=[TRACK_ID, REASON, "mel", "n_mels", "frames", "attributes"])


def spark_process_all(spark: Any, tasks: list[Task], partitions: int) -> Iterator[dict[str, Any]]:
    """:func:`~jobs.audio.workers.process_clip` of every task on Spark's executors, in track order."""
    if not tasks:
        return
    frame = pd.DataFrame(
        [(t[0], t[1], json.dumps(t[2], sort_keys=True), t[3] if len(t) > 3 else "") for t in tasks],
        columns=[TRACK_ID, "path", "settings", "cache"],
    )
    rows = spark.createDataFrame(frame).repartition(max(1, partitions)).mapInPandas(_rows, SCHEMA).toPandas()
    for r in rows.sort_values(TRACK_ID).itertuples(index=False):
        if isinstance(r.reason, str):
            yield {TRACK_ID: r.track_id, REASON: r.reason}
        else:
            mel = np.frombuffer(r.mel, dtype="<f2").reshape(int(r.n_mels), int(r.frames)).astype(np.float16)
            yield {TRACK_ID: r.track_id, "mel": mel, "attributes": json.loads(r.attributes)}
