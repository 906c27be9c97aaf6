"""Merge: the week's Discover Weekly table, ``merge.k`` songs per eligible listener.

Reads, for run week ``W``: ``user_factors``, ``item_factors``, ``play_counts``,
``track_vectors`` (ALS and audio vectors), ``cultural_terms`` and ``artist_similarity``
(``week=W``; the last three may be missing: the merge then runs with what exists and
says so), every play before ``W``'s cutoff (what a listener has heard, skips included)
and the catalog. Candidates come from three sources on one scale
(:func:`blend_scores`): ALS (user vector times item vector), audio (the same product
with the CNN's vectors of tracks nobody has played, new releases among them) and
culture (artists similar to the listener's most-played ones). The blend, weighted by
``merge.w_*``, picks ``merge.k`` tracks the listener never played, at most
``merge.artist_cap`` per artist, one version of a song, at most ``merge.cold_slots``
unplayed tracks; popular tracks fill only where the sources run short. Listeners with
fewer than ``merge.min_plays`` counted plays get a flagged ``fallback`` list (or are
skipped, ``merge.thin_history``). Each row says why it was chosen and by which source.

The table is left, out of readers' sight, in ``discover_weekly/_pending-week=W/`` with
its list of eligible listeners; the ``validate`` job (:mod:`jobs.validate`) checks it
and only then swaps it in as ``week=W``, so a rerun replaces the week and a failed
check leaves the old one. Counts and timings go to ``run_metrics/week=W/merge.json``.

This is a numpy job, not a Spark one: at this size scoring all tracks for a block of
listeners in memory is faster than any shuffle. :func:`recommend_block` is pure and works
on one block of listeners, so it can run inside ``mapInPandas`` when listeners outgrow
one machine.

Run alone::

    python -m jobs.merge --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
import time
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from jobs.common.atomic import publish_dir, staging_dir, write_json_atomic
from jobs.common.catalog import read_catalog
from jobs.common.cli import week_job
from jobs.common.config import Config
from jobs.common.metrics import as_matrix, score_floors
from jobs.common.paths import table_dir, week_dir
from jobs.common.weeks import cutoff as week_cutoff
from schemas.tables import arrow_schema

log = logging.getLogger("merge")


class MergeError(RuntimeError):
    """Inputs are missing, or the table failed its checks and was not published."""


@dataclass(frozen=True)
class Items:
    """Every recommendable track, aligned by index: ALS tracks and audio-only (cold) tracks."""

    track_ids: np.ndarray  # str
    artist_idx: np.ndarray  # int, index into artist_names
    song_key: np.ndarray  # int: same value = same song (title + artist)
    vectors: np.ndarray  # float32 (n_items, rank), all in the ALS space
    popularity: np.ndarray  # plays in the window (0 for cold tracks)
    artist_names: np.ndarray  # str
    titles: np.ndarray | None = None  # str
    is_cold: np.ndarray | None = None  # bool: nobody has played it (vector from audio)
    is_new: np.ndarray | None = None  # bool: released in the last merge.new_release_days
    artist_terms: np.ndarray | None = None  # str per artist: a few cultural terms, "" when none
    artist_neighbours: dict[int, tuple[np.ndarray, np.ndarray]] | None = None  # artist -> (neighbours, sims)

    def cold(self) -> np.ndarray:
        return self.is_cold if self.is_cold is not None else np.zeros(len(self.track_ids), dtype=bool)

    @cached_property
    def normed(self) -> np.ndarray:
        """Item vectors scaled to unit length (for "sounds like" explanations)."""
        return self.vectors / np.maximum(np.linalg.norm(self.vectors, axis=1, keepdims=True), 1e-9)

    @cached_property
    def popularity_order(self) -> np.ndarray:
        """Item indices by popularity, most played first (ties by index)."""
        return np.lexsort((np.arange(len(self.track_ids)), -self.popularity))

    @cached_property
    def items_by_artist(self) -> tuple[np.ndarray, np.ndarray]:
        """``(items, starts)``: item indices grouped by artist; artist ``a``'s are ``items[starts[a]:starts[a + 1]]``."""
        order = np.argsort(self.artist_idx, kind="stable")
        starts = np.searchsorted(self.artist_idx[order], np.arange(len(self.artist_names) + 1))
        return order, starts


