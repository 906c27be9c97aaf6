"""Taste clusters: each listener's recent tracks grouped by how they sound, for the blend's allotment.

Reads, for run week ``W``: the plays of the ``taste_clusters.recent_weeks`` weeks before
``W``'s cutoff (counted plays only: ``ms_played >= als.min_ms_played``; skips are not
listens) and ``audio_vectors`` (``week=W``: the audio CNN's vector of every track with
audio, i.e. what the track sounds like, not its genre or artist). Per listener, the
``taste_clusters.max_tracks`` most played of those tracks that have an audio vector are
clustered by cosine k-means, weighted by plays, with ``k`` chosen per listener by BIC
(:func:`jobs.recsys.clusters.cluster_tracks`; seeded by ``taste_clusters.seed`` and
the listener's id). Writes

* ``taste_clusters`` (``week=W``, contract in :mod:`schemas.tables`): one row per listener
  and cluster with its share of the listener's plays, its centroid, member counts and most
  played track; stamped with the week's ALS fit, like the audio vectors it comes from;
* ``run_metrics/week=W/taste_clusters.json``: listeners, the distribution of ``k``, and,
  when the data has ``truth/track_attributes.csv`` (the sample world), how pure the
  clusters are in the hidden genre beside one cluster per listener as the reference.

The merge reads the table and allots playlist places to each cluster by its share
(``merge.cluster_allotment``). No audio vectors this week (real listening data usually has
no audio, or the audio steps skipped) is a skip, not a failure: the job exits 99 (Airflow: skipped) with
``"skipped": <reason>`` in its metrics, removes an earlier run's partition of the week, and
the merge runs without allotment.

Run alone (after ``audio_cnn infer``)::

    python -m jobs.taste_clusters --week 2026-W47
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import zlib
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config, TasteClustersConf
from jobs.evaluation.metrics import as_matrix
from jobs.recsys.clusters import cluster_tracks
from jobs.runtime.cli import skipped, week_job
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff
from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID, VECTOR

log = logging.getLogger("taste_clusters")


def recent_counts(plays: pd.DataFrame, cut: dt.datetime, weeks: int, min_ms: int) -> pd.DataFrame:
    """Counted plays per (user_id, track_id) in the ``weeks`` before ``cut`` (skips left out)."""
    start = pd.Timestamp(cut - dt.timedelta(weeks=weeks))
    recent = plays[(plays[PLAYED_AT] >= start) & (plays[PLAYED_AT] < pd.Timestamp(cut))]
    recent = recent[recent[MS_PLAYED] >= min_ms]
    return recent.groupby([USER_ID, TRACK_ID]).size().rename("plays").reset_index()


def cluster_listeners(counts: pd.DataFrame, audio: pd.DataFrame, conf: TasteClustersConf) -> pd.DataFrame:
    """The ``taste_clusters`` rows (without ``week``) of every listener in ``counts`` with a track in ``audio``.

    ``counts``: user_id, track_id, plays; ``audio``: track_id, vector. Pure.
    """
    index = pd.Series(np.arange(len(audio)), index=audio[TRACK_ID].to_numpy())
    vectors = as_matrix(audio[VECTOR])
    c = counts[counts[TRACK_ID].isin(index.index) & (counts["plays"] > 0)]
    c = c.sort_values([USER_ID, "plays", TRACK_ID], ascending=[True, False, True])
    rows: list[dict[str, Any]] = []
    for user, g in c.groupby(USER_ID, sort=True):
        g = g.head(conf.max_tracks)
        plays = g["plays"].to_numpy(dtype=np.float64)
        seed = [conf.seed, zlib.crc32(str(user).encode())]
        found = cluster_tracks(vectors[index[g[TRACK_ID]].to_numpy()], plays, conf.max_clusters, seed, conf.restarts)
        k = len(found.shares)
        for j in range(k):
            member = found.labels == j
            rows.append(
                {
                    USER_ID: user,
                    "cluster": j,
                    "clusters": k,
                    "share": float(found.shares[j]),
                    "plays": int(plays[member].sum()),
                    "tracks": int(member.sum()),
                    "top_track_id": g[TRACK_ID].to_numpy()[member][0],  # g is sorted by plays, then id
                    "centroid": found.centroids[j],
                    "silhouette": None if k == 1 else round(found.silhouette, 6),
                }
            )
    columns = [USER_ID, "cluster", "clusters", "share", "plays", "tracks", "top_track_id", "centroid", "silhouette"]
    return pd.DataFrame(rows, columns=columns)


def genre_purity(counts: pd.DataFrame, clusters: pd.DataFrame, audio: pd.DataFrame, genres: pd.Series) -> dict:
    """Play-weighted share of each cluster's plays in its most played hidden genre, beside one cluster per listener.

    Truth is only reported, never used to cluster. A listener's tracks are assigned to their
    nearest centroid again (the table keeps centroids, not members).
    """
    index = pd.Series(np.arange(len(audio)), index=audio[TRACK_ID].to_numpy())
    vectors = as_matrix(audio[VECTOR])
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    c = counts[counts[TRACK_ID].isin(index.index) & counts[USER_ID].isin(clusters[USER_ID])]
    c = c.assign(genre=c[TRACK_ID].map(genres))
    centroids = {u: as_matrix(g.sort_values("cluster")["centroid"]) for u, g in clusters.groupby(USER_ID)}
    labels = np.empty(len(c), dtype=np.int64)
    for u, pos in c.groupby(USER_ID).indices.items():
        labels[pos] = np.argmax(vectors[index[c[TRACK_ID].to_numpy()[pos]].to_numpy()] @ centroids[u].T, axis=1)
    c = c.assign(cluster=labels)

    def purity(keys: list[str]) -> float:
        by = c.groupby([*keys, "genre"])["plays"].sum()
        return float(by.groupby(level=keys).max().sum() / max(by.sum(), 1))

    return {
        "clusters": round(purity([USER_ID, "cluster"]), 4),
        "one_cluster_per_listener": round(purity([USER_ID]), 4),
    }


def run(config: Config, week: str) -> dict[str, Any]:
    wh = Warehouse(config.paths.warehouse)
    conf = config.taste_clusters
    frames, fit = wh.read_together(week, [], optional=["audio_vectors"])
    audio = frames["audio_vectors"]
    if audio is None or audio.empty:
        upstream = wh.read_metrics(week).get("audio_infer", {}).get("skipped")
        return skipped(
            wh,
            week,
            f"no audio_vectors for {week}" + (f" (audio_infer skipped: {upstream})" if upstream else ""),
            [wh.partition("taste_clusters", week)],
        )
    plays = wh.plays_before(cutoff(week), columns=(USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED))
    counts = recent_counts(plays, cutoff(week), conf.recent_weeks, config.als.min_ms_played)
    table = cluster_listeners(counts, audio, conf)
    wh.write("taste_clusters", week, table.assign(week=week), fit=fit)
    per_user = table.drop_duplicates(USER_ID)["clusters"]
    with_audio = counts[TRACK_ID].isin(set(audio[TRACK_ID]))
    metrics: dict[str, Any] = {
        "week": week,
        "listeners_with_recent_plays": int(counts[USER_ID].nunique()),
        "listeners": int(table[USER_ID].nunique()),
        "rows": len(table),
        "recent_plays_on_tracks_with_audio": round(
            float(counts.loc[with_audio, "plays"].sum() / max(counts["plays"].sum(), 1)), 4
        ),
        "clusters_per_listener": {str(k): int(n) for k, n in per_user.value_counts().sort_index().items()},
        "mean_clusters": round(float(per_user.mean()), 3) if len(per_user) else None,
    }
    truth = config.paths.data / "truth" / "track_attributes.csv"
    if truth.exists() and len(table):
        genres = pd.read_csv(truth, dtype=str).set_index(TRACK_ID)["genre"]
        metrics["genre_purity_vs_truth"] = genre_purity(counts, table, audio, genres)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "taste_clusters",
        "Cluster each listener's recent tracks by their audio vectors.",
        lambda config, week, _: run(config, week),
        argv,
        metrics="taste_clusters",
    )


if __name__ == "__main__":
    sys.exit(main())
