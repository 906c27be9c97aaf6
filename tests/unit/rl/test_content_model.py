"""The per-listener content model learns each listener's own liking from sound, and is judged per listener."""

import numpy as np
import pandas as pd
import pytest

from jobs.rl.content_model import fit_content_model, liked_labels, per_listener_auc

pytestmark = pytest.mark.tf


def _pairs(n_tracks, seed):
    """Listeners a* like fast tracks, b* slow ones (feature 0 is the tempo)."""
    rng = np.random.default_rng(seed)
    users, rows, liked = [], [], []
    for u in [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]:
        X = rng.normal(size=(n_tracks, 4)).astype(np.float32)
        likes = X[:, 0] > 0 if u.startswith("a") else X[:, 0] < 0
        users += [u] * n_tracks
        rows.append(X)
        liked.append(likes)
    return np.array(users), np.vstack(rows), np.concatenate(liked).astype(np.int8)


def test_one_network_with_a_listener_embedding_learns_opposite_tastes():
    users, X, y = _pairs(30, 0)
    _, net, loss = fit_content_model(users, X, y, embedding=4, epochs=30, batch_size=32, learning_rate=0.01, seed=1)
    assert loss[-1] < loss[0]
    t_users, t_X, t_y = _pairs(20, 1)
    test = pd.DataFrame({"user_id": t_users, "liked": t_y})
    scores = net(t_users, t_X)
    counts = pd.Series(30, index=sorted(set(users)))
    out = per_listener_auc(test, scores, np.full(len(test), 0.5), counts)
    assert out["listeners"] == 20
    assert out["all"]["auc"] > 0.85 and out["all"]["baseline_auc"] == 0.5
    assert out["by_history"]["10-49"]["listeners"] == 20 and out["by_history"]["1-9"] == {"listeners": 0}
    # a listener never seen gets the mean embedding, not an error
    assert net(np.array(["zz"]), t_X[:1]).shape == (1,)


def test_liked_means_completed_or_saved_and_disliked_only_skipped():
    pairs = pd.DataFrame(
        {
            "user_id": ["u"] * 4,
            "track_id": ["t1", "t2", "t3", "t4"],
            "completed": [1, 0, 0, 1],
            "skipped": [0, 1, 1, 1],
            "listened": [1, 0, 1, 1],
        }
    )
    out = liked_labels(pairs)
    assert out["track_id"].tolist() == ["t1", "t2", "t4"]  # t3 was listened to in part: left out
    assert out["liked"].tolist() == [1, 0, 1]
