"""Judging rankings: metrics at k and intervals.

* :mod:`~jobs.evaluation.metrics`: precision, recall and NDCG at k, mean percentile rank,
  exact top-k by dot product, on index arrays (the same functions serve every job, the
  tuner and the benchmarks);
* :mod:`~jobs.evaluation.stats`: bootstrap intervals over listeners and paired differences
  (:func:`~jobs.evaluation.stats.compare`), the form every headline figure takes.

The offline evaluation of a published week is the ``evaluate`` stage (:mod:`jobs.evaluate`).
"""
