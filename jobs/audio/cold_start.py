"""Cold-start evaluation of the audio CNN: hold out played tracks as if new and rank them, all in one ALS space.

Reads nothing from disk: :func:`cold_start_eval` takes the week's spectrograms, item
factors (``track_id``, ``plays``, ``vector``), play counts (``user_id``, ``track_id``,
``plays``, ``weight``) and the catalog's tracks, refits ALS without the held-out tracks'
plays (the ``implicit`` library's CPU ALS, :func:`refit_without`), trains a CNN on the
refit's vectors (:func:`jobs.audio.cnn.train_model`) and scores every scorer twice:

* within the held-out pool (``metrics``): each listener ranks the held-out tracks only, by
  AUC, recall@k and mAP (:func:`rank_metrics`);
* against the whole catalog (``whole_catalog``): each listener ranks every track with audio
  they have not played (the held-out tracks among them), by AUC and recall@k per listener
  (:func:`catalog_metrics`), the CNN beside two references from
  :mod:`jobs.recsys.baselines`: the artist's mean plays per track (popularity alone) and,
  when the caller passes the true genres, a genre oracle (the listener's play share of the
  track's genre); 95% intervals over listeners and CNN-minus-reference paired intervals
  (:func:`jobs.evaluation.stats.compare`).

``jobs.audio_cnn evaluate`` (the DAG's ``audio_eval`` task) writes its result as
``run_metrics/week=W/audio_eval.json``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from jobs.audio.cnn import l2_normalise, predict, train_model
from jobs.config import AlsConf, Config
from jobs.evaluation.metrics import auc, average_precision, recall_at_k, top_k_masked
from jobs.evaluation.stats import compare
from jobs.recsys.baselines import artist_mean_plays, genre_oracle_scores, genre_shares
from jobs.recsys.implicit_als import confidence_matrix, fit_implicit
from schemas.columns import ARTIST_ID, TRACK_ID, USER_ID


def fold_in_users(
    counts: pd.DataFrame, item_ids: np.ndarray, item_vecs: np.ndarray, alpha: float, eps: float, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """ALS user step with items fixed: ``u = (Y'CuY + reg I)^-1 Y'Cu p`` (Hu, Koren, Volinsky 2008).

    ``counts`` has user_id, track_id, weight; tracks not in ``item_ids`` are ignored.
    Returns (user ids, user vectors).
    """
    index = pd.Series(np.arange(len(item_ids)), index=item_ids)
    c = counts[counts[TRACK_ID].isin(index.index)]
    Y = item_vecs.astype(np.float64)
    YtY = Y.T @ Y
    reg_eye = reg * np.eye(Y.shape[1])
    users, vecs = [], []
    for uid, g in c.groupby(USER_ID, sort=True):
        idx = index[g[TRACK_ID]].to_numpy()
        conf = alpha * np.log1p(g["weight"].to_numpy() / eps)  # C - 1 on observed items
        Yu = Y[idx]
        A = YtY + (Yu.T * conf) @ Yu + reg_eye
        b = Yu.T @ (1.0 + conf)
        users.append(uid)
        vecs.append(np.linalg.solve(A, b))
    return np.array(users, dtype=object), np.array(vecs, dtype=np.float32).reshape(len(vecs), Y.shape[1])


def rank_metrics(
    user_vecs: np.ndarray, truth: list[set[int]], scorers: dict[str, Any], k: int
) -> dict[str, dict[str, float]]:
    """AUC, recall@k and mAP of each scorer over the held-out items, per user then averaged.

    ``scorers`` maps a name to a function ``user_vecs -> (n_users, n_items)`` scores.
    """
    out = {}
    for name, scorer in scorers.items():
        scores = scorer(user_vecs)
        aucs, aps, recs = [], [], []
        for r, rel in enumerate(truth):
            positives = np.zeros(scores.shape[1], dtype=bool)
            positives[list(rel)] = True
            ranked = np.lexsort((np.arange(scores.shape[1]), -scores[r]))
            aucs.append(auc(scores[r], positives))
            aps.append(average_precision(ranked, rel))
            recs.append(ranked)
        out[name] = {
            "auc": float(np.nanmean(aucs)),
            f"recall@{k}": recall_at_k(recs, truth, k),
            "map": float(np.nanmean(aps)),
            "users": float(len(truth)),
        }
    return out


def catalog_metrics(
    scores: dict[str, np.ndarray], heard: np.ndarray, positives: np.ndarray, k: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per listener (row) and scorer: AUC and recall@k of the ``positives`` among the tracks not ``heard``.

    ``scores[name]``, ``heard`` and ``positives`` are ``listeners x catalog``; positives are
    never heard. AUC is NaN for a listener with no positive or no other candidate.
    """
    out = {}
    for name, sc in scores.items():
        sc = np.asarray(sc, dtype=np.float64)
        top = top_k_masked(sc, heard, k)
        hits = np.take_along_axis(positives, top, axis=1).sum(axis=1)
        n_pos = positives.sum(axis=1)
        aucs = np.array([auc(sc[r, ~heard[r]], positives[r, ~heard[r]]) for r in range(len(sc))])
        out[name] = {"auc": aucs, f"recall@{k}": hits / np.maximum(np.minimum(n_pos, k), 1)}
    return out


def refit_without(
    counts: pd.DataFrame, held_ids: Any, conf: AlsConf
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ALS refitted on ``counts`` without any play of ``held_ids``: (user ids, U, item ids, V).

    Same rank, regularisation, alpha, eps, iterations and seed as the week's Spark fit,
    with the ``implicit`` library (2 threads, exact solves). Listeners whose only plays
    were of held-out tracks drop out. Nothing here depends on the held-out plays.
    """
    kept = counts[~counts[TRACK_ID].isin(set(held_ids))].sort_values([USER_ID, TRACK_ID], ignore_index=True)
    matrix, users, items = confidence_matrix(kept, conf)
    U, V, _ = fit_implicit(matrix, conf)
    return users, np.asarray(U, dtype=np.float32), items, np.asarray(V, dtype=np.float32)


def cold_start_eval(
    spec_by_track: dict[str, np.ndarray],
    items: pd.DataFrame,
    counts: pd.DataFrame,
    tracks: pd.DataFrame,
    config: Config,
    genre_of: pd.Series | None = None,
) -> dict[str, Any]:
    """Hold out a share of the played tracks as if new and rank them for every listener, all in one ALS space.

    1. ``holdout_share`` of the tracks with plays and audio are held out (seeded).
    2. ALS is refitted without any of their plays (:func:`refit_without`): the week's
       item vectors saw those plays, so training the CNN on them would leak.
    3. The CNN is trained on the refit's vectors of the kept tracks and predicts a
       vector for every held-out track from its audio alone.
    4. Every listener of the refit ranks the held-out tracks by user vector times
       scorer vector; AUC, recall@k and mAP against the listener's plays of them.

    Scorers: ``audio_cnn``; ``random``; ``artist_total_popularity`` (plays of the
    artist's kept tracks, summed) and ``artist_mean_popularity`` (their mean plays per
    track), real cold-start signals; and two references no cold-start system has:
    ``track_popularity_oracle`` (the held-out track's own plays) and
    ``als_fold_in_upper_bound`` (the held-out tracks folded into the refit's space with
    the ALS item step against its user vectors, from their plays).

    5. The same listeners rank every track with audio they have not played, the held-out
       ones among them (``whole_catalog``): the CNN's vectors of all of them (for the kept
       tracks, its prediction from their audio, as for the held-out ones; they were its
       training tracks) against ``artist_mean_popularity`` (the artist's mean plays per
       kept track) and, with ``genre_of`` (track -> true genre), ``genre_oracle``.
    """
    conf, als = config.audio_cnn, config.als
    rng = np.random.default_rng(conf.seed + 1)
    playable = items[items[TRACK_ID].isin(spec_by_track)].sort_values(TRACK_ID, ignore_index=True)
    held = np.zeros(len(playable), dtype=bool)
    held[rng.choice(len(playable), round(len(playable) * conf.holdout_share), replace=False)] = True
    held_ids = playable.loc[held, TRACK_ID].to_numpy()
    kept = playable[~held]
    enough = kept[kept["plays"] >= conf.min_plays]
    if len(enough) < 10 or len(held_ids) < 2:  # checked before the refit, which needs plays to fit
        return {"skipped": f"too few tracks ({len(enough)} to train, {len(held_ids)} held out)"}
    t0 = time.perf_counter()
    users, U, item_ids, V = refit_without(counts, held_ids, als)
    refit_seconds = time.perf_counter() - t0
    refit_vec = dict(zip(item_ids, V, strict=True))
    train = enough[enough[TRACK_ID].isin(refit_vec)]
    if len(train) < 10:
        return {"skipped": f"too few tracks ({len(train)} to train, {len(held_ids)} held out)"}
    model, prep, history = train_model(
        [spec_by_track[t] for t in train[TRACK_ID]],
        l2_normalise(np.stack([refit_vec[t] for t in train[TRACK_ID]])),
        conf,
        conf.seed,
    )
    catalog_ids = np.array(sorted(spec_by_track), dtype=object)
    predicted_all = predict(model, prep, [spec_by_track[t] for t in catalog_ids])
    catalog_pos = pd.Series(np.arange(len(catalog_ids)), index=catalog_ids)
    predicted = predicted_all[catalog_pos[held_ids].to_numpy()]
    held_index = {t: i for i, t in enumerate(held_ids)}
    held_counts = counts[counts[TRACK_ID].isin(held_index)]
    truth_by_user = held_counts.groupby(USER_ID)[TRACK_ID].agg(set)
    rows = [(i, {held_index[t] for t in truth_by_user[u]}) for i, u in enumerate(users) if u in truth_by_user.index]
    if not rows:
        return {"skipped": "no listener played a held-out track"}
    sel = np.array([i for i, _ in rows])
    truth = [t for _, t in rows]
    # the item step of ALS with the refit's user vectors fixed: fold_in_users with the roles swapped
    swapped = held_counts.rename(columns={USER_ID: TRACK_ID, TRACK_ID: USER_ID})
    folded_ids, folded = fold_in_users(swapped, users, U, als.alpha, als.eps, als.reg_param)
    true_vecs = np.zeros((len(held_ids), U.shape[1]), dtype=np.float32)
    for t, v in zip(folded_ids, folded, strict=True):
        true_vecs[held_index[t]] = v
    artist_of = tracks.set_index(TRACK_ID)[ARTIST_ID]
    others = items[~items[TRACK_ID].isin(held_index)]
    by_artist = others.assign(artist=others[TRACK_ID].map(artist_of)).groupby("artist")["plays"]
    total = by_artist.sum()
    held_artists = [artist_of.get(t) for t in held_ids]
    artist_total = np.array([total.get(a, 0.0) for a in held_artists], dtype=np.float64)
    artist_mean = artist_mean_plays(held_ids, others.set_index(TRACK_ID)["plays"], artist_of)
    rand = np.random.default_rng(conf.seed + 2)
    own_plays = playable.set_index(TRACK_ID).loc[held_ids, "plays"].to_numpy(dtype=np.float64)
    n_held = len(held_ids)
    scorers = {
        "audio_cnn": lambda u: u @ predicted.T,
        "random": lambda u: rand.random((len(u), n_held)),
        "artist_total_popularity": lambda u: np.broadcast_to(artist_total, (len(u), n_held)),
        "artist_mean_popularity": lambda u: np.broadcast_to(artist_mean, (len(u), n_held)),
        # references that peek at the held-out tracks' own plays; no cold-start system has these
        "track_popularity_oracle": lambda u: np.broadcast_to(own_plays, (len(u), n_held)),
        "als_fold_in_upper_bound": lambda u: u @ true_vecs.T,
    }
    metrics = rank_metrics(U[sel], truth, scorers, conf.eval_k)
    whole = whole_catalog(
        users[sel], U[sel], counts, held_ids, catalog_ids, predicted_all, others, artist_of, genre_of, conf.eval_k
    )
    return {
        "held_out_tracks": len(held_ids),
        "train_tracks": len(train),
        "listeners": len(truth),
        "refit": {
            "library": "implicit (CPU ALS, exact solves, 2 threads)",
            "users": len(users),
            "items": len(item_ids),
            "seconds": round(refit_seconds, 2),
        },
        "history": {k: v for k, v in history.items() if k not in ("train_loss", "val_loss")},
        "baselines": {
            "artist_total_popularity": "summed plays of the artist's other (kept) tracks",
            "artist_mean_popularity": "mean plays per kept track of the artist (all kept tracks' mean if none)",
            "track_popularity_oracle": "the held-out track's own plays (a leak; reference only)",
            "als_fold_in_upper_bound": "held-out tracks folded into the refit with their plays (reference only)",
        },
        "metrics": metrics,
        "whole_catalog": whole,
    }


def whole_catalog(
    user_ids: np.ndarray,
    U: np.ndarray,
    counts: pd.DataFrame,
    held_ids: np.ndarray,
    catalog_ids: np.ndarray,
    predicted: np.ndarray,
    kept_items: pd.DataFrame,
    artist_of: pd.Series,
    genre_of: pd.Series | None,
    k: int,
) -> dict[str, Any]:
    """Step 5 of :func:`cold_start_eval`: each listener's held-out tracks among every unplayed track with audio.

    ``kept_items`` (track_id, plays) are the tracks whose plays the refit saw; the
    references see only those plays.
    """
    pos = pd.Series(np.arange(len(catalog_ids)), index=catalog_ids)
    row = pd.Series(np.arange(len(user_ids)), index=user_ids)
    mine = counts[counts[USER_ID].isin(row.index) & counts[TRACK_ID].isin(pos.index)]
    r, c = row[mine[USER_ID]].to_numpy(), pos[mine[TRACK_ID]].to_numpy()
    held = mine[TRACK_ID].isin(set(held_ids)).to_numpy()
    heard = np.zeros((len(user_ids), len(catalog_ids)), dtype=bool)
    positives = np.zeros_like(heard)
    heard[r[~held], c[~held]] = True
    positives[r[held], c[held]] = True
    kept_plays = kept_items.set_index(TRACK_ID)["plays"]
    shape = (len(user_ids), len(catalog_ids))
    scores = {
        "audio_cnn": U @ predicted.T,
        "artist_mean_popularity": np.broadcast_to(artist_mean_plays(catalog_ids, kept_plays, artist_of), shape),
    }
    references = {"artist_mean_popularity": "the artist's mean counted plays per kept track (popularity alone)"}
    if genre_of is not None:
        kept_counts = counts[~counts[TRACK_ID].isin(set(held_ids))]
        shares = genre_shares(kept_counts, genre_of)
        scores["genre_oracle"] = genre_oracle_scores(shares, user_ids, pd.Index(catalog_ids).map(genre_of))
        references["genre_oracle"] = (
            "the listener's share of kept plays in the track's true genre (reads truth/track_attributes.csv)"
        )
    values = catalog_metrics(scores, heard, positives, k)
    block = compare(values, "audio_cnn", groups=user_ids)
    block["candidates"] = "every track with audio the listener has not played (held-out tracks included)"
    block["catalog_tracks"] = len(catalog_ids)
    block["references"] = references
    return block
