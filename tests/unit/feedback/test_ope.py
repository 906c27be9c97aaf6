from __future__ import annotations

import math

import numpy as np
import pytest

from jobs.evaluation.stats import bootstrap_mean
from jobs.feedback.ope import (
    Estimate,
    bootstrap_ratio,
    doubly_robust,
    estimate_all,
    ips,
    relative_error,
    snips,
)

# A simulated world: two kinds of listener (context x, equally likely), three actions, Bernoulli rewards
# with these means. The logging policy is epsilon-greedy (epsilon 0.6) around action 0 whatever the context;
# the target policy is deterministic: action 2 for x = 0, action 0 for x = 1.
MEANS = np.array([[0.1, 0.3, 0.9], [0.8, 0.2, 0.1]])
LOGGING = np.array([0.6, 0.2, 0.2])
TARGET_ACTION = np.array([2, 0])
TRUTH = 0.5 * 0.9 + 0.5 * 0.8  # 0.85


def _simulate(rng: np.random.Generator, reps: int, n: int) -> dict[str, np.ndarray]:
    """``reps`` logs of ``n`` rows each, as (reps, n) arrays."""
    x = rng.integers(0, 2, size=(reps, n))
    a = rng.choice(3, size=(reps, n), p=LOGGING)
    reward = (rng.random((reps, n)) < MEANS[x, a]).astype(np.float64)
    return {
        "reward": reward,
        "propensity": LOGGING[a],
        "target": (a == TARGET_ACTION[x]).astype(np.float64),
        "q_true": MEANS[x, a],
        "v_true": MEANS[x, TARGET_ACTION[x]],
    }


def test_hand_worked_log_gives_the_hand_computed_ips_snips_and_dr():
    reward = [1.0, 0.0, 1.5, 1.0, 0.0]
    propensity = [0.5, 0.25, 0.8, 0.2, 0.5]
    target = [1.0, 0.0, 0.4, 0.5, 1.0]
    q_logged = [0.6, 0.2, 1.0, 0.5, 0.4]
    v_target = [0.7, 0.3, 0.9, 0.6, 0.5]
    # weights w/p = [2, 0, 0.5, 2.5, 2]; r*w/p = [2, 0, 0.75, 2.5, 0], sum 5.25
    # IPS = 5.25 / 5 = 1.05; SNIPS = 5.25 / (2 + 0 + 0.5 + 2.5 + 2 = 7) = 0.75
    # DR terms v + (w/p)(r - q) = [0.7 + 2*0.4, 0.3 + 0, 0.9 + 0.5*0.5, 0.6 + 2.5*0.5, 0.5 + 2*(-0.4)]
    #                           = [1.5, 0.3, 1.15, 1.85, -0.3], sum 4.5, DR = 0.9
    # Kish effective n = 7^2 / (4 + 0 + 0.25 + 6.25 + 4 = 14.5) = 3.3793...; largest weight 2.5
    est = estimate_all(reward, propensity, target, q_logged, v_target, n_resamples=200)
    assert est["ips"].value == pytest.approx(1.05)
    assert est["snips"].value == pytest.approx(0.75)
    assert est["dr"].value == pytest.approx(0.9)
    for e in est.values():
        assert e.effective_n == pytest.approx(49 / 14.5)
        assert e.max_weight == pytest.approx(2.5)
        assert (e.n, e.groups) == (5, 5)
        assert e.low <= e.value <= e.high
    assert [e.estimator for e in est.values()] == ["ips", "snips", "dr"]
    assert set(estimate_all(reward, propensity, target, n_resamples=50)) == {"ips", "snips"}
    assert est["snips"].as_dict(digits=3)["effective_n"] == 3.379


def test_ips_is_unbiased_and_its_interval_covers_the_truth():
    logs = _simulate(np.random.default_rng(11), reps=2000, n=200)
    values = np.array(
        [ips(r, p, w, n_resamples=5).value for r, p, w in zip(logs["reward"], logs["propensity"], logs["target"])]
    )
    # each estimate is the row mean of r*w/p, and their mean is the truth within 0.01
    # (sd of the mean ~ sqrt(2.19 / 200 / 2000) = 0.0023)
    assert values == pytest.approx((logs["reward"] * logs["target"] / logs["propensity"]).mean(axis=1))
    assert abs(values.mean() - TRUTH) < 0.01
    # the logged mean reward, by contrast, is the logging policy's value (0.5 * 0.30 + 0.5 * 0.54 = 0.42), far off
    assert abs(logs["reward"].mean() - TRUTH) > 0.2

    covered = 0
    for r, p, w in zip(logs["reward"][:200], logs["propensity"][:200], logs["target"][:200]):
        est = ips(r, p, w, n_resamples=200, seed=1)
        covered += est.low <= TRUTH <= est.high
    assert covered >= 180  # >= 90% of the 95% intervals


