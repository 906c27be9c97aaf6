import numpy as np
import pytest

from jobs.evaluation.stats import bootstrap_mean, compare, paired_difference, resample_weights


def test_constant_values_give_a_zero_width_interval():
    iv = bootstrap_mean([0.25] * 40, groups=[i // 4 for i in range(40)])
    assert (iv.mean, iv.low, iv.high) == (0.25, 0.25, 0.25)
    assert (iv.n, iv.groups) == (40, 10)


def test_paired_difference_of_identical_systems_is_exactly_zero():
    rng = np.random.default_rng(3)
    a = rng.random(57)
    iv = paired_difference(a, a.copy(), groups=rng.integers(0, 9, 57))
    assert (iv.mean, iv.low, iv.high) == (0.0, 0.0, 0.0)


def test_paired_difference_removes_what_the_listeners_share():
    # system b = system a + 0.1 on every listener, a varies wildly: the difference is exactly -0.1
    rng = np.random.default_rng(5)
    a = rng.random(30)
    iv = paired_difference(a, a + 0.1)
    assert iv.mean == pytest.approx(-0.1)
    assert iv.low == pytest.approx(-0.1) and iv.high == pytest.approx(-0.1)
    # unpaired, each mean alone is far less certain
    assert bootstrap_mean(a).high - bootstrap_mean(a).low > 0.1


def test_the_mean_is_the_observed_one_and_the_interval_holds_it():
    values = [0.0, 0.0, 0.0, 1.0, 1.0]
    iv = bootstrap_mean(values, seed=1)
    assert iv.mean == pytest.approx(0.4)
    assert 0.0 <= iv.low < 0.4 < iv.high <= 1.0


def test_seeded_and_reproducible():
    values = np.linspace(0, 1, 25)
    assert bootstrap_mean(values, seed=7) == bootstrap_mean(values, seed=7)
    assert bootstrap_mean(values, seed=7) != bootstrap_mean(values, seed=8)


def test_coverage_on_normal_samples_is_near_95_percent():
    rng = np.random.default_rng(11)
    trials, hits = 300, 0
    for t in range(trials):
        iv = bootstrap_mean(rng.normal(0.0, 1.0, 40), n_resamples=1000, seed=t)
        hits += iv.low <= 0.0 <= iv.high
    # the percentile bootstrap of a mean of 40 normals covers about 93-94%; 300 trials: +-4 points
    assert 0.87 <= hits / trials <= 0.99


def test_resampling_listeners_widens_the_interval_when_their_weeks_agree():
    # 10 listeners x 10 weeks each, a listener's weeks identical: only 10 independent values
    listener_values = np.random.default_rng(2).random(10)
    values = np.repeat(listener_values, 10)
    groups = np.repeat(np.arange(10), 10)
    naive = bootstrap_mean(values)
    grouped = bootstrap_mean(values, groups)
    assert grouped.mean == naive.mean
    assert grouped.high - grouped.low > 2 * (naive.high - naive.low)
    # and grouped over 10 listeners is the same as the 10 listener means alone
    alone = bootstrap_mean(listener_values)
    assert (grouped.low, grouped.high) == pytest.approx((alone.low, alone.high))


def test_resample_weights_draw_as_many_listeners_as_there_are():
    w = resample_weights(7, 100, seed=0)
    assert w.shape == (100, 7) and (w.sum(axis=1) == 7).all()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="nothing"):
        bootstrap_mean([])
    with pytest.raises(ValueError, match="not finite"):
        bootstrap_mean([0.1, float("nan")])
    with pytest.raises(ValueError, match="same listeners"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="group labels"):
        bootstrap_mean([1.0, 2.0], groups=[1])


def test_compare_puts_each_reference_beside_the_subject_with_paired_intervals():
    rng = np.random.default_rng(7)
    ref = rng.random(40)
    values = {
        "model": {"recall": ref + 0.2, "auc": np.r_[np.nan, ref[1:]]},
        "popular": {"recall": ref, "auc": ref.copy()},
    }
    out = compare(values, "model", groups=np.arange(40) // 2)
    assert (out["subject"], out["units"], out["groups"]) == ("model", 40, 20)
    assert set(out["systems"]) == {"model", "popular"} and list(out["paired"]) == ["model - popular"]
    recall = out["paired"]["model - popular"]["recall"]
    assert recall["mean"] == pytest.approx(0.2) and recall["low"] == pytest.approx(0.2)
    assert out["systems"]["model"]["recall"]["mean"] == pytest.approx(float(np.mean(ref + 0.2)), abs=1e-6)
    # a value one system leaves undefined drops that unit for every system: the pair stays paired
    auc = out["paired"]["model - popular"]["auc"]
    assert (auc["mean"], auc["low"], auc["high"], auc["n"]) == (0.0, 0.0, 0.0, 39)
    assert out["systems"]["popular"]["auc"]["n"] == 39
    with pytest.raises(ValueError, match="the units must be the same"):
        compare({"model": {"recall": [1.0, 0.0]}, "popular": {"recall": [1.0]}}, "model")
    with pytest.raises(ValueError, match="subject 'x'"):
        compare(values, "x")
