"""Inputs: everything the blend needs for one week, read from the warehouse and indexed.

:func:`prepare_inputs` reads, for week ``W``: ``user_factors``, ``item_factors``,
``play_counts`` (required), ``track_vectors``, ``cultural_terms`` and
``artist_similarity``, ``song_vectors`` with its Annoy index and ``taste_vectors`` (may be
missing: the blend then runs without audio, culture or sequence candidates and says so in
``notes``), every play before ``W``'s cutoff and the catalog;
it builds the :class:`~jobs.recsys.items.Items` and, per listener, the heard items,
most-played items and most-played artists with their play shares. A missing required
table raises :class:`~jobs.warehouse.store.MissingInputError`; tables that are not from
the week's one ALS fit (:meth:`~jobs.warehouse.store.Warehouse.read_together`), or
vectors of more than one length (``check_one_rank``: e.g. ``track_vectors`` mixing 16-d
and 32-d ones), raise its subclass ``InconsistentInputError``, naming the tables, their
fit ids or lengths and the job to rerun. :func:`build_inputs` is the same indexing on frames
already in memory (pure: the tune, :mod:`jobs.tools.tune`, feeds it fits it never writes).
Nothing is written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.evaluation.metrics import as_matrix
from jobs.recsys.baselines import recent_listeners
from jobs.recsys.items import Items, build_items
from jobs.sequence.ann import load_index
from jobs.sequence.candidates import Candidates, sequence_candidates
from jobs.warehouse.catalog import read_catalog
from jobs.warehouse.store import Warehouse, active_listeners, check_one_rank, heard_pairs
from jobs.warehouse.weeks import cutoff as week_cutoff
from schemas.columns import ARTIST_ID, MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID, VECTOR

log = logging.getLogger("merge")  # the merge's inputs: its log lines keep the job's name


@dataclass
class Inputs:
    """Everything the blend needs for one week, aligned to item and artist indices."""

    items: Items
    users: pd.DataFrame  # listeners with a personal playlist: user_id, vector
    active: set[str]  # listeners with any play in the window
    heard: pd.DataFrame  # (user_id, track_id) ever played before the week
    heard_by_user: dict[str, np.ndarray]
    top_by_user: dict[str, np.ndarray]  # each listener's 20 most-played items, most first (explanation seeds)
    top_artists: dict[str, np.ndarray]
    shares: dict[str, np.ndarray]
    tracks: pd.DataFrame
    notes: list[str]
    sequence: dict[str, Candidates] = field(default_factory=dict)  # songs near each taste vector
    clusters: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # user -> (centroids, shares)
    top_confidence: dict[str, np.ndarray] = field(default_factory=dict)  # ALS confidence of each top_by_user item
    als_reg: float = 0.1  # ALS's regParam (the explanations' solve)
    # computes playlists in place of the local blocks when set (merge.engine: spark; jobs.merge.spark_engine)
    engine: Callable[..., Any] | None = None


def prepare_inputs(config: Config, week: str) -> Inputs:
    """Read the week's tables and index them for :func:`recommend_block` (nothing written)."""
    wh = Warehouse(config.paths.warehouse)
    tracks, artists = read_catalog(config.paths.data)
    frames, _ = wh.read_together(
        week,
        ["user_factors", "item_factors", "play_counts"],
        optional=["track_vectors", "audio_vectors", "taste_clusters"],
    )
    user_f, item_f, counts, vectors = (
        frames["user_factors"],
        frames["item_factors"],
        frames["play_counts"],
        frames["track_vectors"],
    )
    audio, taste = frames["audio_vectors"], frames["taste_clusters"]
    check_one_rank(
        week, {"user_factors": user_f, "item_factors": item_f, "track_vectors": vectors, "audio_vectors": audio}
    )
    terms = wh.read_optional("cultural_terms", week)
    similarity = wh.read_optional("artist_similarity", week)
    inputs = build_inputs(
        config,
        week,
        user_f,
        item_f,
        counts,
        wh.plays_before(week_cutoff(week), columns=(USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED)),
        tracks,
        artists,
        vectors,
        terms,
        similarity,
        audio,
        taste,
    )
    inputs.sequence = read_sequence(
        wh, week, inputs.items, inputs.heard_by_user, config.merge.sequence_candidates, inputs.notes
    )
    for note in inputs.notes:
        log.warning("%s", note)
    return inputs