def test_snips_stays_within_the_weighted_rewards_and_is_the_mean_reward_on_policy():
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = 30
        reward = rng.choice([0.0, 1.0, 1.5], size=n)  # skip, stream, stream + save
        propensity = rng.uniform(0.05, 1.0, size=n)
        target = np.where(rng.random(n) < 0.4, 0.0, rng.uniform(0.0, 1.0, size=n))
        weighted = reward[target > 0]
        est = snips(reward, propensity, target, n_resamples=200)
        assert weighted.min() <= est.low <= est.value <= est.high <= weighted.max()
        assert not est.zero_weight_sum
    # not true of IPS, whose large weights carry it past every reward
    assert ips([1.5, 0.0], [0.1, 0.9], [1.0, 0.0]).value == pytest.approx(7.5)
    assert snips([1.5, 0.0], [0.1, 0.9], [1.0, 0.0]).value == pytest.approx(1.5)

    reward = rng.choice([0.0, 1.0, 1.5], size=50)
    propensity = rng.uniform(0.1, 1.0, size=50)
    groups = rng.integers(0, 12, size=50)
    on_policy = snips(reward, propensity, propensity, groups=groups, n_resamples=300, seed=4)
    plain = bootstrap_mean(reward, groups=groups, n_resamples=300, seed=4)
    assert on_policy.value == pytest.approx(reward.mean())
    assert (on_policy.low, on_policy.high) == pytest.approx((plain.low, plain.high))
    assert on_policy.effective_n == pytest.approx(50)

    nothing = snips([1.0, 0.5], [0.5, 0.5], [0.0, 0.0])
    assert (nothing.value, nothing.low, nothing.high, nothing.zero_weight_sum) == (0.0, 0.0, 0.0, True)
    assert nothing.effective_n == 0.0


def test_dr_with_a_perfect_model_varies_much_less_than_ips_and_with_a_zero_model_is_ips():
    logs = _simulate(np.random.default_rng(23), reps=1000, n=100)
    args = (logs["reward"], logs["propensity"], logs["target"], logs["q_true"], logs["v_true"])
    dr = np.array([doubly_robust(*row, n_resamples=5).value for row in zip(*args)])
    ip = np.array([ips(*row[:3], n_resamples=5).value for row in zip(*args)])
    # per-row variance: IPS 2.19, DR 0.36 (theory), a ratio of 0.16
    assert dr.var() < 0.3 * ip.var()
    assert abs(dr.mean() - TRUTH) < 0.01

    r, p, w = logs["reward"][0], logs["propensity"][0], logs["target"][0]
    zero = np.zeros_like(r)
    groups = np.arange(len(r)) // 3
    a = doubly_robust(r, p, w, zero, zero, groups=groups, n_resamples=300, seed=2)
    b = ips(r, p, w, groups=groups, n_resamples=300, seed=2)
    assert (a.value, a.low, a.high, a.n, a.groups, a.effective_n) == (
        b.value,
        b.low,
        b.high,
        b.n,
        b.groups,
        b.effective_n,
    )
    assert a.estimator == "dr"


@pytest.mark.parametrize(
    ("propensity", "target", "message"),
    [
        ([0.5, 0.5, 0.0, 0.5], [0.5] * 4, "propensity at row 2"),
        ([0.5, 1.2, 0.5, 0.5], [0.5] * 4, "propensity at row 1"),
        ([0.5, 0.5, 0.5, -0.1], [0.5] * 4, "propensity at row 3"),
        ([0.5] * 4, [0.5, 0.5, 0.5, 1.01], "target at row 3"),
        ([0.5] * 4, [-0.2, 0.5, 0.5, 0.5], "target at row 0"),
        ([0.5, float("nan"), 0.5, 0.5], [0.5] * 4, "propensity at row 1"),
    ],
)
def test_bad_propensity_or_target_raises_naming_the_row(propensity, target, message):
    reward = [1.0, 0.0, 1.0, 1.5]
    for estimator in (ips, snips):
        with pytest.raises(ValueError, match=message):
            estimator(reward, propensity, target)
    with pytest.raises(ValueError, match=message):
        doubly_robust(reward, propensity, target, [0.5] * 4, [0.5] * 4)


