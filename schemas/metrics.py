"""The contract of the ``references`` blocks in the run metrics: a headline beside its naive references.

Every headline quality metric a job writes to ``run_metrics/week=W/<job>.json`` stands beside
what naive systems score on the same units, as one block of this shape (written by
:func:`jobs.evaluation.stats.compare`, rendered by :mod:`jobs.report`)::

    {
      "subject": "als",                  # the system the job ships
      "unit": "listener",                # what one value is about (listener, artist)
      "units": 1204, "groups": 1204,     # values, and groups the bootstrap resamples
      "level": 0.95, "resamples": 2000,
      "systems": {"als": {"recall@30": INTERVAL, ...}, "most_popular": {...}, ...},
      "paired": {"als - most_popular": {"recall@30": INTERVAL, ...}, ...}
    }

with ``INTERVAL = {"mean", "low", "high", "n", "groups"}`` (the observed mean and the
percentile interval; ``n`` values of ``groups`` resampled listeners or artists). A paired
interval is ``subject - reference`` on the same units: one that excludes 0 says which won.
A metric a unit leaves undefined (an AUC with no negative) drops that unit for every system
of that metric. Blocks may add plain descriptions (``references``: name -> what it is).

Where each block is, and the command that writes it (:data:`BLOCKS`).
"""

from __future__ import annotations

from typing import Any

# (job file, key path in its JSON, subject, references, unit, written by)
BLOCKS = (
    (
        "als.json",
        ("references",),
        "als",
        ("most_popular", "most_popular_recent"),
        "listener",
        "the als job (make run): holdout = first-time plays of the week before the run week",
    ),
    (
        "offline_eval.json",
        ("references",),
        "blend",
        ("als", "audio", "culture", "most_popular", "most_popular_recent"),
        "listener",
        "python -m jobs.evaluate --week W (make evaluate): W's playlists against W's first-time plays",
    ),
    (
        "audio_cnn.json",
        ("cold_start", "whole_catalog"),
        "audio_cnn",
        ("artist_mean_popularity", "genre_oracle"),
        "listener",
        "audio_cnn train (make run): held-out tracks among every unplayed track with audio",
    ),
    (
        "culture.json",
        ("references",),
        "spacy",
        ("tfidf", "random"),
        "artist",
        "the culture job (make run), when <data>/truth/artist_genres.csv exists",
    ),
)

INTERVAL_KEYS = {"mean", "low", "high", "n", "groups"}


def check_references(block: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming what is wrong when ``block`` does not have the shape above."""
    missing = {"subject", "unit", "units", "groups", "level", "resamples", "systems", "paired"} - set(block)
    if missing:
        raise ValueError(f"references block without {sorted(missing)}")
    subject = block["subject"]
    if subject not in block["systems"]:
        raise ValueError(f"references block: the subject {subject!r} has no metrics")
    for system, metrics in block["systems"].items():
        for metric, iv in metrics.items():
            if set(iv) != INTERVAL_KEYS or not iv["low"] <= iv["high"]:
                raise ValueError(f"references block: {system} {metric} is not an interval: {iv}")
    for pair, metrics in block["paired"].items():
        first, _, other = pair.partition(" - ")
        if first != subject or other not in block["systems"]:
            raise ValueError(f"references block: paired {pair!r} is not '{subject} - <a system>'")
        for metric, iv in metrics.items():
            if set(iv) != INTERVAL_KEYS:
                raise ValueError(f"references block: {pair} {metric} is not an interval: {iv}")
