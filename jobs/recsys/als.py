"""The ALS recipe: implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008) with Spark MLlib.

Pure functions over Spark and pandas DataFrames; the SparkSession comes with the frames, none
is created here. :func:`window_counts` counts a window's plays (skips out, an optional recency
decay), :func:`with_rating` turns counts into ``log(1 + weight / eps)`` ratings so Spark's
implicit confidence is ``1 + alpha * log(1 + plays / eps)``, :func:`ratings` /
:func:`window_ratings` add the explicit and negative signals (saves and repeated skips, see
below), :func:`fit_model` / :func:`fit_als` fit ``ALS(implicitPrefs=True)``, :func:`factors_of`
reads the factors back, and :func:`holdout_evaluation` scores the recipe on a later week's
first-time plays beside most popular all-time and of the last 4 weeks (:func:`holdout_comparison`).

A skip is a play shorter than ``als.min_ms_played`` or one whose ``context`` ends with
``.skipped`` (:data:`~schemas.vocab.SKIPPED_CONTEXT_SUFFIX`: the log says the listener skipped
it, e.g. the Spotify importer's ``spotify.fwdbtn.skipped``), however long it lasted; a counted
play is any other. A plays frame without a ``context`` column (a table written before it) is
read as all null: the length alone decides.

Saves and skips (``als.save_weight``, ``als.skip_weight``; 0 turns each off). Only listeners
and tracks with at least one counted play in the window are fitted, as before: a save or a
skip never brings in a listener or a track of its own (it would get a vector from that alone,
and a track with an ALS vector is no longer cold for the audio source), so the fitted
listeners and tracks, and ``play_counts``, are those of the plays alone. Within them:

* a save in the window (``saved_at`` in ``[start, end)``) adds ``save_weight`` counted plays to
  the pair's weight before the log, ``rating = log(1 + (weight + save_weight) / eps)``; a saved
  pair without a counted play gets ``log(1 + save_weight / eps)``;
* a pair with no counted play in the window, not saved, and at least 2 skips (see above)
  gets ``rating = -skip_weight * log(1 + (skips - 1))``: one skip
  says little, each further one a little more, on the same log scale as the plays.

Spark MLlib's implicit ALS reads a rating ``r <= 0`` as preference 0 with confidence
``1 + alpha * |r|`` (``ml/recommendation/ALS.scala``, ``computeFactors``: "Extension to the
original paper to handle rating < 0. confidence is a function of |rating| instead so that it is
never negative"; the preference is 1 only for ``rating > 0``, and only positive ratings count
towards the regularisation's ``numExplicits``), so a repeated skip is a confident "does not
like it" where an unseen pair has confidence 1.

The ``als`` stage (:mod:`jobs.als`) reads the plays and the week's saves, calls these and
publishes the fit; the tuner and the benchmarks call the same functions.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import AlsConf
from jobs.evaluation.metrics import (
    as_matrix,
    best_first,
    ndcg_at_k,
    percentile_ranks,
    percentile_ranks_sorted,
    precision_at_k,
    recall_at_k,
    top_k_in_order,
    top_k_masked,
)
from jobs.evaluation.stats import compare
from jobs.recsys.baselines import RECENT_WEEKS, popularity_scores
from schemas.columns import CONTEXT, MS_PLAYED, PLAYED_AT, SAVED_AT, TRACK_ID, USER_ID, VECTOR
from schemas.vocab import SKIPPED_CONTEXT_SUFFIX


class AlsError(RuntimeError):
    """The ALS job cannot run on the data it was given."""


# ----------------------------------------------------------------------------- transforms


def is_skip(plays: Any, min_ms: int) -> Any:
    """The Spark condition of a skip among ``plays``: shorter than ``min_ms``, or a ``context`` ending with
    :data:`~schemas.vocab.SKIPPED_CONTEXT_SUFFIX` (never null; no ``context`` column: the length alone)."""
    from pyspark.sql import functions as F

    short = F.col(MS_PLAYED) < min_ms
    if CONTEXT not in plays.columns:
        return short
    return short | F.coalesce(F.col(CONTEXT).endswith(SKIPPED_CONTEXT_SUFFIX), F.lit(False))


def window_counts(plays: Any, start: dt.datetime, end: dt.datetime, min_ms: int, half_life_days: float) -> Any:
    """Counted plays per ``(user_id, track_id)`` in ``[start, end)``: ``plays`` and decayed ``weight``.

    A play counts when it is no skip (:func:`is_skip`: ``ms_played >= min_ms`` and no ``.skipped``
    context). With ``half_life_days > 0`` a play's
    weight is ``0.5 ** (age_days / half_life_days)``, its age measured back from ``end``.
    """
    from pyspark.sql import functions as F

    counted = plays.filter(
        (F.col(PLAYED_AT) >= F.lit(start)) & (F.col(PLAYED_AT) < F.lit(end)) & ~is_skip(plays, min_ms)
    )
    if half_life_days > 0:
        age_days = (F.lit(end).cast("double") - F.col(PLAYED_AT).cast("double")) / 86400.0
        w = F.pow(F.lit(0.5), age_days / half_life_days)
    else:
        w = F.lit(1.0)
    return counted.groupBy(USER_ID, TRACK_ID).agg(F.count("*").alias("plays"), F.sum(w).alias("weight"))


def has_counted_plays(plays: Any, start: dt.datetime, end: dt.datetime, min_ms: int) -> bool:
    """Whether ``[start, end)`` has a counted play (so :func:`window_counts` has a row), without aggregating."""
    from pyspark.sql import functions as F

    counted = plays.filter(
        (F.col(PLAYED_AT) >= F.lit(start)) & (F.col(PLAYED_AT) < F.lit(end)) & ~is_skip(plays, min_ms)
    )
    return bool(counted.limit(1).count())


def track_listeners(plays: Any, start: dt.datetime, end: dt.datetime, min_ms: int) -> pd.Series:
    """Listeners with a counted play per track in ``[start, end)``, as a pandas Series (track_id -> listeners):
    popularity counts listeners, never plays (:mod:`jobs.recsys.baselines`)."""
    from pyspark.sql import functions as F

    counts = window_counts(plays, start, end, min_ms, 0).groupBy(TRACK_ID).agg(F.count("*").alias("n"))
    return counts.toPandas().set_index(TRACK_ID)["n"].astype(np.float64)


def with_rating(counts: Any, eps: float) -> Any:
    """Add ``rating = log(1 + weight / eps)``; ALS turns it into confidence ``1 + alpha * rating``."""
    from pyspark.sql import functions as F

    return counts.withColumn("rating", F.log1p(F.col("weight") / eps))


def window_skips(plays: Any, start: dt.datetime, end: dt.datetime, min_ms: int) -> Any:
    """Skips (:func:`is_skip`: shorter than ``min_ms`` or a ``.skipped`` context) per ``(user_id, track_id)``
    in ``[start, end)``: ``skips``."""
    from pyspark.sql import functions as F

    skipped = plays.filter(
        (F.col(PLAYED_AT) >= F.lit(start)) & (F.col(PLAYED_AT) < F.lit(end)) & is_skip(plays, min_ms)
    )
    return skipped.groupBy(USER_ID, TRACK_ID).agg(F.count("*").alias("skips"))


def window_saves(saves: Any, start: dt.datetime, end: dt.datetime) -> Any:
    """The distinct ``(user_id, track_id)`` saved in ``[start, end)`` (``saves``: the ``saves`` table)."""
    from pyspark.sql import functions as F

    in_window = (F.col(SAVED_AT) >= F.lit(start)) & (F.col(SAVED_AT) < F.lit(end))
    return saves.filter(in_window).select(USER_ID, TRACK_ID).distinct()


def ratings(
    counts: Any, eps: float, saved: Any = None, save_weight: float = 0.0, skips: Any = None, skip_weight: float = 0.0
) -> Any:
    """``(user_id, track_id, rating)`` for the fit: the plays' log ratings with saves and repeated skips.

    ``counts``: :func:`window_counts`; ``saved``: saved pairs (:func:`window_saves`);
    ``skips``: :func:`window_skips`. See the module docstring for the rules: only listeners and
    tracks of ``counts`` are rated; a save adds ``save_weight`` to the weight (a saved pair
    without counted plays is rated from ``save_weight`` alone); a pair with no counted play, not
    saved, with ``skips >= 2`` gets ``-skip_weight * log1p(skips - 1)``. With neither signal
    (or both weights 0) this is :func:`with_rating`.
    """
    from pyspark.sql import functions as F

    plays = counts.select(USER_ID, TRACK_ID, "weight")
    users = counts.select(USER_ID).distinct()
    items = counts.select(TRACK_ID).distinct()
    if saved is not None and save_weight > 0:
        marked = saved.select(USER_ID, TRACK_ID).distinct().join(users, USER_ID).join(items, TRACK_ID)
        plays = plays.join(marked.withColumn("_saved", F.lit(True)), [USER_ID, TRACK_ID], "full_outer").select(
            USER_ID,
            TRACK_ID,
            (
                F.coalesce("weight", F.lit(0.0)) + F.when(F.col("_saved"), F.lit(float(save_weight))).otherwise(0.0)
            ).alias("weight"),
        )
    positive = with_rating(plays, eps).select(USER_ID, TRACK_ID, "rating")
    if skips is None or skip_weight <= 0:
        return positive
    negative = (
        skips.filter(F.col("skips") >= 2)
        .join(users, USER_ID)
        .join(items, TRACK_ID)
        .join(positive, [USER_ID, TRACK_ID], "left_anti")
        .select(USER_ID, TRACK_ID, (-float(skip_weight) * F.log1p(F.col("skips") - 1)).alias("rating"))
    )
    return positive.unionByName(negative)


def window_ratings(
    plays: Any, counts: Any, conf: AlsConf, start: dt.datetime, end: dt.datetime, saves: Any = None
) -> Any:
    """:func:`ratings` of the window ``[start, end)``: ``counts`` (:func:`window_counts` of ``plays``),
    the saves in it (``saves``: the ``saves`` table as a Spark frame, or None) and the skips of ``plays``."""
    saved = window_saves(saves, start, end) if saves is not None and conf.save_weight > 0 else None
    skips = window_skips(plays, start, end, conf.min_ms_played) if conf.skip_weight > 0 else None
    return ratings(counts, conf.eps, saved, conf.save_weight, skips, conf.skip_weight)


def index_ids(df: Any, column: str, index: str) -> Any:
    """Dense 0-based integer ``index`` for each distinct ``column`` value, in sorted id order.

    MLlib's ``StringIndexer`` (``alphabetAsc``): the distinct ids are gathered per
    partition, sorted once on the driver and mapped back in parallel.
    """
    from pyspark.ml.feature import StringIndexer
    from pyspark.sql import functions as F

    indexer = StringIndexer(inputCol=column, outputCol=index, stringOrderType="alphabetAsc").fit(df)
    return indexer.transform(df.select(column).distinct()).withColumn(index, F.col(index).cast("int"))


def fit_model(
    counts: Any, conf: AlsConf, intermediate_storage: str | None = None, rated: Any = None
) -> tuple[Any, Any, Any]:
    """Fit ``ALS(implicitPrefs=True)`` on window counts: the model and the cached id indices (users, items).

    ``rated``: the ``(user_id, track_id, rating)`` to fit (:func:`window_ratings`); by default
    the plays' own (:func:`with_rating`). Listeners and tracks are those of ``counts`` either
    way. The caller unpersists the indices (:func:`fit_als` does it for you)."""
    from pyspark.ml.recommendation import ALS

    users = index_ids(counts, USER_ID, "u").cache()
    items = index_ids(counts, TRACK_ID, "i").cache()
    if rated is None:
        rated = with_rating(counts, conf.eps)
    triples = rated.join(users, USER_ID).join(items, TRACK_ID).select("u", "i", "rating")
    als = ALS(
        rank=conf.rank,
        maxIter=conf.max_iter,
        regParam=conf.reg_param,
        alpha=conf.alpha,
        implicitPrefs=True,
        seed=conf.seed,
        userCol="u",
        itemCol="i",
        ratingCol="rating",
        numUserBlocks=conf.num_blocks,
        numItemBlocks=conf.num_blocks,
        checkpointInterval=conf.checkpoint_interval,
        coldStartStrategy="drop",
    )
    if intermediate_storage:
        als.setIntermediateStorageLevel(intermediate_storage)
    return als.fit(triples), users, items


def fit_als(counts: Any, conf: AlsConf, rated: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit ALS on window counts (``rated``: see :func:`fit_model`); returns user and item factors as pandas
    (id, vector)."""
    return factors_of(*fit_model(counts, conf, rated=rated))