@dataclass(frozen=True)
class Blend:
    """How the sources are weighed and how many cold-start places a playlist may give."""

    k: int = 30
    artist_cap: int = 2
    w_als: float = 1.0
    w_audio: float = 0.9
    w_culture: float = 0.1
    cold_slots: int = 5
    min_cold_score: float = 0.5
    top_artists: int = 5


def build_items(
    track_vectors: pd.DataFrame,
    plays: pd.Series,
    tracks: pd.DataFrame,
    artists: pd.DataFrame,
    new_since: Any = None,
    terms: pd.DataFrame | None = None,
    similarity: pd.DataFrame | None = None,
    released_before: Any = None,
) -> Items:
    """Align track vectors (``source`` als or audio) with the catalog and the cultural tables.

    ``plays`` is counted plays per track_id in the window; ``new_since`` a date from which
    a release counts as new; ``terms``/``similarity`` the cultural tables (may be empty);
    tracks released on or after ``released_before`` (the week's Monday) are left out.
    """
    f = track_vectors.merge(tracks[["track_id", "title", "artist_id", "release_date"]], on="track_id", how="inner")
    if released_before is not None:  # a track that is not out yet is never recommended
        out = pd.to_datetime(f["release_date"]).isna() | (
            pd.to_datetime(f["release_date"]) < pd.Timestamp(released_before)
        )
        f = f[out.to_numpy()]
    f = f.sort_values("track_id", ignore_index=True)
    names = artists.set_index("artist_id")["name"]
    artist_ids = np.array(sorted(set(f["artist_id"]) | set(names.index)))
    a_index = {a: i for i, a in enumerate(artist_ids)}
    song = f["artist_id"] + "\x00" + f["title"].str.lower().str.strip()
    is_new = np.zeros(len(f), dtype=bool)
    if new_since is not None:
        is_new = (pd.to_datetime(f["release_date"]) >= pd.Timestamp(new_since)).fillna(False).to_numpy()
    artist_terms = np.array([""] * len(artist_ids), dtype=object)
    if terms is not None and len(terms):
        top = terms[terms["term_type"].isin(["adj", "np"])].sort_values(
            ["artist_id", "score", "term_type", "term"], ascending=[True, False, True, True]
        )
        for a, g in top.groupby("artist_id"):
            if a in a_index:
                artist_terms[a_index[a]] = ", ".join(list(dict.fromkeys(g["term"]))[:3])
    neighbours: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if similarity is not None and len(similarity):
        sim = similarity[similarity["artist_id"].isin(a_index) & similarity["neighbor_id"].isin(a_index)]
        for a, g in sim.groupby("artist_id"):
            neighbours[a_index[a]] = (
                g["neighbor_id"].map(a_index).to_numpy(dtype=np.int64),
                g["similarity"].to_numpy(dtype=np.float64),
            )
    return Items(
        track_ids=f["track_id"].to_numpy(dtype=object),
        artist_idx=f["artist_id"].map(a_index).to_numpy(dtype=np.int64),
        song_key=pd.factorize(song)[0],
        vectors=as_matrix(f["vector"]),
        popularity=f["track_id"].map(plays).fillna(0).to_numpy(dtype=np.float64),
        artist_names=names.reindex(artist_ids).fillna("an artist you play").to_numpy(dtype=object),
        titles=f["title"].to_numpy(dtype=object),
        is_cold=(f["source"] == "audio").to_numpy(),
        is_new=is_new,
        artist_terms=artist_terms,
        artist_neighbours=neighbours,
    )


