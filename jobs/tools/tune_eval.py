"""The tune's evaluator: one candidate setting on one validation week, through the weekly jobs' own code.

For a validation week ``V`` and a setting (``als.*`` keys that need a fit, ``merge.*`` keys
that only change the blend), :class:`WeekEvaluator` does what ``jobs.als`` and ``jobs.merge``
would do for ``V``, with their functions, on plays before ``V``'s cutoff only: the window's
counts (:func:`jobs.recsys.als.window_counts`), the ALS fit (:func:`jobs.recsys.als.fit_als`), the merge's
inputs (:func:`jobs.recsys.inputs.build_inputs`), the personal playlists
(:func:`jobs.recsys.playlists.playlists`) and the ``fallback`` lists of listeners with a
thin history (:func:`~jobs.recsys.playlists.fallback_lists`). A playlist shorter than
``merge.k`` is dropped, as the merge drops it. Nothing is written. The fits skip Spark's
checkpoints (``als.checkpoint_interval`` -1): they cut the lineage and change no factor (bit
for bit the same user and item factors on MovieLens before 1998-W10), at half the fit time.

Scoring is ``make eval-real``'s (:mod:`studies.rolling_eval`): a listener-week counts when the
listener played something before ``V`` and something for the first time in ``V``
(:func:`week_truth`); precision@k and recall@k (hits over ``min(k, first-time titles)``) per
listener-week, zero hits for a listener without a playlist.

Used by :mod:`jobs.tools.tune`; not run alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.evaluation.truth import week_truth as first_time_truth
from jobs.warehouse.weeks import cutoff
from schemas.columns import PLAYED_AT, TRACK_ID, USER_ID

Setting = dict[str, Any]  # "section.key" -> value


def week_truth(plays: pd.DataFrame, week: str, min_ms: int) -> dict[str, set[str]]:
    """Per listener with a play before ``week``: the tracks first played (a counted play) during ``week``."""
    return first_time_truth(plays, week, min_ms)[2]


def score_lists(lists: Mapping[str, list[str]], truth: Mapping[str, set[str]], k: int) -> np.ndarray:
    """``(listener-weeks, 2)``: precision@k and recall@k of each listener in ``truth`` (sorted ids)."""
    out = np.zeros((len(truth), 2))
    for r, uid in enumerate(sorted(truth)):
        hits = len(set(lists.get(uid, [])[:k]) & truth[uid])
        out[r] = hits / k, hits / min(k, len(truth[uid]))
    return out


def apply(config: Config, setting: Mapping[str, Any]) -> Config:
    """``config`` with ``setting``'s ``section.key`` values, validated as a configuration file would be."""
    from jobs.config import build_config

    raw = config.model_dump()
    for key, value in setting.items():
        section, name = key.split(".", 1)
        raw[section][name] = value
    return build_config(raw)


class WeekEvaluator:
    """Scores settings on validation weeks from one plays table (Spark and pandas views of the same rows).

    ``plays`` (pandas: user_id, track_id, played_at, ms_played) and ``plays_sdf`` (the same rows in
    Spark) hold only plays before the tune's week; ``tracks``/``artists`` are the catalog.
    """

    def __init__(self, config: Config, plays: pd.DataFrame, plays_sdf: Any, tracks: pd.DataFrame, artists: Any):
        self.config, self.plays, self.plays_sdf = config, plays, plays_sdf
        self.tracks, self.artists = tracks, artists
        self.weeks_seen: list[str] = []

    def __call__(self, fit: Setting, blends: Iterable[Setting], week: str) -> list[np.ndarray]:
        """Per blend setting, the ``(listener-weeks, 2)`` scores of ``fit`` + that blend on ``week``."""
        from jobs.recsys.als import fit_als, window_counts, window_ratings
        from jobs.recsys.inputs import build_inputs
        from jobs.recsys.playlists import fallback_lists, playlists

        self.weeks_seen.append(week)
        blends = list(blends)
        base = apply(self.config, fit)
        conf, cut = base.als, cutoff(week)
        plays = self.plays[self.plays[PLAYED_AT] < pd.Timestamp(cut)]
        truth = week_truth(self.plays, week, conf.min_ms_played)
        start = cut - dt.timedelta(weeks=conf.window_weeks)
        counts = window_counts(self.plays_sdf, start, cut, conf.min_ms_played, conf.decay_half_life_days).cache()
        try:
            counts_pd = counts.toPandas()
            if counts_pd.empty:  # nothing to fit: the ALS job would fail and nobody gets a list
                return [score_lists({}, truth, base.merge.k) for _ in blends]
            rated = window_ratings(self.plays_sdf, counts, conf, start, cut)  # skips count as in the job; no saves
            user_f, item_f = fit_als(counts, conf.model_copy(update={"checkpoint_interval": -1}), rated)
        finally:
            counts.unpersist()
        item_f["plays"] = item_f[TRACK_ID].map(counts_pd.groupby(TRACK_ID)["plays"].sum()).fillna(0).astype("int64")
        out, inputs_by_key = [], {}
        for blend in blends:
            config = apply(base, blend)
            merge = config.merge
            key = (merge.min_plays, merge.top_artists, merge.new_release_days, merge.popularity_days)
            if key not in inputs_by_key:  # the blend weights do not change the inputs
                inputs_by_key[key] = build_inputs(
                    config, week, user_f, item_f, counts_pd, plays, self.tracks, self.artists
                )
            inputs = inputs_by_key[key]
            wanted = sorted(truth)
            lists = {
                u: [inputs.items.track_ids[pick.item] for pick in pl]
                for u, pl in playlists(inputs, config.merge, wanted).items()
                if len(pl) >= config.merge.k
            }
            if config.merge.thin_history == "fallback":
                thin = sorted(set(wanted) & inputs.active - set(inputs.users[USER_ID]))
                for u, chosen in fallback_lists(inputs.items, inputs.heard_by_user, thin, config.merge).items():
                    if len(chosen) >= config.merge.k:
                        lists[u] = [inputs.items.track_ids[i] for i in chosen]
            out.append(score_lists(lists, truth, config.merge.k))
        return out