def test_mismatched_lengths_and_other_bad_input_raise():
    with pytest.raises(ValueError, match="reward 3, propensity 2, target 3"):
        ips([1.0, 0.0, 1.0], [0.5, 0.5], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="q_logged 2"):
        doubly_robust([1.0, 0.0, 1.0], [0.5] * 3, [1.0] * 3, [0.1, 0.2], [0.3] * 3)
    with pytest.raises(ValueError, match="reward at row 1"):
        snips([1.0, float("inf")], [0.5, 0.5], [1.0, 1.0])
    with pytest.raises(ValueError, match="empty"):
        ips([], [], [])
    with pytest.raises(ValueError, match="3 values but 2 group labels"):
        ips([1.0, 0.0, 1.0], [0.5] * 3, [1.0] * 3, groups=[0, 1])
    with pytest.raises(ValueError, match="both q_logged and v_target"):
        estimate_all([1.0], [0.5], [1.0], q_logged=[0.5])
    with pytest.raises(ValueError, match="n_resamples"):
        snips([1.0], [0.5], [1.0], n_resamples=0)


def test_resampling_listeners_of_duplicated_rows_gives_the_undoubled_interval_wider_than_ignoring_them():
    rng = np.random.default_rng(8)
    n = 100
    reward = rng.choice([0.0, 1.0, 1.5], size=n)
    propensity = rng.uniform(0.2, 1.0, size=n)
    target = rng.uniform(0.0, 1.0, size=n)
    listener = np.arange(n)
    twice = {k: np.repeat(v, 2) for k, v in {"r": reward, "p": propensity, "w": target, "g": listener}.items()}
    for estimator in (ips, snips):
        once = estimator(reward, propensity, target, n_resamples=500, seed=3)
        grouped = estimator(twice["r"], twice["p"], twice["w"], groups=twice["g"], n_resamples=500, seed=3)
        ungrouped = estimator(twice["r"], twice["p"], twice["w"], n_resamples=500, seed=3)
        # drawing a listener brings both copies: exactly the bootstrap of the undoubled log
        assert (grouped.n, grouped.groups, ungrouped.groups) == (2 * n, n, 2 * n)
        assert grouped.value == pytest.approx(once.value)
        assert (grouped.low, grouped.high) == pytest.approx((once.low, once.high))
        # treating the copies as independent rows pretends to twice the data: narrower by about sqrt(2)
        assert grouped.high - grouped.low > 1.2 * (ungrouped.high - ungrouped.low)


def test_bootstrap_ratio_leaves_out_resamples_without_weight():
    # one weighted listener (ratio 2) among three unweighted: resamples that miss it have no ratio
    iv = bootstrap_ratio([2.0, 0.0, 0.0, 0.0, 4.0], [1.0, 0.0, 0.0, 0.0, 2.0], groups=[0, 1, 2, 3, 0], n_resamples=100)
    assert (iv.mean, iv.low, iv.high, iv.n, iv.groups) == (2.0, 2.0, 2.0, 5, 4)
    iv = bootstrap_ratio([1.0, 0.0, 3.0], [1.0, 0.0, 1.0], n_resamples=400, seed=1)
    assert iv.mean == 2.0
    assert 1.0 <= iv.low < iv.mean < iv.high <= 3.0


def test_same_seed_gives_the_same_estimates_and_another_seed_another_interval():
    logs = _simulate(np.random.default_rng(31), reps=1, n=150)
    args = [logs[k][0] for k in ("reward", "propensity", "target", "q_true", "v_true")]
    groups = np.arange(150) % 40
    first = estimate_all(*args, groups=groups, n_resamples=300, seed=7)
    again = estimate_all(*args, groups=groups, n_resamples=300, seed=7)
    other = estimate_all(*args, groups=groups, n_resamples=300, seed=8)
    assert first == again
    for name in first:
        assert isinstance(first[name], Estimate)
        assert first[name].value == other[name].value
        assert (first[name].low, first[name].high) != (other[name].low, other[name].high)


def test_relative_error():
    assert relative_error(0.9, 1.0) == pytest.approx(0.1)
    assert relative_error(-0.3, -0.2) == pytest.approx(0.5)
    assert relative_error(0.0, 0.0) == 0.0
    assert math.isinf(relative_error(0.1, 0.0))
