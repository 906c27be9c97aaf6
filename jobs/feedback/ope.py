"""Off-policy estimates of a target policy's value from a log written by a randomised logging policy.

Each logged row ``i`` is one slot shown to one listener: the reward ``r_i`` (1.0 for a
stream, plus a bonus for a save, say), the logging policy's propensity
``p_i = pi_0(a_i | x_i)`` of the action it took, and the target policy's probability
``w_i = pi_e(a_i | x_i)`` of that same action. With the importance weight
``rho_i = w_i / p_i`` the estimators follow the Open Bandit Pipeline's definitions
(``obp.ope``: InverseProbabilityWeighting, SelfNormalizedInverseProbabilityWeighting,
DoublyRobust), in plain numpy:

* :func:`ips`, inverse propensity scoring (Horvitz & Thompson 1952; in bandits e.g.
  Precup, Sutton & Singh 2000): ``V = mean_i(rho_i * r_i)``, unbiased whenever the
  logging policy gives every action the target takes a positive propensity;
* :func:`snips`, self-normalised IPS (Swaminathan & Joachims, NeurIPS 2015):
  ``V = sum_i(rho_i * r_i) / sum_i(rho_i)``, slightly biased but bounded by the rewards of
  the rows it weighs, and far steadier when the weights are large (0 when every weight is
  0, flagged in :attr:`Estimate.zero_weight_sum`);
* :func:`doubly_robust` (Dudík, Langford & Li, ICML 2011):
  ``V = mean_i(v_i + rho_i * (r_i - q_i))`` with a reward model ``q_hat``:
  ``q_i = q_hat(x_i, a_i)`` its prediction for the logged action and
  ``v_i = sum_a pi_e(a | x_i) q_hat(x_i, a)`` its value of the target policy in context
  ``i``; unbiased if either the propensities or the model are right, and of low variance
  when the model is good.

Every :class:`Estimate` carries a percentile bootstrap interval that resamples GROUPS
(listeners: every row of a drawn listener comes along), seeded, through
:mod:`jobs.evaluation.stats`: IPS and DR are means of per-row terms
(:func:`~jobs.evaluation.stats.bootstrap_mean`), SNIPS a ratio of sums
(:func:`bootstrap_ratio`). It also carries the weights' Kish effective sample size
``(sum rho)^2 / sum rho^2`` and their largest value, the usual warnings that a few rows
carry the estimate.

Pure numpy; reads and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from jobs.evaluation.stats import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    Interval,
    _group_index,
    bootstrap_mean,
    resample_weights,
)

ArrayLike = Sequence[float] | np.ndarray
Groups = Sequence[Any] | np.ndarray | None


@dataclass(frozen=True)
class Estimate:
    """One estimator's value of the target policy, its bootstrap interval and how concentrated its weights are."""

    estimator: str  # "ips", "snips" or "dr"
    value: float
    low: float
    high: float
    n: int  # logged rows
    groups: int  # listeners resampled
    effective_n: float  # Kish effective sample size of the weights w/p
    max_weight: float  # the largest weight w/p
    zero_weight_sum: bool = False  # SNIPS only: every weight is 0, so the value is 0 by convention

    def as_dict(self, digits: int = 6) -> dict[str, Any]:
        out = asdict(self)
        for key in ("value", "low", "high", "effective_n", "max_weight"):
            out[key] = round(out[key], digits)
        return out

    def __str__(self) -> str:
        return f"{self.estimator} {self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _column(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _first_bad(bad: np.ndarray) -> int | None:
    rows = np.flatnonzero(bad)
    return int(rows[0]) if len(rows) else None


