"""The recommender library behind Discover Weekly: numpy, no Spark, importable by any job.

The merge job (:mod:`jobs.merge`) publishes its playlists with it and the offline
evaluation (:mod:`jobs.evaluate`) rebuilds the same rankings and its variants with it.

* :mod:`~jobs.recsys.items`: :class:`Items`, every recommendable track aligned by
  index (ALS and never-played tracks, artists, songs, popularity, cultural terms and
  similar artists), built from the week's tables by :func:`build_items`.
* :mod:`~jobs.recsys.scoring`: :class:`MergeConf` (weights, slots, thresholds, from
  the ``merge`` configuration), the ALS, audio and culture scores on one scale
  (:func:`blend_block`, :func:`blend_scores`), which source chose an item
  (:func:`source_of`) and the partial sort of the best items (:func:`ranked`).
* :mod:`~jobs.recsys.diversity`: :func:`pick_diverse`, the artist cap, one version
  of a song and the cold-start slots.
* :mod:`~jobs.recsys.clusters`: taste clusters (:func:`cluster_tracks`: a listener's
  tracks grouped by their audio vectors, k by BIC), the places allotted to them
  (:func:`largest_remainder`, :func:`pick_allotted`) and the figures that judge it
  (:func:`intra_list_diversity`, :func:`top_clusters_covered`, :func:`allotment_figures`).
* :mod:`~jobs.recsys.explanations`: :func:`explain`, a reason per pick.
* :mod:`~jobs.recsys.playlists`: :func:`recommend_block`, playlists for a block of
  listeners (scores, diversity, popular fill, reasons), and :func:`playlists` over a week.
* :mod:`~jobs.recsys.pool`: :func:`pooled_playlists`, the same blocks on ``merge.workers``
  forked processes (the same picks bit for bit).
* :mod:`~jobs.recsys.inputs`: :class:`Inputs` and :func:`prepare_inputs`, the
  week's tables read from the warehouse and indexed for the blend.

What a listener has heard and who is active come from :mod:`jobs.warehouse.store`.
"""
