"""Reference recommenders: naive and standard systems to put beside the pipeline's playlists.

Each is a pure function of a plays frame (``user_id, track_id, played_at, ms_played``, one
row a play, everything strictly before the week being predicted) and returns, for each
listener asked about, the ``k`` best tracks that listener never played, best first:

* :func:`most_popular`: tracks by how many listeners played them, over all history;
* :func:`most_popular_recent`: the same over the ``weeks`` (4) before ``cutoff`` only, ties
  (tracks nobody played lately among them) broken by all-history listeners;
* :func:`implicit_als`: the ``implicit`` library's CPU ALS on the whole history, fixed settings
  (:data:`ALS_REFERENCE`: 64 factors, alpha 1, reg 0.1, 15 iterations, seed 0; confidence
  ``1 + alpha * log(1 + plays)``, the project's recipe; exact Cholesky solves);
* :func:`item_knn`: item-based nearest neighbours, cosine similarity of the tracks' sets of
  listeners; each track keeps its ``neighbours`` (20, the ``implicit`` library's default)
  most similar tracks, and a listener's score for a track is the sum of its similarities
  to the tracks they played (Deshpande and Karypis 2004).

Plays shorter than ``min_ms`` (30 s) are skips: they count for nothing, but a skipped
track is heard and never recommended, as in the pipeline. Ties go to the track with the
smaller id. The ``*_ranking`` functions underneath take (listener, track, plays) pairs
and return a :class:`Ranking` (every score, for percentile ranks), so they also serve data
that has only totals (Last.fm 2k, :mod:`studies.lastfm_als`).

Reference scores the pipeline's own jobs put beside their headline numbers (one helper,
several callers):

* :func:`popularity_scores`: most popular all-time, or most popular of the recent weeks with
  all-time counts ordering the ties (the ALS job's holdout, the offline evaluation);
* :func:`track_listeners` and :func:`recent_listeners`: listeners with a counted play per
  track, over a plays frame or in the ``weeks`` before a cutoff.

Popularity is always a count of listeners, never of plays: one listener who repeats a
track 500 times makes it exactly as popular as one who played it once.
* :func:`artist_mean_plays`: a track scored by its artist's mean counted plays per track, the
  naive cold-start scorer (the audio CNN's cold-start evaluation);
* :func:`genre_shares` and :func:`genre_oracle_scores`: a listener's share of plays per true
  genre times the track's true genre, a reference that reads the sample world's ``truth/``.

Reads and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from jobs.config import AlsConf
from jobs.recsys.ranking import Ranking
from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID

MIN_MS = AlsConf().min_ms_played  # a shorter play is a skip, as for ALS
ALS_REFERENCE = AlsConf(rank=64, alpha=1.0, reg_param=0.1, max_iter=15, eps=1.0, seed=0)
KNN_NEIGHBOURS = 20
RECENT_WEEKS = 4


def _ids(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``user_id`` and ``track_id`` as strings (ids read from files may come as numbers)."""
    return frame.astype({USER_ID: str, TRACK_ID: str})


def counted_pairs(plays: pd.DataFrame, min_ms: int = MIN_MS) -> pd.DataFrame:
    """``(user_id, track_id, plays)``: counted plays (``ms_played >= min_ms``) per listener and track."""
    counted = _ids(plays[plays[MS_PLAYED] >= min_ms])
    return counted.groupby([USER_ID, TRACK_ID], as_index=False).size().rename(columns={"size": "plays"})


def heard_pairs(plays: pd.DataFrame) -> pd.DataFrame:
    """Distinct ``(user_id, track_id)`` ever played, skips included: never recommended again."""
    return _ids(plays[[USER_ID, TRACK_ID]]).drop_duplicates(ignore_index=True)


def exclude_heard(scores: np.ndarray, users: np.ndarray, items: np.ndarray, heard: pd.DataFrame) -> np.ndarray:
    """``scores`` (``users x items``) with -inf, in place, where ``heard`` says the listener played the track."""
    user_pos = pd.Series(np.arange(len(users)), index=users)
    item_pos = pd.Series(np.arange(len(items)), index=items)
    heard = _ids(heard)
    h = heard[heard[USER_ID].isin(user_pos.index) & heard[TRACK_ID].isin(item_pos.index)]
    scores[user_pos[h[USER_ID]].to_numpy(), item_pos[h[TRACK_ID]].to_numpy()] = -np.inf
    return scores


