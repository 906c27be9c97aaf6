"""The sequence steps on Spark (``sequence.engine: spark``): sessions cut where the plays are.

:mod:`jobs.sequence.sessions` cuts the sessions in pandas, so ``song_vectors`` and
``taste_vectors`` read every play before the cutoff into one process. Here the same cut runs
on a Spark DataFrame of those plays (:meth:`jobs.warehouse.store.Warehouse.spark_plays_before`):
a window per listener ordered by start time and track id; a play starts a session when it is
the listener's first or the pause since the previous play ended is longer than the gap. Only
what the one-process parts need comes back to the driver:

* :func:`spark_session_documents` (``song_vectors``): the session counts, the top N listened
  songs and the documents (each session's listens among them, in order, 2 songs or more);
  gensim's word2vec then trains on the driver, as with the local engine;
* :func:`spark_listens` (``taste_vectors``): the listens of songs with a vector, in order, and
  the listeners active in the ALS window; the RNN trains and predicts on the driver.

Both give the local engine's values in the local engine's order (tests/unit/sequence/
test_sequence_spark.py compares them on edge cases and through both jobs), so the song and
taste vectors are the same. Reads and writes nothing itself; the session is the caller's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from schemas.columns import MS_PLAYED, PLAYED_AT, POSITION, TRACK_ID, USER_ID

SESSION = "session"  # per listener, 0, 1, ... in time order
START_US, END_US = "_start_us", "_end_us"


def spark_sessions(plays: Any, gap_minutes: float, min_ms_played: int) -> Any:
    """:func:`jobs.sequence.sessions.cut_sessions` on Spark: ``plays`` with ``session``, ``position``, ``skipped``.

    ``session`` counts per listener (the local engine numbers them over all listeners in the
    same order: listener, then time), ``position`` from 0 within the session, skips included.
    A pause of exactly the gap does not split (microseconds, as the table stores them).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_time = Window.partitionBy(USER_ID).orderBy(START_US, TRACK_ID)
    start = F.unix_micros(F.col(PLAYED_AT))
    timed = plays.select(USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED).withColumns(
        {START_US: start, END_US: start + F.col(MS_PLAYED).cast("long") * 1000}
    )
    pause = F.col(START_US) - F.lag(END_US).over(by_time)
    new = F.when(pause.isNull() | (pause > F.lit(float(gap_minutes) * 60e6)), 1).otherwise(0)
    running = by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    cut = timed.withColumn(SESSION, F.sum(new).over(running) - 1)
    in_session = Window.partitionBy(USER_ID, SESSION).orderBy(START_US, TRACK_ID)
    return cut.withColumns(
        {POSITION: F.row_number().over(in_session) - 1, "skipped": F.col(MS_PLAYED) < F.lit(min_ms_played)}
    )


def spark_session_documents(
    plays: Any, gap_minutes: float, min_ms_played: int, top_n: int
) -> tuple[dict[str, float], list[str], list[list[str]]]:
    """What ``song_vectors`` takes from the plays: (:func:`~jobs.sequence.sessions.session_stats`,
    :func:`~jobs.sequence.sessions.top_tracks` of the listens, :func:`~jobs.sequence.sessions.session_documents`)."""
    from pyspark.sql import functions as F

    sessions = spark_sessions(plays, gap_minutes, min_ms_played).cache()
    try:
        counts = sessions.agg(
            F.countDistinct(USER_ID, SESSION).alias("sessions"),
            F.sum(F.when(~F.col("skipped"), 1).otherwise(0)).alias("listens"),
            F.sum(F.when(F.col("skipped"), 1).otherwise(0)).alias("skips"),
        ).first()
        n, listens = int(counts["sessions"] or 0), int(counts["listens"] or 0)
        stats = {
            "sessions": n,
            "listens": listens,
            "skips": int(counts["skips"] or 0),
            "listens_per_session": round(listens / n, 2) if n else 0.0,
        }
        heard = sessions.filter(~F.col("skipped"))
        top = heard.groupBy(TRACK_ID).count().orderBy(F.col("count").desc(), F.col(TRACK_ID)).limit(top_n)
        keep = [r[TRACK_ID] for r in top.collect()]
        docs = (
            heard.filter(F.col(TRACK_ID).isin(keep))
            .groupBy(USER_ID, SESSION)
            .agg(F.sort_array(F.collect_list(F.struct(POSITION, TRACK_ID))).alias("songs"))
            .filter(F.size("songs") >= 2)
            .orderBy(USER_ID, SESSION)
            .select(F.col(f"songs.{TRACK_ID}").alias("doc"))
        )
        return stats, keep, [list(r["doc"]) for r in docs.toLocalIterator()]
    finally:
        sessions.unpersist()


def spark_listens(
    plays: Any, min_ms_played: int, song_ids: list[str], cut: dt.datetime, window_weeks: int
) -> tuple[pd.DataFrame, set[str]]:
    """What ``taste_vectors`` takes from the plays: :func:`~jobs.sequence.taste.listen_sequences` (user_id,
    played_at, song: the 1-based row of ``song_ids``) and :func:`~jobs.warehouse.store.active_listeners`.

    The listens need no session boundaries: a play is a listen when it is not a skip.
    """
    from pyspark.sql import functions as F

    spark = plays.sparkSession
    songs = spark.createDataFrame(
        pd.DataFrame({TRACK_ID: pd.Series(song_ids, dtype=object), "song": np.arange(1, len(song_ids) + 1)})
    )
    listens = (
        plays.filter(F.col(MS_PLAYED) >= F.lit(min_ms_played))
        .withColumn(START_US, F.unix_micros(F.col(PLAYED_AT)))
        .join(F.broadcast(songs), TRACK_ID)
        .orderBy(USER_ID, START_US, TRACK_ID)
        .select(USER_ID, START_US, F.col("song").cast("long").alias("song"))
        .toPandas()
    )
    played_at = pd.to_datetime(listens[START_US].astype("int64"), unit="us", utc=True)
    out = pd.DataFrame({USER_ID: listens[USER_ID].astype(object), PLAYED_AT: played_at, "song": listens["song"]})
    since = cut - dt.timedelta(weeks=window_weeks)
    active = plays.filter((F.col(PLAYED_AT) >= F.lit(since)) & (F.col(PLAYED_AT) < F.lit(cut))).select(USER_ID)
    return out.astype({"song": np.int64}), {r[USER_ID] for r in active.distinct().collect()}