def _check_lengths(columns: dict[str, np.ndarray]) -> int:
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("columns differ in length: " + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("the log is empty: nothing to estimate")
    return n


def _log(
    reward: ArrayLike, propensity: ArrayLike, target: ArrayLike, **model: ArrayLike
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Validated ``(reward, weight w/p, model columns)``; a ValueError names the first bad row."""
    cols = {"reward": _column(reward), "propensity": _column(propensity)}
    cols["target"] = _column(target)
    cols.update({name: _column(values) for name, values in model.items()})
    _check_lengths(cols)
    for name, col in cols.items():
        if (row := _first_bad(~np.isfinite(col))) is not None:
            raise ValueError(f"{name} at row {row} is {col[row]}: must be finite")
    p, w = cols["propensity"], cols["target"]
    if (row := _first_bad(~((p > 0) & (p <= 1)))) is not None:
        raise ValueError(f"propensity at row {row} is {p[row]}: must be in (0, 1]")
    if (row := _first_bad(~((w >= 0) & (w <= 1)))) is not None:
        raise ValueError(f"target at row {row} is {w[row]}: must be in [0, 1]")
    extra = {name: cols[name] for name in model}
    return cols["reward"], w / p, extra


def _check_bootstrap(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples {n_resamples} must be at least 1")
    if not 0 < level < 1:
        raise ValueError(f"level {level} must be between 0 and 1")


def _weight_summary(weight: np.ndarray) -> tuple[float, float]:
    total, squares = float(weight.sum()), float(np.square(weight).sum())
    return (total * total / squares if squares > 0 else 0.0), float(weight.max())


def _estimate(name: str, iv: Interval, weight: np.ndarray, zero_weight_sum: bool = False) -> Estimate:
    effective_n, max_weight = _weight_summary(weight)
    return Estimate(name, iv.mean, iv.low, iv.high, iv.n, iv.groups, effective_n, max_weight, zero_weight_sum)


def bootstrap_ratio(
    numerator: ArrayLike,
    denominator: ArrayLike,
    groups: Groups = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """``sum(numerator) / sum(denominator)`` and its percentile interval, resampling ``groups`` (listeners).

    ``denominator`` must be non-negative. The ratio is 0 when the denominator sums to 0; a
    resample that draws only zero-denominator groups has no ratio and is left out of the
    quantiles. The returned :class:`~jobs.evaluation.stats.Interval`'s ``mean`` is the
    observed ratio. Uses the same resamples as :func:`~jobs.evaluation.stats.bootstrap_mean`
    for the same seed, so a denominator of ones gives exactly its interval of the mean.
    """
    _check_bootstrap(n_resamples, level)
    num, den = _column(numerator), _column(denominator)
    n = _check_lengths({"numerator": num, "denominator": den})
    if not (np.all(np.isfinite(num)) and np.all(np.isfinite(den))):
        raise ValueError("numerator and denominator must be finite")
    if (row := _first_bad(den < 0)) is not None:
        raise ValueError(f"denominator at row {row} is {den[row]}: must be non-negative")
    idx, n_groups = _group_index(n, groups)
    total = float(den.sum())
    value = float(num.sum()) / total if total > 0 else 0.0
    sums = np.bincount(idx, weights=num, minlength=n_groups)
    dens = np.bincount(idx, weights=den, minlength=n_groups)
    draws = resample_weights(n_groups, n_resamples, seed)
    rs_num, rs_den = draws @ sums, draws @ dens
    defined = rs_den > 0
    positive = den > 0
    ratios = num[positive] / den[positive]
    # no weight at all, or the same ratio in every weighted row: a zero-width interval, whatever the rounding
    if not defined.any() or (np.all(num[~positive] == 0) and np.all(ratios == ratios[0])):
        return Interval(value, value, value, n, n_groups)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(rs_num[defined] / rs_den[defined], [tail, 1.0 - tail])
    return Interval(value, float(low), float(high), n, n_groups)


def ips(
    reward: ArrayLike,
    propensity: ArrayLike,
    target: ArrayLike,
    groups: Groups = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Estimate:
    """Inverse propensity scoring: ``mean(r * w / p)``, its interval resampling ``groups``."""
    _check_bootstrap(n_resamples, level)
    r, weight, _ = _log(reward, propensity, target)
    iv = bootstrap_mean(weight * r, groups, n_resamples=n_resamples, seed=seed, level=level)
    return _estimate("ips", iv, weight)


def snips(
    reward: ArrayLike,
    propensity: ArrayLike,
    target: ArrayLike,
    groups: Groups = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Estimate:
    """Self-normalised IPS: ``sum(r * w / p) / sum(w / p)``; 0 with ``zero_weight_sum`` set when every weight is 0."""
    _check_bootstrap(n_resamples, level)
    r, weight, _ = _log(reward, propensity, target)
    iv = bootstrap_ratio(weight * r, weight, groups, n_resamples=n_resamples, seed=seed, level=level)
    return _estimate("snips", iv, weight, zero_weight_sum=not weight.sum() > 0)


def doubly_robust(
    reward: ArrayLike,
    propensity: ArrayLike,
    target: ArrayLike,
    q_logged: ArrayLike,
    v_target: ArrayLike,
    groups: Groups = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Estimate:
    """Doubly robust: ``mean(v + (w / p) * (r - q))``, ``q`` the model's reward of the logged action, ``v`` its target value."""
    _check_bootstrap(n_resamples, level)
    r, weight, model = _log(reward, propensity, target, q_logged=q_logged, v_target=v_target)
    terms = model["v_target"] + weight * (r - model["q_logged"])
    iv = bootstrap_mean(terms, groups, n_resamples=n_resamples, seed=seed, level=level)
    return _estimate("dr", iv, weight)


def estimate_all(
    reward: ArrayLike,
    propensity: ArrayLike,
    target: ArrayLike,
    q_logged: ArrayLike | None = None,
    v_target: ArrayLike | None = None,
    groups: Groups = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Estimate]:
    """``{"ips": ..., "snips": ..., "dr": ...}`` on one log and one seed; ``dr`` only when ``q_logged`` and ``v_target`` are given."""
    if (q_logged is None) != (v_target is None):
        raise ValueError("doubly robust needs both q_logged and v_target (or neither, to leave it out)")
    args: dict[str, Any] = {"groups": groups, "n_resamples": n_resamples, "seed": seed, "level": level}
    out = {"ips": ips(reward, propensity, target, **args), "snips": snips(reward, propensity, target, **args)}
    if q_logged is not None and v_target is not None:
        out["dr"] = doubly_robust(reward, propensity, target, q_logged, v_target, **args)
    return out


def relative_error(estimate: float, truth: float) -> float:
    """``|estimate - truth| / |truth|``: inf when the truth is 0 and the estimate is not, 0 when both are 0."""
    if truth == 0:
        return 0.0 if estimate == 0 else float("inf")
    return abs(estimate - truth) / abs(truth)