def _users(users: Iterable[str]) -> np.ndarray:
    return np.array(sorted({str(u) for u in users}), dtype=object)


def listener_counts(pairs: pd.DataFrame) -> pd.Series:
    """Listeners per track (tracks sorted by id)."""
    return pairs.groupby(TRACK_ID)[USER_ID].nunique().sort_index()


def popularity_ranking(
    pairs: pd.DataFrame, heard: pd.DataFrame, users: Iterable[str], tie_break: pd.Series | None = None
) -> Ranking:
    """Tracks by number of listeners in ``pairs``; ``tie_break`` (a per-track count) orders equal ones.

    The items are every track of ``pairs`` and of ``tie_break``.
    """
    u = _users(users)
    pop = listener_counts(_ids(pairs))
    if tie_break is not None:
        tie_break = tie_break.astype(np.float64)
        pop = pop.reindex(pop.index.union(tie_break.index), fill_value=0).astype(np.float64)
        pop += tie_break.reindex(pop.index, fill_value=0.0) / (tie_break.max() + 1.0)  # < 1: only orders ties
    items = pop.index.to_numpy(dtype=object)
    scores = np.tile(pop.to_numpy(dtype=np.float64), (len(u), 1))
    return Ranking(u, items, exclude_heard(scores, u, items, heard))


def als_ranking(
    pairs: pd.DataFrame, heard: pd.DataFrame, users: Iterable[str], conf: AlsConf = ALS_REFERENCE
) -> Ranking:
    """``implicit``'s ALS fitted on ``pairs`` (``plays`` per pair), scores = user vector . item vector.

    A listener without a counted play has no vector: every track scores 0 for them.
    """
    from jobs.recsys.implicit_als import confidence_matrix, fit_implicit

    u = _users(users)
    matrix, fit_users, items = confidence_matrix(_ids(pairs), conf, column="plays")
    user_f, item_f, _ = fit_implicit(matrix, conf)
    user_f, item_f = np.asarray(user_f, dtype=np.float64), np.asarray(item_f, dtype=np.float64)
    pos = pd.Series(np.arange(len(fit_users)), index=fit_users.astype(object))
    known = pd.Index(u).isin(pos.index)
    vecs = np.zeros((len(u), user_f.shape[1]))
    vecs[known] = user_f[pos[u[known]].to_numpy()]
    items = items.astype(object)
    return Ranking(u, items, exclude_heard(vecs @ item_f.T, u, items, heard))


def knn_similarity(pairs: pd.DataFrame, neighbours: int = KNN_NEIGHBOURS) -> tuple[object, np.ndarray, np.ndarray]:
    """Item-item cosine of the tracks' listener sets, each track's ``neighbours`` best kept.

    Returns ``(W, users, items)``: ``W`` a sparse ``items x items`` matrix whose row ``j``
    holds the similarities of track ``j``'s nearest tracks (not itself; ties: the smaller
    index), and the sorted user and item ids of ``pairs``.
    """
    from scipy.sparse import csr_matrix

    pairs = _ids(pairs)
    users, ui = np.unique(pairs[USER_ID].to_numpy(dtype=str), return_inverse=True)
    items, ii = np.unique(pairs[TRACK_ID].to_numpy(dtype=str), return_inverse=True)
    X = csr_matrix((np.ones(len(ui)), (ui, ii)), shape=(len(users), len(items)))
    X.data[:] = 1.0  # binary: played or not (duplicate pairs were summed)
    norms = np.sqrt(np.asarray(X.sum(axis=0)).ravel())
    Xn = X.multiply(1.0 / np.where(norms > 0, norms, 1.0)[None, :]).tocsc()
    S = (Xn.T @ Xn).tocsr()
    S.setdiag(0.0)
    S.eliminate_zeros()
    rows, cols, vals = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for j in range(S.shape[0]):
        start, end = S.indptr[j], S.indptr[j + 1]
        c, v = S.indices[start:end], S.data[start:end]
        keep = np.lexsort((c, -v))[:neighbours]
        rows.append(np.full(len(keep), j, dtype=np.int64))
        cols.append(c[keep].astype(np.int64))
        vals.append(v[keep])
    W = csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=S.shape)
    return W, users.astype(object), items.astype(object)