def factors_of(model: Any, users: Any, items: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fitted model's user and item factors as pandas (id, vector), sorted by id; unpersists the indices."""
    from pyspark.sql import functions as F

    uf = model.userFactors.join(users, F.col("id") == F.col("u")).select(USER_ID, F.col("features").alias(VECTOR))
    itf = model.itemFactors.join(items, F.col("id") == F.col("i")).select(TRACK_ID, F.col("features").alias(VECTOR))
    user_pd = uf.toPandas().sort_values(USER_ID, ignore_index=True)
    item_pd = itf.toPandas().sort_values(TRACK_ID, ignore_index=True)
    users.unpersist()
    items.unpersist()
    return user_pd, item_pd


def holdout_scores(
    user_factors: pd.DataFrame,
    item_factors: pd.DataFrame,
    seen: pd.DataFrame,
    holdout: pd.DataFrame,
    popularity: pd.Series,
    k: int,
    recent: pd.Series | None = None,
) -> dict[str, Any]:
    """Per-listener scores of ALS and the popularity references on a holdout of first-time plays.

    ``seen`` (user_id, track_id) are excluded from every ranking; ``holdout``
    (user_id, track_id) are the relevant items; ``popularity`` is listeners per track_id (the
    ``most_popular`` reference) and ``recent`` (optional) listeners per track_id in the last weeks
    (``most_popular_recent``, ties ordered by ``popularity``, :func:`~jobs.recsys.baselines.popularity_scores`).
    Only users with a vector and at least one holdout item are scored; holdout items
    without a vector stay in the truth (they count as misses for every model).
    Returns ``users`` (ids, in order), ``pair_users`` (the listener of each percentile
    rank) and ``values[model][metric]``: precision@k, recall@k and NDCG@k per listener,
    the percentile rank per (listener, holdout track with a vector).
    """
    item_ids = item_factors[TRACK_ID].to_numpy()
    item_index = {t: i for i, t in enumerate(item_ids)}
    V = as_matrix(item_factors[VECTOR])
    users = user_factors[user_factors[USER_ID].isin(holdout[USER_ID])].reset_index(drop=True)
    U = as_matrix(users[VECTOR])
    n_items = len(item_ids)
    refs = {"most_popular": popularity_scores(item_ids, popularity)}
    if recent is not None:
        refs["most_popular_recent"] = popularity_scores(item_ids, popularity, recent)
    # a reference ranks every listener's items alike: its order and sorted scores, once
    ranked = {m: (p, best_first(p), np.sort(p)) for m, p in refs.items()}
    seen_by_user = seen.groupby(USER_ID)[TRACK_ID].agg(set).to_dict()
    truth_by_user = holdout.groupby(USER_ID)[TRACK_ID].agg(set).to_dict()
    names = (f"precision@{k}", f"recall@{k}", f"ndcg@{k}", "percentile_rank")
    metrics = (precision_at_k, recall_at_k, ndcg_at_k)
    values: dict[str, dict[str, list[float]]] = {m: {n: [] for n in names} for m in ("als", *refs)}
    pair_users: list[str] = []

    def score(model: str, truth: set[int], recs: np.ndarray, ranks: list[float]) -> None:
        for name, metric in zip(names, metrics, strict=False):
            values[model][name].append(metric([recs], [truth], k))
        values[model]["percentile_rank"] += ranks

    block = 1024
    for start in range(0, len(users), block):
        ids = users[USER_ID].iloc[start : start + block].tolist()
        scores = U[start : start + block] @ V.T if n_items else np.zeros((len(ids), 0))
        exclude = np.zeros((len(ids), n_items), dtype=bool)
        excluded = []
        for r, uid in enumerate(ids):
            cols = np.array(
                sorted({item_index[t] for t in seen_by_user.get(uid, ()) if t in item_index}), dtype=np.int64
            )
            exclude[r, cols] = True
            excluded.append(cols)
        truths = []
        for uid in ids:
            truth = {item_index.get(t, -1 - j) for j, t in enumerate(sorted(truth_by_user[uid]))}
            targets = [t for t in truth if t >= 0]
            truths.append((truth, targets))
            pair_users += [uid] * len(targets)

        recs = top_k_masked(scores, exclude, k)
        for r, (truth, targets) in enumerate(truths):
            score("als", truth, recs[r], percentile_ranks(scores[r], ~exclude[r], targets))
        for model, (p, order, ascending) in ranked.items():
            for r, (truth, targets) in enumerate(truths):
                ranks = percentile_ranks_sorted(p, ascending, excluded[r], targets)
                score(model, truth, top_k_in_order(order, excluded[r], k), ranks)
    return {
        "users": users[USER_ID].tolist(),
        "pair_users": pair_users,
        "values": {m: {n: np.asarray(v, dtype=np.float64) for n, v in vals.items()} for m, vals in values.items()},
    }


def holdout_means(scored: dict[str, Any], k: int) -> dict[str, dict[str, float]]:
    """The means of :func:`holdout_scores` per model, as ``als_metrics`` stores them."""
    out: dict[str, dict[str, float]] = {}
    n_users = float(len(scored["users"]))
    for model, vals in scored["values"].items():
        out[model] = {name: float(np.mean(vals[name])) if n_users else float("nan") for name in list(vals)[:3]}
        ranks = vals["percentile_rank"]
        out[model]["mean_percentile_rank"] = float(np.mean(ranks)) if len(ranks) else float("nan")
        out[model]["users"] = n_users
    return out


def evaluate_holdout(
    user_factors: pd.DataFrame,
    item_factors: pd.DataFrame,
    seen: pd.DataFrame,
    holdout: pd.DataFrame,
    popularity: pd.Series,
    k: int,
    recent: pd.Series | None = None,
) -> dict[str, dict[str, float]]:
    """Score ALS and most-popular (and most-popular-recent, given ``recent``) on a holdout of first-time
    plays: the means of :func:`holdout_scores`, plus ``holdout_pairs`` per model."""
    scored = holdout_scores(user_factors, item_factors, seen, holdout, popularity, k, recent)
    out = holdout_means(scored, k)
    pairs = float(holdout[holdout[USER_ID].isin(scored["users"])].drop_duplicates().shape[0])
    for vals in out.values():
        vals["holdout_pairs"] = pairs
    return out


def holdout_comparison(scored: dict[str, Any]) -> dict[str, Any]:
    """ALS beside the popularity references: 95% intervals over listeners and ALS-minus-each paired intervals
    (:func:`jobs.evaluation.stats.compare`; the percentile rank pooled over pairs, listeners resampled)."""
    values = {
        m: {("mean_percentile_rank" if n == "percentile_rank" else n): v for n, v in vals.items()}
        for m, vals in scored["values"].items()
    }
    return compare(values, "als", groups=scored["users"], metric_groups={"mean_percentile_rank": scored["pair_users"]})


# ----------------------------------------------------------------------------- job


def holdout_evaluation(
    plays: Any, conf: AlsConf, start: dt.datetime, cut: dt.datetime, saves: Any = None, fit: Any = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Fit on the window ending a week before ``cut`` and score on the last week's first-time plays.

    The fit is the job's recipe (:func:`window_ratings`: the saves of ``saves`` and the skips in
    that earlier window count as in the real fit), made by ``fit(counts, conf, rated)``
    (:func:`fit_als` by default; the job passes one that reads a fit of the same ratings back,
    :mod:`jobs.recsys.fit_cache`).

    Returns the metrics per model (a metric with no defined value is ``None``) and the
    comparison block of ALS beside most-popular all-time (the evaluation window) and of the
    last :data:`~jobs.recsys.baselines.RECENT_WEEKS` weeks (:func:`holdout_comparison`), or
    ``({"skipped": reason}, None)`` when there is nothing to fit or to score.
    """
    from pyspark.sql import functions as F

    spark = plays.sparkSession
    eval_cut = cut - dt.timedelta(weeks=1)
    eval_start = start - dt.timedelta(weeks=1)
    # the skips first, each from a scan that stops at the first counted play (the next week's
    # evaluation has no holdout week yet: it skips in seconds, without aggregating any window)
    if not has_counted_plays(plays, eval_start, eval_cut, conf.min_ms_played):
        return {
            "skipped": f"no counted plays in the evaluation window {eval_start:%Y-%m-%d}..{eval_cut:%Y-%m-%d}"
        }, None
    if not has_counted_plays(plays, eval_cut, cut, conf.min_ms_played):
        return {"skipped": f"no counted plays in the holdout week {eval_cut:%Y-%m-%d}..{cut:%Y-%m-%d}"}, None
    eval_counts = window_counts(plays, eval_start, eval_cut, conf.min_ms_played, conf.decay_half_life_days).cache()
    rated = None
    try:
        holdout_all = window_counts(plays, eval_cut, cut, conf.min_ms_played, 0).select(USER_ID, TRACK_ID)
        history = plays.filter(F.col(PLAYED_AT) < F.lit(eval_cut)).select(USER_ID, TRACK_ID).distinct()
        holdout = holdout_all.join(history, [USER_ID, TRACK_ID], "left_anti")
        holdout_pd = holdout.toPandas()
        if holdout_pd.empty:
            return {"skipped": f"no first-time plays in the holdout week {eval_cut:%Y-%m-%d}..{cut:%Y-%m-%d}"}, None
        rng = np.random.default_rng(conf.seed)
        eval_users = sorted(holdout_pd[USER_ID].unique())
        if len(eval_users) > conf.eval_max_users:
            eval_users = sorted(rng.choice(eval_users, conf.eval_max_users, replace=False))
        holdout_pd = holdout_pd[holdout_pd[USER_ID].isin(eval_users)]
        users_df = spark.createDataFrame(pd.DataFrame({USER_ID: eval_users}, dtype=str))
        # the sampled listeners' plays first, then their distinct pairs (not all history's, again)
        seen_pd = (
            plays.filter(F.col(PLAYED_AT) < F.lit(eval_cut))
            .join(F.broadcast(users_df), USER_ID)
            .select(USER_ID, TRACK_ID)
            .distinct()
            .toPandas()
        )
        # the references: listeners per track over all history before the holdout, and over its last weeks
        popularity = track_listeners(plays, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), eval_cut, conf.min_ms_played)
        recent = track_listeners(plays, eval_cut - dt.timedelta(weeks=RECENT_WEEKS), eval_cut, conf.min_ms_played)
        # cached: a cached fit reads it for its key, then (when not found) fits it
        rated = window_ratings(plays, eval_counts, conf, eval_start, eval_cut, saves).cache()
        u_eval, i_eval = (fit or fit_als)(eval_counts, conf, rated)
        if not u_eval[USER_ID].isin(holdout_pd[USER_ID]).any():
            return {
                "skipped": "no listener with first-time plays in the holdout week was in the evaluation window"
            }, None
        scored = holdout_scores(u_eval, i_eval, seen_pd, holdout_pd, popularity, conf.eval_k, recent)
        means = holdout_means(scored, conf.eval_k)
        pairs = float(holdout_pd[holdout_pd[USER_ID].isin(scored["users"])].drop_duplicates().shape[0])
        evaluation = {
            m: {k: v if math.isfinite(v) else None for k, v in {**vals, "holdout_pairs": pairs}.items()}
            for m, vals in means.items()
        }
        return evaluation, holdout_comparison(scored)
    finally:
        eval_counts.unpersist()
        if rated is not None:
            rated.unpersist()


def metric_rows(evaluation: dict[str, Any]) -> pd.DataFrame:
    """``als_metrics`` rows of an evaluation: one per model and defined metric (none when it was skipped)."""
    rows = [
        {"model": m, "metric": name, "value": float(v)}
        for m, vals in evaluation.items()
        if isinstance(vals, dict)
        for name, v in vals.items()
        if v is not None
    ]
    return pd.DataFrame(rows, columns=["model", "metric", "value"]).astype({"value": "float64"})
