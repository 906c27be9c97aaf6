"""Judging target policies on the bandit's log: their probabilities per place, and estimates that recover a known value."""

import numpy as np
import pandas as pd
import pytest

from jobs.feedback.bandit import FEATURE_NAMES
from jobs.feedback.offpolicy import evaluate_targets, target_probabilities


def _features(blend_parts):
    f = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    f[1] = blend_parts
    return f.tolist()


def _place(user, position, blended, probability, predicted, chosen, week="2026-W47"):
    return [
        {
            "week": week,
            "user_id": user,
            "position": position,
            "track_id": f"t{i}",
            "reason": "r",
            "features": _features(b),
            "probability": p,
            "predicted": q,
            "chosen": i == chosen,
        }
        for i, (b, p, q) in enumerate(zip(blended, probability, predicted, strict=True))
    ]


def test_target_probabilities_per_place():
    actions = pd.DataFrame(
        _place("u1", 1, [0.9, 0.5, 0.5], [0.8, 0.1, 0.1], [0.1, 0.7, 0.2], chosen=0)
        + _place("u1", 2, [0.2, 0.6], [0.5, 0.5], [np.nan, np.nan], chosen=1)
    )
    t = target_probabilities(actions)
    np.testing.assert_array_equal(t["blend_greedy"], [1, 0, 0, 0, 1])
    np.testing.assert_allclose(t["uniform"], [1 / 3] * 3 + [0.5] * 2)
    np.testing.assert_array_equal(t["model_greedy"][:3], [0, 1, 0])
    assert np.isnan(t["model_greedy"][3:]).all()  # no model at that place
    np.testing.assert_allclose(t["logging"], actions["probability"])


def test_estimates_recover_the_value_of_a_target_on_a_uniform_log():
    """Uniform logging over 4 actions whose stream chances are known: IPS and SNIPS of 'the blend's
    choice' (action 0, chance 0.6) land near 0.6; the logging policy's IPS is the plain mean reward."""
    rng = np.random.default_rng(4)
    chance = np.array([0.6, 0.1, 0.2, 0.3])
    rows, rewards = [], []
    for u in range(3000):
        a = int(rng.integers(0, 4))
        rows += _place(f"u{u}", 1, [0.9, 0.5, 0.4, 0.3], [0.25] * 4, [np.nan] * 4, chosen=a)
        r = np.zeros(4)
        r[a] = float(rng.random() < chance[a])
        rewards += r.tolist()
    actions = pd.DataFrame(rows)
    out = evaluate_targets(actions, np.array(rewards), seed=1)
    blend = out["blend_greedy"]
    assert blend["ips"]["low"] <= 0.6 <= blend["ips"]["high"]
    assert blend["snips"]["value"] == pytest.approx(0.6, abs=0.04)
    chosen = actions["chosen"].to_numpy()
    assert out["logging"]["ips"]["value"] == pytest.approx(np.array(rewards)[chosen].mean(), abs=1e-6)
    assert out["uniform"]["snips"]["value"] == pytest.approx(np.array(rewards)[chosen].mean(), abs=1e-6)
    assert "skipped" in out["model_greedy"]
