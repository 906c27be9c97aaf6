"""Merge: the week's Discover Weekly table, ``merge.k`` songs per eligible listener.

Reads, for run week ``W``: ``user_factors``, ``item_factors``, ``play_counts``,
``track_vectors`` (ALS and audio vectors), ``cultural_terms`` and ``artist_similarity``
(``week=W``; the last three may be missing: the merge then runs with what exists and
says so), every play before ``W``'s cutoff (what a listener has heard, skips included)
and the catalog. Candidates come from three sources on one scale
(:func:`jobs.recsys.scoring.blend_scores`): ALS (user vector times item vector),
audio (the same product with the CNN's vectors of tracks nobody has played, new releases
among them) and culture (artists similar to the listener's most-played ones). The blend,
weighted by ``merge.w_*``, picks ``merge.k`` tracks the listener never played, at most
``merge.artist_cap`` per artist, one version of a song, at most ``merge.cold_slots``
unplayed tracks; popular tracks fill only where the sources run short. Listeners with
fewer than ``merge.min_plays`` counted plays get a flagged ``fallback`` list (or are
skipped, ``merge.thin_history``). Each row says why it was chosen and by which source.
When ``taste_clusters`` (``week=W``, with ``audio_vectors``) exists, ``merge.cluster_allotment``
of the ``k`` places go to each listener's taste clusters in proportion to their share of
listening (a candidate counts for the cluster nearest its audio vector), so the list covers
several of the listener's tastes; ``merge.json`` reports intra-list diversity and top-3
cluster coverage beside the same listeners' lists without allotment (a seeded sample of
``merge.cluster_reference_listeners``).

The table is left, out of readers' sight, in ``discover_weekly/_pending-W/`` with
its list of eligible listeners; the ``validate`` job (:mod:`jobs.validate`) checks it
and only then swaps it in as ``week=W``, so a rerun replaces the week and a failed
check leaves the old one. Counts and timings go to ``run_metrics/week=W/merge.json``.

This is a numpy job, not a Spark one: at this size scoring all tracks for a block of
listeners in memory is faster than any shuffle.
:func:`jobs.recsys.playlists.recommend_block` is pure and works on one block of
listeners, so it can run inside ``mapInPandas`` when listeners outgrow one machine.

The package is the thin job; the recommender itself is a library other jobs share
(:mod:`jobs.recsys`, described there):

* :mod:`jobs.merge.job`: :func:`~jobs.merge.job.build_table` (the playlists and the
  ``fallback`` lists), :func:`~jobs.merge.job.write_pending`, :func:`~jobs.merge.job.run`
  and the command line :func:`~jobs.merge.job.main`.
* ``jobs/merge/__main__.py``: ``python -m jobs.merge``.
* :mod:`jobs.recsys.pool`: the local engine's blocks on ``merge.workers`` forked
  processes (default: one per core; the same rows); :mod:`jobs.merge.spark_engine`: the
  blocks in ``mapInPandas`` (``merge.engine: spark``).
* :mod:`jobs.recsys`: items (``items``), the blended scores and ranking
  (``scoring``), the artist cap, one version of a song and cold slots (``diversity``),
  reasons (``explanations``), playlists for a block of listeners (``playlists``) and the
  week's inputs read and indexed (``inputs``).
* :mod:`jobs.warehouse.store` (the tables, plays before the week, heard pairs, active
  listeners, the pending folder), which the validate job reads as well.

Run alone::

    python -m jobs.merge --week 2026-W47
"""

from jobs.merge.job import MergeError, MergeResult, build_table, main, run, write_pending

__all__ = ["MergeError", "MergeResult", "build_table", "main", "run", "write_pending"]
