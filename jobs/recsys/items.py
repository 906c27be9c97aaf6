"""Items: every track a playlist may hold, aligned by index, with what the ranking needs.

:func:`build_items` joins the week's track vectors (ALS vectors of played tracks, the
CNN's vectors of tracks nobody has played) with the catalog and the cultural tables:
artist index, song key (one version of a song), popularity, titles, cold and new-release
flags, a few cultural terms per artist and each artist's similar artists. Pure: reads
and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from jobs.evaluation.metrics import as_matrix
from jobs.recsys.clusters import unit
from schemas.columns import ARTIST_ID, NEIGHBOR_ID, SCORE, SOURCE, TRACK_ID, VECTOR


@dataclass(frozen=True)
class Items:
    """Every recommendable track, aligned by index: ALS tracks and audio-only (cold) tracks."""

    track_ids: np.ndarray  # str
    artist_idx: np.ndarray  # int, index into artist_names
    song_key: np.ndarray  # int: same value = same song (title + artist)
    vectors: np.ndarray  # float32 (n_items, rank), all in the ALS space
    popularity: np.ndarray  # listeners with a counted play in the window (0 for cold tracks)
    artist_names: np.ndarray  # str
    titles: np.ndarray | None = None  # str
    is_cold: np.ndarray | None = None  # bool: nobody has played it (vector from audio)
    is_new: np.ndarray | None = None  # bool: released in the last merge.new_release_days
    artist_terms: np.ndarray | None = None  # str per artist: a few cultural terms, "" when none
    artist_neighbours: dict[int, tuple[np.ndarray, np.ndarray]] | None = None  # artist -> (neighbours, sims)
    artist_ids: np.ndarray | None = None  # str, sorted: artist index i's id (the one artist index)
    audio: np.ndarray | None = None  # float32 (n_items, d): unit audio-CNN vector (taste clusters); 0 where none
    has_audio: np.ndarray | None = None  # bool: the item has an audio vector
    recent: np.ndarray | None = None  # listeners of merge.popularity_days (the prior's); None: popularity
    prior_scale: float = 1.0  # n / (n + merge.popularity_shrinkage), n = listeners in the window

    def cold(self) -> np.ndarray:
        return self.is_cold if self.is_cold is not None else np.zeros(len(self.track_ids), dtype=bool)

    @cached_property
    def normed(self) -> np.ndarray:
        """Item vectors scaled to unit length (for "sounds like" explanations)."""
        return self.vectors / np.maximum(np.linalg.norm(self.vectors, axis=1, keepdims=True), 1e-9)

    @cached_property
    def cold_index(self) -> Any:
        """An Annoy index of the never-played tracks' vectors by inner product (item ``i`` = the ``i``-th cold
        track), for catalogs too big to score every one (``merge.annoy_min_cold``); built once, on first use."""
        from jobs.sequence.ann import build_inner_product_index

        return build_inner_product_index(self.vectors[self.cold()], n_trees=20, seed=0)

    @property
    def prior(self) -> np.ndarray:
        """The listeners the blend's popularity prior counts: ``recent`` where set, else the window's ``popularity``."""
        return self.popularity if self.recent is None else self.recent

    @cached_property
    def prior_top(self) -> float:
        """The most listeners :attr:`prior` counts for one item (0 with no items): the prior's scale."""
        return float(self.prior.max(initial=0.0))

    @cached_property
    def gram(self) -> np.ndarray:
        """``Y'Y`` over the played (warm) items' ALS vectors, float64: the shared part of every
        listener's ALS solve (:func:`jobs.recsys.explanations.seed_contributions`)."""
        warm = self.vectors[~self.cold()].astype(np.float64)
        return warm.T @ warm

    @cached_property
    def popularity_order(self) -> np.ndarray:
        """Item indices by popularity, most listeners first (ties by index)."""
        return np.lexsort((np.arange(len(self.track_ids)), -self.popularity))

    @cached_property
    def items_by_artist(self) -> tuple[np.ndarray, np.ndarray]:
        """``(items, starts)``: item indices grouped by artist; artist ``a``'s are ``items[starts[a]:starts[a + 1]]``."""
        order = np.argsort(self.artist_idx, kind="stable")
        starts = np.searchsorted(self.artist_idx[order], np.arange(len(self.artist_names) + 1))
        return order, starts


