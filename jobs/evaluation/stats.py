"""Bootstrap confidence intervals for per-listener metric values, resampling LISTENERS.

An offline metric (precision@30 of a week's playlists, say) is a mean over listeners, or
over listener-weeks when several weeks are pooled. Its uncertainty comes from which
listeners happened to be in the sample, so the bootstrap here resamples listeners with
replacement: every value of a drawn listener comes along (all their weeks), and the
statistic of a resample is the mean over the values drawn (a listener drawn twice counts
twice). Without ``groups`` each value is its own listener.

* :func:`bootstrap_mean`: the observed mean and a percentile interval (default 95%, 2,000
  resamples, seeded);
* :func:`paired_difference`: the interval of ``mean(a) - mean(b)`` for two systems scored
  on the same listener(-week)s, one resample of listeners shared by both, so what the
  listeners have in common cancels (an identical pair gives exactly 0, width 0);
* :func:`compare`: a headline system beside its references, every metric with its interval
  and each ``subject - reference`` paired interval, as the JSON block the jobs write into
  their run metrics (its shape is documented in :mod:`schemas.metrics`).

Pure numpy; reads and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean (the observed one, not the bootstrap's) with its percentile interval."""

    mean: float
    low: float
    high: float
    n: int  # values (listener-weeks)
    groups: int  # listeners resampled

    def as_dict(self, digits: int = 6) -> dict[str, Any]:
        out = asdict(self)
        for key in ("mean", "low", "high"):
            out[key] = round(out[key], digits)
        return out

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _group_index(n: int, groups: Sequence[Any] | np.ndarray | None) -> tuple[np.ndarray, int]:
    if groups is None:
        return np.arange(n), n
    labels = np.asarray(groups)
    if len(labels) != n:
        raise ValueError(f"{n} values but {len(labels)} group labels")
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(-1), int(inverse.max()) + 1 if n else 0


def _values(values: Sequence[float] | np.ndarray, name: str = "values") -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(out) == 0:
        raise ValueError(f"{name}: nothing to resample")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: {int((~np.isfinite(out)).sum())} values are not finite")
    return out


def resample_weights(n_groups: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n_groups)`` counts: how often each group is drawn in each resample (rows sum to n_groups)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_resamples)


def _interval(
    diffs: np.ndarray, counts_idx: tuple[np.ndarray, int], n_resamples: int, seed: int, level: float
) -> Interval:
    if not 0 < level < 1:
        raise ValueError(f"level {level} must be between 0 and 1")
    idx, n_groups = counts_idx
    sums = np.bincount(idx, weights=diffs, minlength=n_groups)
    counts = np.bincount(idx, minlength=n_groups).astype(np.float64)
    weights = resample_weights(n_groups, n_resamples, seed)
    stats = (weights @ sums) / (weights @ counts)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    mean = float(diffs.mean())
    # an all-equal sample must give a zero-width interval, whatever the rounding of the matrix products
    if np.all(diffs == diffs[0]):
        low = high = mean
    return Interval(mean, float(low), float(high), len(diffs), n_groups)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """The mean of ``values`` and its ``level`` percentile interval, resampling ``groups`` (listeners).

    ``groups[i]`` names the listener of ``values[i]`` (default: each value its own). Values
    must be finite.
    """
    vals = _values(values)
    return _interval(vals, _group_index(len(vals), groups), n_resamples, seed, level)


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """``mean(a) - mean(b)`` and its interval, ``a[i]`` and ``b[i]`` being two systems on the same listener(-week).

    Each resample draws listeners once and takes both systems' values of the drawn
    listeners, so the interval is that of the paired difference (an interval that excludes
    0 says one system beat the other on these listeners, at that level).
    """
    va, vb = _values(a, "a"), _values(b, "b")
    if len(va) != len(vb):
        raise ValueError(f"a has {len(va)} values but b has {len(vb)}: a paired interval needs the same listeners")
    return _interval(va - vb, _group_index(len(va), groups), n_resamples, seed, level)


def compare(
    values: Mapping[str, Mapping[str, Sequence[float] | np.ndarray]],
    subject: str,
    groups: Sequence[Any] | np.ndarray | None = None,
    unit: str = "listener",
    metric_groups: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Any]:
    """``subject`` beside its references: each system's mean and interval per metric, and ``subject - other``.

    ``values[system][metric]`` holds one value per unit (listener, artist), the units in the
    same order for every system; ``groups`` names each unit's resampled group (default: the
    unit itself). A metric measured on other units (a percentile rank per (listener, track)
    pair, pooled) names its own groups in ``metric_groups``. A NaN (a metric undefined for that
    unit, e.g. an AUC with no negative) drops that unit from that metric for every system
    alike, so each paired interval compares the same units. Returns the block documented in
    :mod:`schemas.metrics`.
    """
    if subject not in values:
        raise ValueError(f"subject {subject!r} is not among the systems {sorted(values)}")
    metrics = list(values[subject])
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for system, by_metric in values.items():
        if list(by_metric) != metrics:
            raise ValueError(f"{system} has metrics {list(by_metric)}, {subject} has {metrics}")
        arrays[system] = {m: np.asarray(v, dtype=np.float64).reshape(-1) for m, v in by_metric.items()}
    labels: dict[str, np.ndarray] = {}
    for m in metrics:
        n = len(arrays[subject][m])
        own = (metric_groups or {}).get(m, groups)
        labels[m] = np.asarray(own) if own is not None else np.arange(n)
        for system in arrays:
            if len(arrays[system][m]) != n or len(labels[m]) != n:
                raise ValueError(
                    f"{system} has {len(arrays[system][m])} values of {m}, {subject} {n}, groups {len(labels[m])}: "
                    "the units must be the same"
                )
    defined = {m: np.logical_and.reduce([np.isfinite(arrays[s][m]) for s in arrays]) for m in metrics}
    args = {"n_resamples": n_resamples, "seed": seed, "level": level}
    systems, paired = {}, {}
    for system, by_metric in arrays.items():
        systems[system] = {
            m: bootstrap_mean(v[ok], labels[m][ok], **args).as_dict()
            for m, v in by_metric.items()
            if (ok := defined[m]).any()
        }
        if system != subject:
            paired[f"{subject} - {system}"] = {
                m: paired_difference(arrays[subject][m][ok], v[ok], labels[m][ok], **args).as_dict()
                for m, v in by_metric.items()
                if (ok := defined[m]).any()
            }
    first = labels[metrics[0]] if metrics else np.zeros(0)
    return {
        "subject": subject,
        "unit": unit,
        "units": len(first),
        "groups": len(np.unique(first)),
        "level": level,
        "resamples": n_resamples,
        "systems": systems,
        "paired": paired,
    }