def knn_ranking(
    pairs: pd.DataFrame, heard: pd.DataFrame, users: Iterable[str], neighbours: int = KNN_NEIGHBOURS
) -> Ranking:
    """Item-kNN scores: for each track, the sum of its similarity to the tracks the listener played."""
    from scipy.sparse import csr_matrix

    u = _users(users)
    pairs = _ids(pairs)
    W, _, items = knn_similarity(pairs, neighbours)
    item_pos = pd.Series(np.arange(len(items)), index=items)
    user_pos = pd.Series(np.arange(len(u)), index=u)
    p = pairs[pairs[USER_ID].isin(user_pos.index)]
    H = csr_matrix(
        (np.ones(len(p)), (user_pos[p[USER_ID]].to_numpy(), item_pos[p[TRACK_ID]].to_numpy())),
        shape=(len(u), len(items)),
    )
    H.data[:] = 1.0
    scores = np.asarray((H @ W).todense(), dtype=np.float64)
    return Ranking(u, items, exclude_heard(scores, u, items, heard))


# --- reference scores beside the jobs' headline numbers ---------------------------------------


def popularity_scores(item_ids: Sequence[str], all_time: pd.Series, recent: pd.Series | None = None) -> np.ndarray:
    """A popularity score per item of ``item_ids`` (missing ones count 0): ``all_time`` counts, or, with
    ``recent``, the recent counts with the all-time counts ordering equal ones (they add less than 1)."""
    total = all_time.reindex(pd.Index(item_ids)).fillna(0).to_numpy(dtype=np.float64)
    if recent is None:
        return total
    now = recent.reindex(pd.Index(item_ids)).fillna(0).to_numpy(dtype=np.float64)
    return now + total / (total.max(initial=0.0) + 1.0)


def track_listeners(plays: pd.DataFrame, min_ms: int = MIN_MS) -> pd.Series:
    """Distinct listeners with a counted play (``ms_played >= min_ms``) per track, as float64."""
    counted = _ids(plays[plays[MS_PLAYED] >= min_ms])
    return counted.groupby(TRACK_ID)[USER_ID].nunique().astype(np.float64)


def recent_listeners(
    plays: pd.DataFrame, cutoff: dt.datetime, weeks: float = RECENT_WEEKS, min_ms: int = MIN_MS
) -> pd.Series:
    """:func:`track_listeners` of the plays in ``[cutoff - weeks, cutoff)`` (weeks may be a fraction)."""
    at = pd.to_datetime(plays[PLAYED_AT], utc=True)
    keep = (at >= pd.Timestamp(cutoff - dt.timedelta(weeks=weeks))) & (at < pd.Timestamp(cutoff))
    return track_listeners(plays[keep.to_numpy()], min_ms)


def artist_mean_plays(track_ids: Sequence[str], plays: pd.Series, artist_of: pd.Series) -> np.ndarray:
    """Each track's artist's mean counted plays per track, over the tracks in ``plays`` (track -> plays).

    ``artist_of`` maps track to artist. A track whose artist has no track in ``plays`` gets the
    mean over all of them; this is the score an unplayed track can have from popularity alone.
    """
    by_artist = pd.DataFrame({"plays": plays.astype(np.float64), "artist": plays.index.map(artist_of)})
    mean = by_artist.groupby("artist")["plays"].mean()
    fallback = float(plays.mean()) if len(plays) else 0.0
    return pd.Index(track_ids).map(artist_of).map(mean).fillna(fallback).to_numpy(dtype=np.float64)


def genre_shares(pairs: pd.DataFrame, genre_of: pd.Series) -> pd.DataFrame:
    """``users x genres``: each listener's share of counted plays (``pairs``: user_id, track_id, plays) per genre.

    ``genre_of`` maps track to genre; plays of tracks without one are left out.
    """
    g = pairs.assign(genre=pairs[TRACK_ID].map(genre_of)).dropna(subset=["genre"])
    table = g.pivot_table(index=USER_ID, columns="genre", values="plays", aggfunc="sum", fill_value=0.0)
    return table.div(table.sum(axis=1), axis=0)


