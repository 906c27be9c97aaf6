"""ALS: implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008) with Spark MLlib.

Reads ``<warehouse>/plays/`` and the week's ``saves`` partition (written by ingest; a
warehouse without it, ingested before saves existed, is read as one without saves) and,
for run week ``W`` with cutoff ``C`` (Monday 00:00 UTC):

1. counts each listener's plays of each track in the window ``[C - window_weeks, C)``
   (plays shorter than ``als.min_ms_played`` are skips and do not count; an optional
   recency decay halves a play's weight every ``decay_half_life_days``);
2. turns counts into ratings ``r = log(1 + weight / eps)`` so that Spark's implicit
   confidence ``c = 1 + alpha * r`` is ``1 + alpha * log(1 + plays / eps)``; a save in the
   window adds ``als.save_weight`` plays to the weight, and a pair with no counted play but
   two or more skips gets the negative rating ``-als.skip_weight * log(1 + (skips - 1))``
   (preference 0, confidence ``1 + alpha * |r|``), both only among the listeners and tracks
   with counted plays (:mod:`jobs.recsys.als`, :func:`~jobs.recsys.als.window_ratings`);
3. fits ``ALS(implicitPrefs=True)`` with rank, regParam, alpha, iterations and seed from
   ``conf/``, a checkpoint directory set; a fit of the same ratings and settings made before
   is read back from ``<paths.cache>/als`` instead (:mod:`jobs.recsys.fit_cache`; ``als.cache``),
   which is how step 4 reads last week's fit once last week ran;
4. evaluates the same recipe offline: fitted on the window ending a week earlier, it
   ranks each listener's unheard tracks and is scored on the first-time plays of the
   last week (precision@k, recall@k, NDCG@k, mean percentile rank), beside two naive
   references on the same holdout: most popular all-time (listeners with a counted
   play before the holdout week) and most popular of the 4 weeks before it; ``references`` in the run
   metrics holds each with its 95% bootstrap interval over listeners and the paired
   intervals of ALS minus each (:func:`holdout_comparison`).

Writes ``play_counts``, ``user_factors``, ``item_factors`` and ``als_metrics`` (each a
``week=YYYY-Www`` partition) as ONE fit (:meth:`~jobs.warehouse.store.Warehouse.publish_set`):
all four are staged first, swapped in together under their four locks and stamped with the
fit's id (``_fit.json``: fit id, run id, rank, rows), and the manifest
``als_fit/week=W/manifest.json`` is written last. A failure before that (a full disk while
staging, a failed swap) leaves the old four and the old manifest; every reader of these
tables (and of ``track_vectors`` / ``audio_vectors``, stamped with the fit they came from)
refuses partitions of another fit with one line naming the tables and fit ids (exit 2).
Then ``run_metrics/.../als.json`` (with the ``fit_id``, and under ``signals`` the two weights,
the saved pairs in the window, the pairs rated and those rated negative for repeated skips;
under ``fit_cache`` whether each fit, the week's and the evaluation's, was read back, ``hit``,
or fitted, ``miss``; ``off`` with ``als.cache: false``, ``none`` when the evaluation was skipped
before its fit), and the fits not read back into ``<paths.cache>/als``.

Degenerate weeks: no counted play in the window leaves nothing to factorise, so the job
fails (``AlsError``, exit 2) and the old fit stays; with any counted play it fits (one
listener or one play included: the regularised factors are defined). The in-run evaluation
is skipped, with the reason in ``evaluation`` (``{"skipped": ...}``) and no ``als_metrics``
rows, when the evaluation window has no counted play, the holdout week has no (first-time)
play, or no holdout listener was in the evaluation window; a metric with no defined value
(the mean percentile rank when no holdout track has a vector) is null in ``als.json`` and
left out of ``als_metrics``.

Run alone::

    python -m jobs.als --week 2026-W47
    spark-submit --py-files build/pipeline.zip jobs/als.py --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from typing import Any

from jobs.config import Config
from jobs.recsys.als import (
    AlsError,
    fit_als,
    holdout_evaluation,
    metric_rows,
    window_counts,
    window_ratings,
    window_saves,
)
from jobs.recsys.fit_cache import CachedFit
from jobs.runtime.cli import week_job, with_spark
from jobs.warehouse.saves import read_saves
from jobs.warehouse.store import MissingInputError, Warehouse, current_run_id
from jobs.warehouse.weeks import cutoff as week_cutoff
from schemas.columns import TRACK_ID, USER_ID
from schemas.tables import spark_schema

log = logging.getLogger("als")


def run(spark: Any, config: Config, week: str) -> dict[str, Any]:
    """Fit, evaluate and publish the ALS tables for ``week`` as one fit; returns the run's metrics."""

    t0 = time.perf_counter()
    conf = config.als
    cut = week_cutoff(week)
    start = cut - dt.timedelta(weeks=conf.window_weeks)
    wh = Warehouse(config.paths.warehouse)
    plays_dir = wh.table_dir("plays")
    if not plays_dir.exists():
        raise wh.missing("plays")
    ckpt = config.paths.checkpoints / "als" / week
    ckpt.mkdir(parents=True, exist_ok=True)
    spark.sparkContext.setCheckpointDir(str(ckpt))

    plays = wh.spark_plays_before(spark, cut).cache()
    saves_pd = read_saves(wh, week)  # empty when the week has no saves partition
    saves = spark.createDataFrame(saves_pd, spark_schema("saves")).cache() if len(saves_pd) else None
    # a fit of ratings fitted before (last week's, for the evaluation) is read back
    fitter = CachedFit(fit_als, config.paths.cache / "als" if conf.cache else None)

    # offline evaluation: the same recipe, one week earlier, scored on last week's first plays
    t_eval = time.perf_counter()
    evaluation, references = holdout_evaluation(plays, conf, start, cut, saves, fit=fitter)
    eval_fit = fitter.outcomes[-1] if fitter.outcomes else "none"
    eval_seconds = time.perf_counter() - t_eval
    if "skipped" in evaluation:
        log.warning("evaluation skipped: %s", evaluation["skipped"])

    counts = window_counts(plays, start, cut, conf.min_ms_played, conf.decay_half_life_days).cache()
    if counts.limit(1).count() == 0:
        raise AlsError(
            f"no counted plays between {start:%Y-%m-%d} and {cut:%Y-%m-%d} in {plays_dir}: nothing to fit; "
            f"the week's ALS tables (if any) are left as they were"
        )
    rated = window_ratings(plays, counts, conf, start, cut, saves).cache()
    signals = {
        "save_weight": conf.save_weight,
        "skip_weight": conf.skip_weight,
        "saves_in_window": window_saves(saves, start, cut).count() if saves is not None else 0,
        "pairs_rated": rated.count(),
        "skip_pairs": rated.filter("rating < 0").count(),  # rated negative: repeated skips, no counted play
    }
    t_fit = time.perf_counter()
    user_f, item_f = fitter(counts, conf, rated)
    fit_seconds = time.perf_counter() - t_fit
    counts_pd = counts.toPandas().sort_values([USER_ID, TRACK_ID], ignore_index=True)
    item_plays = counts_pd.groupby(TRACK_ID)["plays"].sum()
    item_f["plays"] = item_f[TRACK_ID].map(item_plays).fillna(0).astype("int64")

    tables = {
        "play_counts": counts_pd,
        "user_factors": user_f,
        "item_factors": item_f,
        "als_metrics": metric_rows(evaluation),
    }
    fit = wh.publish_set("als_fit", week, tables, {"run_id": current_run_id(), "rank": conf.rank})
    counts.unpersist()
    rated.unpersist()
    plays.unpersist()
    if saves is not None:
        saves.unpersist()

    metrics = {
        "week": week,
        "window": [start.isoformat(), cut.isoformat()],
        "users": len(user_f),
        "tracks": len(item_f),
        "pairs": len(counts_pd),
        "signals": signals,
        "rank": conf.rank,
        "max_iter": conf.max_iter,
        "fit_id": fit["fit_id"],
        "run_id": fit["run_id"],
        "fit_seconds": round(fit_seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        # "hit": read back from the fit cache (same ratings and settings); "off" without it
        "fit_cache": {
            "fit": fitter.outcomes[-1] if conf.cache else "off",
            "evaluation": eval_fit if conf.cache else "off",
        },
        "evaluation": evaluation,
        **({"references": references} if references else {}),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "als",
        "Fit implicit ALS on the play window before a week.",
        lambda config, week, _: with_spark(config, f"als-{week}", lambda spark: run(spark, config, week)),
        argv,
        errors=(AlsError, MissingInputError),
        metrics="als",
    )


if __name__ == "__main__":
    sys.exit(main())