def build_inputs(
    config: Config,
    week: str,
    user_f: pd.DataFrame,
    item_f: pd.DataFrame,
    counts: pd.DataFrame,
    plays: pd.DataFrame,
    tracks: pd.DataFrame,
    artists: pd.DataFrame,
    vectors: pd.DataFrame | None = None,
    terms: pd.DataFrame | None = None,
    similarity: pd.DataFrame | None = None,
    audio: pd.DataFrame | None = None,
    taste: pd.DataFrame | None = None,
) -> Inputs:
    """:func:`prepare_inputs` without the reading: the ALS fit's frames (``user_factors``,
    ``item_factors`` with ``plays``, ``play_counts``), every play before the week, the catalog
    and the optional branches' tables (``audio_vectors`` and ``taste_clusters`` for the cluster
    allotment), indexed for the blend. Pure (the tune calls it on fits it never writes,
    :mod:`jobs.tools.tune`); the sequence candidates are added by :func:`prepare_inputs`."""
    conf = config.merge
    user_f = user_f.sort_values(USER_ID, ignore_index=True)
    notes = []
    if vectors is None:
        notes.append("no track_vectors (audio branch produced nothing): merging without audio candidates")
        vectors = item_f[[TRACK_ID, VECTOR]].assign(source="als")
    if conf.cluster_allotment > 0 and (taste is None or audio is None):
        notes.append("no taste_clusters (taste_clusters skipped or not run): merging without cluster allotment")
    if similarity is None or similarity.empty:
        notes.append("no artist_similarity (culture branch produced nothing): merging without culture candidates")
    heard = heard_pairs(plays)
    cut = week_cutoff(week)
    active = active_listeners(plays, cut, config.als.window_weeks)
    new_since = (cut - dt.timedelta(days=conf.new_release_days)).date()
    listeners = counts.groupby(TRACK_ID)[USER_ID].nunique()  # popularity counts listeners, never plays
    items = build_items(vectors, listeners, tracks, artists, new_since, terms, similarity, cut.date(), audio)
    n = counts[USER_ID].nunique()
    items = replace(items, prior_scale=n / (n + conf.popularity_shrinkage) if n else 0.0)
    if conf.popularity_days > 0:  # the popularity prior counts only the last days' listeners
        recent = recent_listeners(plays, cut, weeks=conf.popularity_days / 7, min_ms=config.als.min_ms_played)
        items = replace(items, recent=recent.reindex(pd.Index(items.track_ids)).fillna(0).to_numpy(np.float64))
    heard_by_user = heard_by_user_of(heard, items)
    index = pd.Series(np.arange(len(items.track_ids)), index=items.track_ids)
    artist_index = pd.Series(np.arange(len(items.artist_ids)), index=items.artist_ids)

    per_user = counts.groupby(USER_ID)["plays"].sum()
    personal = set(per_user[per_user >= conf.min_plays].index)
    users = user_f[user_f[USER_ID].isin(personal)].reset_index(drop=True)
    top = counts.assign(i=counts[TRACK_ID].map(index)).dropna(subset=["i"])
    top = top.sort_values([USER_ID, "plays", TRACK_ID], ascending=[True, False, True])
    top_users = top[USER_ID].to_numpy()
    top_by_user = runs_by_key(top_users, top["i"].to_numpy(dtype=np.int64), 20)
    weight = top["weight"] if "weight" in top.columns else top["plays"]
    confidence = 1.0 + config.als.alpha * np.log1p(weight.astype(np.float64) / config.als.eps)
    top_confidence = runs_by_key(top_users, confidence.to_numpy(dtype=np.float64), 20)
    artist_of = tracks.set_index(TRACK_ID)[ARTIST_ID]
    by_artist = counts.assign(a=counts[TRACK_ID].map(artist_of).map(artist_index)).dropna(subset=["a"])
    by_artist = by_artist.groupby([USER_ID, "a"])["plays"].sum().reset_index()
    by_artist = by_artist.sort_values([USER_ID, "plays", "a"], ascending=[True, False, True])
    by_artist = by_artist[by_artist.groupby(USER_ID, sort=False).cumcount().to_numpy() < conf.top_artists]
    artist_users = by_artist[USER_ID].to_numpy()
    top_artists = runs_by_key(artist_users, by_artist["a"].to_numpy(dtype=np.int64))
    played = runs_by_key(artist_users, by_artist["plays"].to_numpy())
    shares = {u: (p / p.sum()).astype(np.float64) for u, p in played.items()}
    clusters = {}
    if taste is not None and audio is not None:
        for u, g in taste.sort_values([USER_ID, "cluster"]).groupby(USER_ID, sort=False):
            clusters[u] = (as_matrix(g["centroid"]), g["share"].to_numpy(dtype=np.float64))
    return Inputs(
        items,
        users,
        active,
        heard,
        heard_by_user,
        top_by_user,
        top_artists,
        shares,
        tracks,
        notes,
        clusters=clusters,
        top_confidence=top_confidence,
        als_reg=config.als.reg_param,
    )


def heard_by_user_of(heard: pd.DataFrame, items: Items) -> dict[str, np.ndarray]:
    """Per listener (in id order), the sorted item indices of the tracks they have heard."""
    index = pd.Series(np.arange(len(items.track_ids)), index=items.track_ids)
    heard_idx = heard.assign(i=heard[TRACK_ID].map(index)).dropna(subset=["i"])
    users, user_ids = pd.factorize(heard_idx[USER_ID], sort=True)
    item = heard_idx["i"].to_numpy(dtype=np.int64)
    order = np.lexsort((item, users))
    return runs_by_key(np.asarray(user_ids, dtype=object)[users[order]], item[order])


def runs_by_key(keys: np.ndarray, values: np.ndarray, limit: int | None = None) -> dict[Any, np.ndarray]:
    """``{key: its values}`` for ``keys`` in which equal keys are adjacent (a sorted frame's column), in
    order of first appearance; each key's first ``limit`` values when given. One dict, no pandas groups."""
    if not len(keys):
        return {}
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    if limit is not None:
        ends = np.minimum(ends, starts + limit)
    return {keys[a]: values[a:b].copy() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)}


def read_sequence(
    wh: Warehouse, week: str, items: Items, heard_by_user: dict[str, np.ndarray], m: int, notes: list[str]
) -> dict[str, Candidates]:
    """The sequence source's candidates (:func:`sequence_candidates`), or none with a note saying why.

    The taste vectors must have the song vectors' length (one word2vec space), else
    ``InconsistentInputError`` naming both; the Annoy index must match the table it sits in.
    """
    songs, taste = wh.read_optional("song_vectors", week), wh.read_optional("taste_vectors", week)
    if songs is None or taste is None or taste.empty:
        missing = "song_vectors" if songs is None else "taste_vectors"
        notes.append(f"no {missing} (sequence branch produced nothing): merging without sequence candidates")
        return {}
    dim = check_one_rank(week, {"song_vectors": songs, "taste_vectors": taste})
    index = load_index(wh.partition("song_vectors", week), dim, len(songs))
    return sequence_candidates(songs, index, taste, items, heard_by_user, m)