def genre_oracle_scores(
    shares: pd.DataFrame, user_ids: Sequence[str], track_genres: Sequence[str | None]
) -> np.ndarray:
    """``users x tracks``: the listener's play share of the track's genre (0 for an unknown listener or genre)."""
    s = shares.reindex(index=pd.Index(user_ids)).fillna(0.0)
    cols = pd.Index(s.columns).get_indexer(pd.Index(track_genres))
    out = np.zeros((len(user_ids), len(cols)))
    known = cols >= 0
    out[:, known] = s.to_numpy(dtype=np.float64)[:, cols[known]]
    return out


# --- the four references on a plays frame ----------------------------------------------------


def _before(plays: pd.DataFrame, cutoff: dt.datetime | None) -> pd.DataFrame:
    if cutoff is None:
        return plays
    if (pd.to_datetime(plays[PLAYED_AT], utc=True) >= pd.Timestamp(cutoff)).any():
        raise ValueError(f"plays on or after the cutoff {cutoff:%Y-%m-%d %H:%M}: a reference must not see them")
    return plays


def most_popular_ranking(plays: pd.DataFrame, users: Iterable[str], min_ms: int = MIN_MS) -> Ranking:
    return popularity_ranking(counted_pairs(plays, min_ms), heard_pairs(plays), users)


def most_popular_recent_ranking(
    plays: pd.DataFrame, cutoff: dt.datetime, users: Iterable[str], weeks: int = RECENT_WEEKS, min_ms: int = MIN_MS
) -> Ranking:
    plays = _before(plays, cutoff)
    recent = plays[pd.to_datetime(plays[PLAYED_AT], utc=True) >= pd.Timestamp(cutoff - dt.timedelta(weeks=weeks))]
    everything = listener_counts(counted_pairs(plays, min_ms))
    return popularity_ranking(counted_pairs(recent, min_ms), heard_pairs(plays), users, tie_break=everything)


def implicit_als_ranking(
    plays: pd.DataFrame, users: Iterable[str], conf: AlsConf = ALS_REFERENCE, min_ms: int = MIN_MS
) -> Ranking:
    return als_ranking(counted_pairs(plays, min_ms), heard_pairs(plays), users, conf)


def item_knn_ranking(
    plays: pd.DataFrame, users: Iterable[str], neighbours: int = KNN_NEIGHBOURS, min_ms: int = MIN_MS
) -> Ranking:
    return knn_ranking(counted_pairs(plays, min_ms), heard_pairs(plays), users, neighbours)


def most_popular(plays: pd.DataFrame, users: Sequence[str], k: int = 30) -> dict[str, list[str]]:
    """Per listener, the ``k`` unheard tracks with the most listeners over all of ``plays``."""
    return most_popular_ranking(plays, users).top_k(k)


def most_popular_recent(
    plays: pd.DataFrame, cutoff: dt.datetime, users: Sequence[str], k: int = 30, weeks: int = RECENT_WEEKS
) -> dict[str, list[str]]:
    """Per listener, the ``k`` unheard tracks with the most listeners in the ``weeks`` before ``cutoff``."""
    return most_popular_recent_ranking(plays, cutoff, users, weeks).top_k(k)


def implicit_als(
    plays: pd.DataFrame, users: Sequence[str], k: int = 30, conf: AlsConf = ALS_REFERENCE
) -> dict[str, list[str]]:
    """Per listener, the ``k`` unheard tracks ``implicit``'s ALS on all of ``plays`` scores highest."""
    return implicit_als_ranking(plays, users, conf).top_k(k)


def item_knn(
    plays: pd.DataFrame, users: Sequence[str], k: int = 30, neighbours: int = KNN_NEIGHBOURS
) -> dict[str, list[str]]:
    """Per listener, the ``k`` unheard tracks item-kNN (cosine) scores highest."""
    return item_knn_ranking(plays, users, neighbours).top_k(k)


def references(plays: pd.DataFrame, cutoff: dt.datetime, users: Sequence[str]) -> dict[str, Ranking]:
    """The four references for ``users`` from ``plays`` before ``cutoff`` (which is checked)."""
    plays = _before(plays, cutoff)
    return {
        "most_popular": most_popular_ranking(plays, users),
        "most_popular_4w": most_popular_recent_ranking(plays, cutoff, users),
        "implicit_als": implicit_als_ranking(plays, users),
        "item_knn": item_knn_ranking(plays, users),
    }
