"""Taste vectors: a Keras GRU predicts each listener's next song vector from their last n songs.

``--week W`` reads ``song_vectors`` (``week=W``) and every play before ``W``'s cutoff. Each
listener's listens (skips are not listens) of songs with a vector, in time order, give
(previous up to ``sequence.history`` songs, next song) pairs
(:mod:`jobs.sequence.taste`).

* **Evaluation** (``sequence.evaluate``): an RNN trained only on next songs played before
  the last ``sequence.holdout_days`` days predicts the held-out next songs of those days;
  the hit rate is the share whose true song is among the ``sequence.eval_k`` songs nearest
  the prediction (exact cosine search over all song vectors), beside three references
  (the mean of the history's vectors, the last song's nearest neighbours, the k most
  listened songs), each with a 95% interval resampling listeners and the RNN's paired
  difference to each.
* **Taste vectors**: an RNN trained on all pairs (the most recent ``sequence.max_pairs``)
  predicts, for every listener active in the ALS window (``als.window_weeks``) with at
  least one listen of a song with a vector, the next song's vector from their latest n
  listens.

Writes ``taste_vectors/week=W/`` (user_id, vector, recent: the songs it was predicted
from) and ``run_metrics/week=W/taste_vectors.json`` (listens; pairs built, only those the
two trainings can use: from the ``max_pairs``-th most recent one before the held-out days
on; training histories, the evaluation, listeners with and without a vector, seconds).
Seeded: a rerun gives the same vectors.

With ``sequence.engine: spark`` the plays are cut into sessions on Spark and only the listens of
songs with a vector reach this process (:mod:`jobs.sequence.spark_engine`; the same listens).

A skip, not a failure, when there is too little to learn from: the song vectors were
skipped (their metrics say why) or there are fewer than ``sequence.min_sequences`` pairs;
the week's earlier ``taste_vectors`` partition is then removed and the merge runs without
the ``sequence`` source. Runs as its own process (the DAG starts it with bash), so the
Airflow worker never imports TensorFlow.

Run alone::

    python -m jobs.taste_vectors --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.evaluation.metrics import as_matrix
from jobs.recsys.items import rotation_between
from jobs.runtime.cli import skipped, week_job, with_spark
from jobs.sequence.sessions import cut_sessions
from jobs.sequence.taste import (
    hit_rates,
    listen_sequences,
    make_pairs,
    rnn_weights,
    target_rows,
    taste_vectors,
    train_rnn,
    turned_weights,
    unit,
)
from jobs.warehouse.store import Warehouse, active_listeners
from jobs.warehouse.weeks import cutoff, shift
from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID, VECTOR

log = logging.getLogger("taste_vectors")


def subset(pairs: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[mask] for name, values in pairs.items()}


def oldest_needed(listens: pd.DataFrame, before: dt.datetime, conf: Any) -> pd.Timestamp | None:
    """The start of the ``max_pairs``-th most recent listen before ``before``: no pair older than that is trained
    on (both RNNs take the most recent ``max_pairs``), so none is built; ``None`` when all are needed."""
    times = pd.to_datetime(listens[PLAYED_AT], utc=True)[target_rows(listens, conf.new_songs_only)]
    earlier = times[times < pd.Timestamp(before)]
    return earlier.nlargest(conf.max_pairs + 1).min() if len(earlier) > conf.max_pairs + 1 else None


def evaluate(
    vectors: np.ndarray, pairs: dict[str, np.ndarray], listens: pd.DataFrame, split: dt.datetime, config: Config
) -> dict[str, Any]:
    """Train on next songs before ``split``, score the hit rate on those from ``split`` on (see the module doc)."""
    conf = config.sequence
    when = pd.to_datetime(pairs["time"], utc=True)
    before = np.asarray(when < pd.Timestamp(split))
    train, held = subset(pairs, before), subset(pairs, ~before)
    if len(train["y"]) < conf.min_sequences or len(held["y"]) == 0:
        return {"skipped": f"{len(train['y'])} pairs before and {len(held['y'])} in the held-out days"}
    if len(held["y"]) > conf.max_pairs:  # a seeded sample keeps the exact search affordable
        rows = np.sort(np.random.default_rng(conf.seed).permutation(len(held["y"]))[: conf.max_pairs])
        held = subset(held, np.isin(np.arange(len(held["y"])), rows))
    model, history = train_rnn(vectors, train, conf)
    early = listens[pd.to_datetime(listens[PLAYED_AT], utc=True) < pd.Timestamp(split)]
    popular = early.groupby("song").size().reset_index(name="n").sort_values(["n", "song"], ascending=[False, True])
    result = hit_rates(model, vectors, held, popular["song"].to_numpy()[: conf.eval_k], conf.eval_k)
    return {"holdout_from": split.isoformat(), "training": history, **result}


MODEL = "taste_rnn"  # models/taste_rnn/week=W: weights.npz, info.json


def save_weights(wh: Warehouse, week: str, weights: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """The week's RNN weights (the next week's warm start), published atomically."""
    with wh.staged(wh.model_dir(MODEL, week)) as stage:
        np.savez(stage / "weights.npz", **weights)
        (stage / "info.json").write_text(json.dumps(info, indent=2) + "\n")


def previous_weights(
    config: Config, week: str, songs: pd.DataFrame
) -> tuple[dict[str, np.ndarray] | None, dict[str, Any]]:
    """The warm start: the newest earlier week's RNN weights, turned onto this week's song vector axes.

    ``(None, {"full_training": why})`` when ``sequence.warm_start`` is off, no earlier week
    has weights, their shapes differ (another ``dimension``, ``units``), the chain of warm
    starts began ``sequence.full_retrain_weeks`` or more weeks ago, or that week's song
    vectors are gone. The turn is the orthogonal Procrustes map of that week's unit song
    vectors onto this week's over their shared songs (each word2vec fit has its own axes).
    """
    conf = config.sequence
    if not conf.warm_start:
        return None, {"full_training": "sequence.warm_start is false"}
    wh = Warehouse(config.paths.warehouse)
    earlier = wh.weeks(f"models/{MODEL}", before=week)
    if not earlier:
        return None, {"full_training": "no earlier week has RNN weights"}
    w = earlier[-1]
    folder = wh.model_dir(MODEL, w)
    try:
        info = json.loads((folder / "info.json").read_text())
        with np.load(folder / "weights.npz") as z:
            weights = {k: z[k] for k in z.files}
        before = wh.read("song_vectors", w)
    except (OSError, ValueError, KeyError) as exc:
        return None, {"full_training": f"the RNN weights of {w} cannot be read ({exc})"}
    dim = as_matrix(songs[VECTOR]).shape[1]
    if weights["gru_kernel"].shape != (dim, 3 * conf.units) or weights["out_kernel"].shape != (conf.units, dim):
        return None, {"full_training": f"the RNN of {w} has other shapes (dimension, units)"}
    full = info.get("full_train_week", w)
    if full <= shift(week, -conf.full_retrain_weeks):
        return None, {"full_training": f"scheduled full retrain: the chain of warm starts began in {full}"}
    rotation = rotation_between(before, songs, unit)
    log.info("warm start from the RNN of %s (full training in %s)", w, full)
    return turned_weights(weights, rotation), {"from_week": w, "full_train_week": full}


def listens_of(config: Config, wh: Warehouse, cut: dt.datetime, song_ids: list[str]) -> tuple[pd.DataFrame, set[str]]:
    """The listens of songs with a vector before ``cut``, in order, and the listeners active in the ALS window.

    In this process, or on Spark with ``sequence.engine: spark`` (:mod:`jobs.sequence.spark_engine`,
    the same values).
    """
    conf, min_ms, weeks = config.sequence, config.als.min_ms_played, config.als.window_weeks
    if conf.engine == "spark":
        from jobs.sequence.spark_engine import spark_listens

        return with_spark(
            config,
            "dw-taste-vectors",
            lambda spark: spark_listens(wh.spark_plays_before(spark, cut), min_ms, song_ids, cut, weeks),
        )
    plays = wh.plays_before(cut, columns=(USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED))
    sessions = cut_sessions(plays, conf.session_gap_minutes, min_ms)
    return listen_sequences(sessions, song_ids), active_listeners(plays, cut, weeks)


def run(config: Config, week: str) -> dict[str, Any]:
    conf = config.sequence
    wh = Warehouse(config.paths.warehouse)
    upstream = wh.metrics_file("song_vectors", week)
    reason = json.loads(upstream.read_text()).get("skipped") if upstream.exists() else None
    if reason:
        return skipped(
            wh,
            week,
            f"song_vectors skipped: {reason}",
            [wh.partition("taste_vectors", week), wh.model_dir(MODEL, week)],
        )
    made_from = {"song_vectors": wh.digest("song_vectors", week)}  # before the read: a rewrite since shows
    songs = wh.read("song_vectors", week)
    song_ids = songs[TRACK_ID].tolist()
    vectors = as_matrix(songs[VECTOR])
    cut = cutoff(week)
    listens, active = listens_of(config, wh, cut, song_ids)
    split = cut - dt.timedelta(days=conf.holdout_days)
    since = oldest_needed(listens, split if conf.evaluate else cut, conf)
    pairs = make_pairs(listens, conf.history, since=since, new_only=conf.new_songs_only)
    if len(pairs["y"]) < conf.min_sequences:
        return skipped(
            wh,
            week,
            f"only {len(pairs['y'])} (history, next song) pairs; need {conf.min_sequences}",
            [wh.partition("taste_vectors", week), wh.model_dir(MODEL, week)],
        )
    metrics: dict[str, Any] = {
        "week": week,
        "engine": conf.engine,
        "listens": len(listens),
        "pairs": len(pairs["y"]),
        "songs": len(song_ids),
    }
    if conf.evaluate:
        metrics["evaluation"] = evaluate(vectors, pairs, listens, split, config)
    init, warm = previous_weights(config, week, songs)
    model, history = train_rnn(vectors, pairs, conf, init)
    save_weights(wh, week, rnn_weights(model), {"full_train_week": warm.get("full_train_week", week), **warm})
    frame = taste_vectors(model, listens, active, conf.history, song_ids)
    wh.write("taste_vectors", week, frame, made_from=made_from)
    metrics.update(
        {"training": history, "warm_start": warm, "listeners_active": len(active), "taste_vectors": len(frame)}
        | {"active_without_history": len(active) - len(frame)}
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return week_job(
        "taste_vectors",
        "Train the taste RNN on listening histories and write each active listener's taste vector.",
        lambda config, week, _: run(config, week),
        argv,
        metrics="taste_vectors",
    )


if __name__ == "__main__":
    sys.exit(main())