def pick_diverse(
    order: np.ndarray,
    artist_idx: np.ndarray,
    song_key: np.ndarray,
    k: int,
    cap: int,
    taken: list[int] | None = None,
    cold: np.ndarray | None = None,
    cold_slots: int | None = None,
) -> list[int]:
    """Walk ``order`` (best first) and keep items until ``k``: at most ``cap`` per artist, one per song,
    and at most ``cold_slots`` items flagged in ``cold``. ``taken`` items count against the caps."""
    chosen = list(taken or [])
    per_artist: dict[int, int] = {}
    songs: set[int] = set()
    n_cold = 0
    for i in chosen:
        per_artist[artist_idx[i]] = per_artist.get(artist_idx[i], 0) + 1
        songs.add(song_key[i])
        n_cold += int(cold is not None and cold[i])
    for i in order:
        if len(chosen) >= k:
            break
        a = artist_idx[i]
        if per_artist.get(a, 0) >= cap or song_key[i] in songs or i in chosen:
            continue
        is_cold = cold is not None and cold[i]
        if is_cold and cold_slots is not None and n_cold >= cold_slots:
            continue
        chosen.append(int(i))
        per_artist[a] = per_artist.get(a, 0) + 1
        songs.add(song_key[i])
        n_cold += int(is_cold)
    return chosen


SOURCES = ("als", "audio", "culture")


def culture_preference(top_artists: np.ndarray, artist_shares: np.ndarray, items: Items) -> np.ndarray:
    """One listener's 0..1 preference per artist: similarity to their most-played artists, by play share.

    The listener's own top artists get 0 (ALS already covers them); all zeros when the
    cultural tables are empty or none of the top artists has neighbours.
    """
    pref = np.zeros(len(items.artist_names))
    if not items.artist_neighbours or not len(top_artists):
        return pref
    for a, share in zip(top_artists, artist_shares, strict=True):
        nbrs, sims = items.artist_neighbours.get(int(a), (np.zeros(0, np.int64), np.zeros(0)))
        np.add.at(pref, nbrs, share * sims)
    pref[top_artists] = 0.0
    best = pref.max(initial=0.0)
    return pref / best if best > 0 else pref


