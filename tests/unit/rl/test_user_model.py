"""The user model learns a planted rule, deterministically, and its metrics are right on known answers."""

import numpy as np
import pytest

from jobs.rl.user_model import (
    DenseNet,
    auc,
    calibration,
    fit_user_model,
    log_loss,
    response_metrics,
    track_rate_baseline,
)

pytestmark = pytest.mark.tf


def _planted(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    p_listen = 1 / (1 + np.exp(-(3 * X[:, 0] - 2 * X[:, 1])))
    listen = rng.random(n) < p_listen
    skip = ~listen & (rng.random(n) < 0.5)
    complete = listen & (X[:, 2] > 0)
    return X, np.column_stack([skip, listen, complete]).astype(np.float32), p_listen


def test_the_user_model_learns_a_planted_rule_and_is_deterministic(tmp_path):
    X, Y, _ = _planted(4000, 0)
    model, net, loss = fit_user_model(X, Y, (16,), 6, 128, 0.01, seed=5)
    assert loss[-1] < loss[0]
    X_test, Y_test, p_true = _planted(2000, 1)
    P = net(X_test)
    assert auc(Y_test[:, 1], P[:, 1]) > 0.8  # listen follows x0 - x1
    assert auc(Y_test[:, 2], P[:, 2]) > 0.9  # complete needs x2 > 0
    assert np.corrcoef(P[:, 1], p_true)[0, 1] > 0.9
    # the numpy twin is the Keras model
    np.testing.assert_allclose(P, model.predict((X_test - net.mean) / net.std, verbose=0), atol=1e-4)
    _, again, _ = fit_user_model(X, Y, (16,), 6, 128, 0.01, seed=5)
    for (w1, b1), (w2, b2) in zip(net.layers, again.layers, strict=True):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)
    net.save(tmp_path)
    np.testing.assert_array_equal(DenseNet.load(tmp_path)(X_test), P)


def test_auc_log_loss_and_calibration_on_known_answers():
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert auc(np.array([1, 1]), np.array([0.1, 0.2])) is None
    assert log_loss(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(np.log(2))
    cal = calibration(np.array([0, 1, 1, 1]), np.array([0.05, 0.15, 0.95, 0.92]))
    assert cal == [
        {"bin": "0.0-0.1", "rows": 1, "predicted": 0.05, "observed": 0.0},
        {"bin": "0.1-0.2", "rows": 1, "predicted": 0.15, "observed": 1.0},
        {"bin": "0.9-1.0", "rows": 2, "predicted": 0.935, "observed": 1.0},
    ]


def test_the_track_rate_baseline_shrinks_each_tracks_rate_towards_the_overall_one():
    train = np.array(["a"] * 10 + ["b"] * 10)
    Y = np.zeros((20, 3))
    Y[:10, 1] = 1.0  # a: always listened; b: never
    out = track_rate_baseline(train, Y, np.array(["a", "b", "new"]))
    # (10 + 10 * 0.5) / (10 + 10) = 0.75; (0 + 5) / 20 = 0.25; a new track: the overall 0.5
    np.testing.assert_allclose(out[:, 1], [0.75, 0.25, 0.5])
    metrics = response_metrics(Y[:, :], np.full((20, 3), 0.5), np.full((20, 3), 0.5))
    assert metrics["listen"]["auc"] == 0.5 and metrics["skip"]["auc"] is None


def test_a_column_constant_in_training_is_ignored_later():
    X, Y, _ = _planted(2000, 0)
    X[:, 5] = 0.0  # e.g. no listener had a Discover Weekly history yet
    _, net, _ = fit_user_model(X, Y, (8,), 2, 128, 0.01, seed=5)
    later = X[:50].copy()
    moved = later.copy()
    moved[:, 5] = 7.0
    np.testing.assert_array_equal(net(later), net(moved))