def build_items(
    track_vectors: pd.DataFrame,
    listeners: pd.Series,
    tracks: pd.DataFrame,
    artists: pd.DataFrame,
    new_since: Any = None,
    terms: pd.DataFrame | None = None,
    similarity: pd.DataFrame | None = None,
    released_before: Any = None,
    audio_vectors: pd.DataFrame | None = None,
) -> Items:
    """Align track vectors (``source`` als or audio) with the catalog and the cultural tables.

    ``listeners`` is listeners with a counted play per track_id in the window; ``new_since`` a date from which
    a release counts as new; ``terms``/``similarity`` the cultural tables (may be empty);
    tracks released on or after ``released_before`` (the week's Monday) are left out;
    ``audio_vectors`` (the CNN's prediction per track with audio) become unit rows of ``audio``.
    """
    f = track_vectors.merge(tracks[[TRACK_ID, "title", ARTIST_ID, "release_date"]], on=TRACK_ID, how="inner")
    if released_before is not None:  # a track that is not out yet is never recommended
        out = pd.to_datetime(f["release_date"]).isna() | (
            pd.to_datetime(f["release_date"]) < pd.Timestamp(released_before)
        )
        f = f[out.to_numpy()]
    f = f.sort_values(TRACK_ID, ignore_index=True)
    names = artists.set_index(ARTIST_ID)["name"]
    artist_ids = np.array(sorted(set(f[ARTIST_ID]) | set(names.index)))
    a_index = {a: i for i, a in enumerate(artist_ids)}
    song = f[ARTIST_ID] + "\x00" + f["title"].str.lower().str.strip()
    is_new = np.zeros(len(f), dtype=bool)
    if new_since is not None:
        is_new = (pd.to_datetime(f["release_date"]) >= pd.Timestamp(new_since)).fillna(False).to_numpy()
    artist_terms = np.array([""] * len(artist_ids), dtype=object)
    if terms is not None and len(terms):
        top = terms[terms["term_type"].isin(["adj", "np"])].sort_values(
            [ARTIST_ID, SCORE, "term_type", "term"], ascending=[True, False, True, True]
        )
        for a, g in top.groupby(ARTIST_ID):
            if a in a_index:
                artist_terms[a_index[a]] = ", ".join(list(dict.fromkeys(g["term"]))[:3])
    neighbours: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if similarity is not None and len(similarity):
        sim = similarity[similarity[ARTIST_ID].isin(a_index) & similarity[NEIGHBOR_ID].isin(a_index)]
        for a, g in sim.groupby(ARTIST_ID):
            neighbours[a_index[a]] = (
                g[NEIGHBOR_ID].map(a_index).to_numpy(dtype=np.int64),
                g["similarity"].to_numpy(dtype=np.float64),
            )
    return Items(
        track_ids=f[TRACK_ID].to_numpy(dtype=object),
        artist_idx=f[ARTIST_ID].map(a_index).to_numpy(dtype=np.int64),
        song_key=pd.factorize(song)[0],
        vectors=as_matrix(f[VECTOR]),
        popularity=f[TRACK_ID].map(listeners).fillna(0).to_numpy(dtype=np.float64),
        artist_names=names.reindex(artist_ids).fillna("an artist you play").to_numpy(dtype=object),
        artist_ids=artist_ids,
        titles=f["title"].to_numpy(dtype=object),
        is_cold=(f[SOURCE] == "audio").to_numpy(),
        is_new=is_new,
        artist_terms=artist_terms,
        artist_neighbours=neighbours,
        **_audio(f[TRACK_ID], audio_vectors),
    )


def _audio(track_ids: pd.Series, audio_vectors: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """``audio``/``has_audio`` aligned with ``track_ids`` (nothing when there are no audio vectors)."""
    if audio_vectors is None or audio_vectors.empty:
        return {}
    index = pd.Series(np.arange(len(audio_vectors)), index=audio_vectors[TRACK_ID].to_numpy())
    rows = track_ids.map(index)
    has = rows.notna().to_numpy()
    matrix = unit(as_matrix(audio_vectors[VECTOR]))
    out = np.zeros((len(track_ids), matrix.shape[1]), dtype=np.float32)
    out[has] = matrix[rows[has].to_numpy(dtype=np.int64)]
    return {"audio": out, "has_audio": has}


def procrustes(V: np.ndarray, ids: dict[str, int], ref_V: np.ndarray, ref_ids: dict[str, int]) -> np.ndarray:
    """The rotation ``R`` that best maps one ALS fit's item vectors onto another's over their shared items
    (orthogonal Procrustes: ``V[shared] @ R ~ ref_V[shared]``); the identity when they share too few or differ
    in length. Each weekly fit's axes are its own: rotated onto the newest fit, coordinates of different
    weeks mean the same thing, while dot products within a fit are unchanged."""
    shared = sorted(set(ids) & set(ref_ids))
    if V.shape[1] != ref_V.shape[1] or len(shared) < 2 * V.shape[1]:
        return np.eye(V.shape[1], dtype=np.float32)
    A = V[[ids[t] for t in shared]].astype(np.float64)
    B = ref_V[[ref_ids[t] for t in shared]].astype(np.float64)
    u, _, vt = np.linalg.svd(A.T @ B)
    return (u @ vt).astype(np.float32)


def rotation_between(
    before: pd.DataFrame, now: pd.DataFrame, normalise: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """:func:`procrustes` of two weeks' ``(track_id, vector)`` tables, each vector normalised first: turns a
    model trained on ``before``'s axes onto ``now``'s (the warm starts of the audio CNN and the taste RNN)."""
    return procrustes(
        normalise(as_matrix(before[VECTOR])),
        {t: i for i, t in enumerate(before[TRACK_ID])},
        normalise(as_matrix(now[VECTOR])),
        {t: i for i, t in enumerate(now[TRACK_ID])},
    )