def blend_block(
    user_vecs: np.ndarray,
    heard: list[np.ndarray],
    top_artists: list[np.ndarray],
    artist_shares: list[np.ndarray],
    items: Items,
    blend: Blend,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Blended scores ``(listeners, items)`` (float32) for a block of listeners, and each one's culture preference.

    Scores share one scale: ALS and audio vectors live in the same space, so both dot
    products (negative ones count as 0) are divided by the listener's best ALS score among
    unheard tracks; the culture score (:func:`culture_preference` of the item's artist) is
    0..1. Heard items score -inf; items no source proposes score 0. The cost is one matrix
    product and three passes over the block; the culture part is added only where it is
    non-zero (the items of a few dozen artists per listener).
    """
    n, b = len(items.track_ids), len(user_vecs)
    cold = items.cold()
    cold_cols = np.flatnonzero(cold)
    score = np.asarray(user_vecs, dtype=np.float32) @ items.vectors.T  # (b, n)
    rows = np.repeat(np.arange(b), [len(h) for h in heard])
    cols = np.concatenate(heard).astype(np.int64) if b else np.zeros(0, np.int64)
    score[rows, cols] = -np.inf
    saved = score[:, cold_cols]  # the best *warm* unheard score sets the scale
    score[:, cold_cols] = -np.inf
    best = score.max(axis=1, initial=0.0) if n else np.zeros(b, np.float32)
    score[:, cold_cols] = saved
    scale = np.where(best > 0, best, 1.0).astype(np.float32)
    np.maximum(score, 0.0, out=score)
    if blend.w_als == blend.w_audio or (blend.w_als > 0 and len(cold_cols)):
        if blend.w_als != blend.w_audio:
            score[:, cold_cols] *= np.float32(blend.w_audio / blend.w_als)
        score *= (blend.w_als / scale)[:, None].astype(np.float32)
    else:
        score *= np.where(cold, blend.w_audio, blend.w_als).astype(np.float32)
        score /= scale[:, None]
    prefs = []
    by_artist, starts = items.items_by_artist
    for r in range(b):
        pref = culture_preference(top_artists[r], artist_shares[r], items)
        prefs.append(pref)
        if blend.w_culture and pref.any():
            arts = np.flatnonzero(pref)
            idx = np.concatenate([by_artist[starts[a] : starts[a + 1]] for a in arts])
            score[r, idx] += (blend.w_culture * pref[items.artist_idx[idx]]).astype(np.float32)
    score[rows, cols] = -np.inf
    return score, prefs


def blend_scores(
    user_vec: np.ndarray,
    heard: np.ndarray,
    top_artists: np.ndarray,
    artist_shares: np.ndarray,
    items: Items,
    blend: Blend,
) -> tuple[np.ndarray, np.ndarray]:
    """One listener's blended score per item (:func:`blend_block`; -inf for heard items and items no
    source proposes) and the source that contributed most (0 als, 1 audio, 2 culture)."""
    score, prefs = blend_block(user_vec[None, :], [heard], [top_artists], [artist_shares], items, blend)
    score = np.where(score[0] > 0, score[0], -np.inf)
    return score, source_of(np.arange(len(items.track_ids)), score, prefs[0], items, blend)


def source_of(idx: np.ndarray, score: np.ndarray, pref: np.ndarray, items: Items, blend: Blend) -> np.ndarray:
    """Which source contributed most to the blended ``score`` of items ``idx`` (0 als, 1 audio, 2 culture)."""
    culture = blend.w_culture * pref[items.artist_idx[idx]]
    model = np.where(items.cold()[idx], 1, 0)
    s = score[idx]
    return np.where(np.isfinite(s) & (culture > s - culture), 2, model)


def ranked(score: np.ndarray, depth: int, floor: float = 0.0) -> tuple[np.ndarray, bool]:
    """Items scoring above 0, best first (ties by index): at least the best ``depth`` of them.

    Sorting every item is the cost of a large catalog, so only items scoring at least the
    ``depth``-th best score are sorted (ties at that score included: the order is always a
    prefix of the full order). ``floor`` is a guess at a score no higher than the
    ``depth``-th best (see :func:`score_floors`): when enough items reach it, only those are
    looked at. Returns the order and whether it holds every item above 0.
    """
    if floor > 0:
        cand = np.flatnonzero(score >= floor)
        if len(cand) >= depth:  # the guess was low enough: the depth best are all in cand
            sub, _ = ranked(score[cand], depth)
            return cand[sub], False
    n = len(score)
    threshold = score[np.argpartition(score, n - depth)[n - depth :]].min() if n > depth else 0.0
    complete = not threshold > 0
    cand = np.flatnonzero(score > 0) if complete else np.flatnonzero(score >= threshold)
    return cand[np.lexsort((cand, -score[cand]))], complete


def recommend_block(
    user_vecs: np.ndarray,
    heard: list[np.ndarray],
    top_played: list[np.ndarray],
    items: Items,
    k: int,
    cap: int,
    top_artists: list[np.ndarray] | None = None,
    artist_shares: list[np.ndarray] | None = None,
    blend: Blend | None = None,
) -> list[list[tuple[int, float, str, str]]]:
    """Playlists for a block of listeners: per listener a list of ``(item, score, source, reason)``.

    ``heard`` holds per listener the item indices ever played (never recommended);
    ``top_played`` their most-played item indices, best first (for explanations);
    ``top_artists``/``artist_shares`` their most-played artists and play shares (for the
    culture source). Items are ranked by :func:`blend_block`; at most ``blend.cold_slots``
    places go to tracks nobody has played, and only when their score reaches
    ``blend.min_cold_score``. Where the sources propose fewer than ``k`` tracks the most
    popular unheard ones fill the rest. A playlist is shorter than ``k`` only when the
    catalog runs out of unheard tracks the caps allow.
    """
    blend = blend or Blend(k=k, artist_cap=cap)
    n_items, b = len(items.track_ids), len(user_vecs)
    none = [np.zeros(0, np.int64)] * b
    tops_all = top_artists if top_artists is not None else none
    shares_all = artist_shares if artist_shares is not None else [np.zeros(0)] * b
    cold = items.cold()
    scores, prefs = blend_block(user_vecs, heard, tops_all, shares_all, items, blend)
    if cold.any():  # a never-played track only when its score reaches the threshold
        cold_cols = np.flatnonzero(cold)
        sub = scores[:, cold_cols]
        sub[sub < blend.w_audio * blend.min_cold_score] = -np.inf
        scores[:, cold_cols] = sub
    depth = 10 * k + 100  # enough for the artist cap and cold slots almost always; else the full order
    floors = score_floors(scores, depth)
    out = []
    for r in range(b):
        score = scores[r]
        order, complete = ranked(score, depth, floors[r])
        chosen = pick_diverse(order, items.artist_idx, items.song_key, k, cap, cold=cold, cold_slots=blend.cold_slots)
        if len(chosen) < k and not complete:
            order, _ = ranked(score, n_items)
            chosen = pick_diverse(
                order, items.artist_idx, items.song_key, k, cap, cold=cold, cold_slots=blend.cold_slots
            )
        n_blend = len(chosen)
        if len(chosen) < k:
            unheard = np.ones(n_items, dtype=bool)
            unheard[heard[r]] = False
            pop_order = items.popularity_order
            fill = pop_order[unheard[pop_order] & ~cold[pop_order]]
            chosen = pick_diverse(fill, items.artist_idx, items.song_key, k, cap, taken=chosen)
        picked = np.array(chosen[:n_blend], dtype=np.int64)
        sources = [SOURCES[int(s)] for s in source_of(picked, score, prefs[r], items, blend)]
        reasons = explain(picked, sources, top_played[r], items)
        rows = [(int(i), float(score[i]), src, why) for i, src, why in zip(picked, sources, reasons, strict=True)]
        rows += [(i, 0.0, "popular", "Popular with listeners this week") for i in chosen[n_blend:]]
        out.append(rows)
    return out


def explain(picked: np.ndarray, sources: list[str], anchors: np.ndarray, items: Items) -> list[str]:
    """A reason in a listener's words for each picked item, from the listener's own most-played tracks
    (the anchor whose vector is closest to the item's)."""
    if len(anchors) and len(picked):
        closest = anchors[np.argmax(items.normed[anchors] @ items.normed[picked].T, axis=0)]
    else:
        closest = np.full(len(picked), -1)
    reasons = []
    for item, source, anchor in zip(picked, sources, closest, strict=True):
        artist = items.artist_idx[item]
        if source == "culture" and items.artist_terms is not None and items.artist_terms[artist]:
            reasons.append(f"Fans describe it as {items.artist_terms[artist]}")
            continue
        if anchor < 0:
            reasons.append("Picked for your taste")
            continue
        name = items.artist_names[items.artist_idx[anchor]]
        if source in ("audio", "culture") and items.titles is not None:
            new = items.is_new is not None and items.is_new[item]
            reasons.append(
                f"{'New release that sounds like' if new else 'Sounds like'} {items.titles[anchor]} by {name}"
            )
        elif items.artist_idx[anchor] == artist:
            reasons.append(f"More from {name}, whom you play")
        else:
            reasons.append(f"Because you play {name}")
    return reasons


# ----------------------------------------------------------------------------- job


def read_week_table(warehouse: Path, name: str, week: str, required: bool = True) -> pd.DataFrame | None:
    path = week_dir(warehouse, name, week)
    if not path.exists():
        if required:
            raise MergeError(f"{path}: missing; run the job that writes {name} for {week} first")
        return None
    return pq.read_table(path).to_pandas()


def read_plays(warehouse: Path, week: str) -> pd.DataFrame:
    """Every play before the week's cutoff (skips included): user_id, track_id, played_at."""
    plays = table_dir(warehouse, "plays")
    if not plays.exists():
        raise MergeError(f"{plays}: missing; run the ingest job for {week} first")
    dataset = ds.dataset(plays, format="parquet", partitioning="hive", exclude_invalid_files=True)
    cut = pa.scalar(week_cutoff(week), type=pa.timestamp("us", tz="UTC"))
    return dataset.to_table(
        columns=["user_id", "track_id", "played_at"], filter=ds.field("played_at") < cut
    ).to_pandas()


def heard_pairs(plays: pd.DataFrame) -> pd.DataFrame:
    """Distinct (user_id, track_id) of ``plays``: what each listener has heard, skips included."""
    return plays[["user_id", "track_id"]].drop_duplicates(ignore_index=True)


def read_heard(warehouse: Path, week: str) -> pd.DataFrame:
    """Distinct (user_id, track_id) played before the week's cutoff, skips included."""
    return heard_pairs(read_plays(warehouse, week))


_EXCLUDED = pa.schema([pa.field("user_id", pa.string(), False), pa.field("reason", pa.string(), False)])


def active_listeners(plays: pd.DataFrame, cut: dt.datetime, window_weeks: int) -> set[str]:
    """Listeners with any play (skips included) in the ``window_weeks`` before ``cut``: who is owed a list."""
    window_start = pd.Timestamp(cut - dt.timedelta(weeks=window_weeks))
    return set(plays.loc[(plays["played_at"] >= window_start) & (plays["played_at"] < pd.Timestamp(cut)), "user_id"])


def pending_dir(warehouse: Path, week: str) -> Path:
    """Where the merge leaves the week's table for the validate task (hidden from readers)."""
    return table_dir(warehouse, "discover_weekly") / f"_pending-week={week}"


@dataclass
class Inputs:
    """Everything the blend needs for one week, aligned to item and artist indices."""

    items: Items
    users: pd.DataFrame  # listeners with a personal playlist: user_id, vector
    active: set[str]  # listeners with any play in the window
    heard: pd.DataFrame  # (user_id, track_id) ever played before the week
    heard_by_user: dict[str, np.ndarray]
    top_by_user: dict[str, np.ndarray]
    top_artists: dict[str, np.ndarray]
    shares: dict[str, np.ndarray]
    tracks: pd.DataFrame
    notes: list[str]


def prepare_inputs(config: Config, week: str) -> Inputs:
    """Read the week's tables and index them for :func:`recommend_block` (nothing written)."""
    warehouse = config.paths.warehouse
    conf = config.merge
    tracks, artists = read_catalog(config.paths.data)
    user_f = read_week_table(warehouse, "user_factors", week).sort_values("user_id", ignore_index=True)
    item_f = read_week_table(warehouse, "item_factors", week)
    counts = read_week_table(warehouse, "play_counts", week)
    vectors = read_week_table(warehouse, "track_vectors", week, required=False)
    notes = []
    if vectors is None:
        notes.append("no track_vectors (audio branch produced nothing): merging without audio candidates")
        vectors = item_f[["track_id", "vector"]].assign(source="als")
    terms = read_week_table(warehouse, "cultural_terms", week, required=False)
    similarity = read_week_table(warehouse, "artist_similarity", week, required=False)
    if similarity is None or similarity.empty:
        notes.append("no artist_similarity (culture branch produced nothing): merging without culture candidates")
    for note in notes:
        log.warning("%s", note)
    plays = read_plays(warehouse, week)
    heard = heard_pairs(plays)
    cut = week_cutoff(week)
    active = active_listeners(plays, cut, config.als.window_weeks)
    new_since = (cut - dt.timedelta(days=conf.new_release_days)).date()
    items = build_items(
        vectors, item_f.set_index("track_id")["plays"], tracks, artists, new_since, terms, similarity, cut.date()
    )
    index = pd.Series(np.arange(len(items.track_ids)), index=items.track_ids)
    artist_index = pd.Series(
        np.arange(len(items.artist_names)), index=sorted(set(tracks["artist_id"]) | set(artists["artist_id"]))
    )

    per_user = counts.groupby("user_id")["plays"].sum()
    personal = set(per_user[per_user >= conf.min_plays].index)
    users = user_f[user_f["user_id"].isin(personal)].reset_index(drop=True)
    heard_idx = heard.assign(i=heard["track_id"].map(index)).dropna(subset=["i"])
    heard_by_user = {u: np.sort(g.to_numpy(dtype=np.int64)) for u, g in heard_idx.groupby("user_id")["i"]}
    top = counts.assign(i=counts["track_id"].map(index)).dropna(subset=["i"])
    top = top.sort_values(["user_id", "plays", "track_id"], ascending=[True, False, True])
    top_by_user = {u: g.to_numpy(dtype=np.int64)[:20] for u, g in top.groupby("user_id", sort=False)["i"]}
    artist_of = tracks.set_index("track_id")["artist_id"]
    by_artist = counts.assign(a=counts["track_id"].map(artist_of).map(artist_index)).dropna(subset=["a"])
    by_artist = by_artist.groupby(["user_id", "a"])["plays"].sum().reset_index()
    by_artist = by_artist.sort_values(["user_id", "plays", "a"], ascending=[True, False, True])
    top_artists, shares = {}, {}
    for u, g in by_artist.groupby("user_id", sort=False):
        g = g.head(conf.top_artists)
        top_artists[u] = g["a"].to_numpy(dtype=np.int64)
        shares[u] = (g["plays"] / g["plays"].sum()).to_numpy(dtype=np.float64)
    return Inputs(items, users, active, heard, heard_by_user, top_by_user, top_artists, shares, tracks, notes)


def blend_from_conf(conf: Any) -> Blend:
    """The ``merge`` section of the configuration as a :class:`Blend` (every field by name)."""
    return Blend(**{f.name: getattr(conf, f.name) for f in fields(Blend)})


def playlists(inputs: Inputs, blend: Blend, user_ids: list[str] | None = None) -> dict[str, list[tuple]]:
    """Blended playlists ``user_id -> [(item, score, source, reason)]`` for personal listeners."""
    users = inputs.users if user_ids is None else inputs.users[inputs.users["user_id"].isin(user_ids)]
    users = users.reset_index(drop=True)
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    U = as_matrix(users["vector"])
    out: dict[str, list[tuple]] = {}
    block = max(16, min(2048, (1 << 24) // max(len(inputs.items.track_ids), 1)))  # ~64 MB of scores a block
    for start in range(0, len(users), block):
        ids = users["user_id"].iloc[start : start + block].tolist()
        lists = recommend_block(
            U[start : start + block],
            [inputs.heard_by_user.get(u, empty_i) for u in ids],
            [inputs.top_by_user.get(u, empty_i) for u in ids],
            inputs.items,
            blend.k,
            blend.artist_cap,
            [inputs.top_artists.get(u, empty_i) for u in ids],
            [inputs.shares.get(u, empty_f) for u in ids],
            blend,
        )
        out.update(zip(ids, lists, strict=True))
    return out


def build_table(config: Config, week: str) -> tuple[pd.DataFrame, dict[str, Any], set[str], dict[str, str]]:
    """Compute the week's playlists (nothing written).

    Returns the table, counts, the eligible listeners (those with a playlist) and the
    active listeners left out, each with why (``thin_history`` when configured to skip,
    ``too_few_unheard_tracks``), so validation can account for every active listener.
    """
    conf = config.merge
    inp = prepare_inputs(config, week)
    items, users, active, tracks = inp.items, inp.users, inp.active, inp.tracks
    heard_by_user = inp.heard_by_user
    artist_of = tracks.set_index("track_id")["artist_id"]
    thin = sorted(active - set(users["user_id"]))
    empty_i = np.zeros(0, dtype=np.int64)
    rows: list[tuple] = []
    short: list[str] = []
    for uid, playlist in playlists(inp, blend_from_conf(conf)).items():
        if len(playlist) < conf.k:
            short.append(uid)
            continue
        rows += [(uid, pos, items.track_ids[i], sc, src, why) for pos, (i, sc, src, why) in enumerate(playlist, 1)]
    fallback_users = thin if conf.thin_history == "fallback" else []
    if fallback_users:
        cold = items.cold()
        pop_order = np.lexsort((np.arange(len(items.track_ids)), -items.popularity))
        pop_order = pop_order[~cold[pop_order]]
        for uid in fallback_users:
            unheard = np.ones(len(items.track_ids), dtype=bool)
            unheard[heard_by_user.get(uid, empty_i)] = False
            chosen = pick_diverse(
                pop_order[unheard[pop_order]], items.artist_idx, items.song_key, conf.k, conf.artist_cap
            )
            if len(chosen) < conf.k:
                short.append(uid)
                continue
            rows += [
                (
                    uid,
                    pos,
                    items.track_ids[i],
                    float(items.popularity[i]) / max(float(items.popularity.max()), 1.0),
                    "fallback",
                    "Starter pick while we learn your taste: popular with listeners this week",
                )
                for pos, i in enumerate(chosen, 1)
            ]
    table = pd.DataFrame(rows, columns=["user_id", "position", "track_id", "score", "source", "reason"])
    table["artist_id"] = table["track_id"].map(artist_of)
    table["week"] = week
    table["position"] = table["position"].astype("int32")
    from schemas.tables import table as contract

    table = table[contract("discover_weekly").names].sort_values(["user_id", "position"], ignore_index=True)
    eligible = (set(users["user_id"]) | set(fallback_users)) - set(short)
    excluded = {u: "thin_history" for u in thin if conf.thin_history == "skip"} | dict.fromkeys(
        short, "too_few_unheard_tracks"
    )
    cold_ids = set(items.track_ids[items.cold()])
    counts_out = {
        "listeners_active": len(active),
        "personal": len(set(users["user_id"]) - set(short)),
        "fallback": len(set(fallback_users) - set(short)),
        "skipped_thin_history": len(thin) if conf.thin_history == "skip" else 0,
        "skipped_too_few_unheard_tracks": len(short),
        "eligible": len(eligible),
        "rows": len(table),
        "sources": table["source"].value_counts().sort_index().to_dict(),
        "cold_start_rows": int(table["track_id"].isin(cold_ids).sum()),
        "catalog_tracks": len(tracks),
        "distinct_tracks_recommended": int(table["track_id"].nunique()),
        "catalog_coverage": round(table["track_id"].nunique() / max(len(tracks), 1), 4),
        "notes": inp.notes,
    }
    return table, counts_out, eligible, excluded


def write_pending(
    table: pd.DataFrame, eligible: set[str], warehouse: Path, week: str, excluded: dict[str, str] | None = None
) -> Path:
    """Leave the table, its eligible listeners and the active listeners left out (with why) for the
    validate task, atomically, out of readers' sight."""
    target = pending_dir(warehouse, week)
    stage = staging_dir(target)
    try:
        schema = arrow_schema("discover_weekly")
        (stage / "table").mkdir()
        pq.write_table(
            pa.Table.from_pandas(table[schema.names], schema=schema, preserve_index=False),
            stage / "table" / "part-0.parquet",
            compression="zstd",
        )
        pq.write_table(pa.table({"user_id": sorted(eligible)}), stage / "eligible.parquet")
        left_out = sorted((excluded or {}).items())
        pq.write_table(
            pa.table({"user_id": [u for u, _ in left_out], "reason": [r for _, r in left_out]}, schema=_EXCLUDED),
            stage / "excluded.parquet",
        )
        publish_dir(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return target


def run(config: Config, week: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    table, counts, eligible, excluded = build_table(config, week)
    path = write_pending(table, eligible, config.paths.warehouse, week, excluded)
    seconds = time.perf_counter() - t0
    counts.update(
        {
            "week": week,
            "pending": str(path),
            "seconds": round(seconds, 2),
            "users_per_second": round(counts["eligible"] / max(seconds, 1e-9), 1),
        }
    )
    write_json_atomic(week_dir(config.paths.warehouse, "run_metrics", week) / "merge.json", counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "merge",
        "Blend the week's playlists and leave them for validation.",
        lambda config, week, _: run(config, week),
        argv,
        errors=(MergeError,),
    )


if __name__ == "__main__":
    sys.exit(main())
