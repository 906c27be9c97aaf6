"""True reasons: a row's reason follows the part of its score that contributed most."""

import numpy as np

from jobs.config import MergeConf
from jobs.recsys.explanations import POPULAR_REASON, explain, seed_contributions
from jobs.recsys.items import Items
from jobs.recsys.playlists import recommend_block


def _items(vectors, artists, popularity):
    n = len(vectors)
    return Items(
        track_ids=np.array([f"t{i}" for i in range(n)], dtype=object),
        artist_idx=np.array(artists),
        song_key=np.arange(n),
        vectors=np.array(vectors, dtype=np.float32),
        popularity=np.array(popularity, dtype=np.float64),
        artist_names=np.array(["Ana", "Bo", "Cy", "Dee"], dtype=object),
    )


# seeds: t0 (Ana) and t1 (Bo); candidates t2 (Cy), t3 (Dee)
VECTORS = [[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.1, 0.2]]
ARTISTS = [0, 1, 2, 3]


def test_seed_contributions_add_up_to_the_implicit_als_score_of_the_solved_user_vector():
    items = _items(VECTORS, ARTISTS, [3, 3, 1, 1])
    seeds, conf, reg = np.array([0, 1]), np.array([2.0, 40.0]), 0.1
    contrib = seed_contributions(np.array([2, 3]), seeds, conf, items, reg)
    Y = items.vectors.astype(np.float64)
    A = Y.T @ Y + Y[seeds].T @ np.diag(conf - 1) @ Y[seeds] + reg * 2 * np.eye(2)
    user = np.linalg.solve(A, Y[seeds].T @ conf)  # Hu et al.'s x_u for preferences 1 on the seeds
    np.testing.assert_allclose(contrib.sum(axis=1), Y[[2, 3]] @ user, rtol=1e-9)


def test_an_als_reason_names_the_seed_artist_with_the_largest_contribution_not_the_closest_track():
    # seeds: t0 by Ana, t1 and t4 by Bo; the pick t2 points almost exactly along Ana's t0
    items = _items([[0.8, 0.55], [1.0, 0.0], [0.8, 0.6], [0.1, 0.2], [0.0, 1.0]], [0, 1, 2, 3, 1], [1] * 5)
    seeds, picked = np.array([0, 1, 4]), np.array([2])
    cosine = items.normed[seeds] @ items.normed[2]
    assert seeds[np.argmax(cosine)] == 0  # the closest track is Ana's: what the reason used to name
    contrib = seed_contributions(picked, seeds, np.ones(3), items)[0]
    assert contrib[0] > contrib[1] and contrib[1] + contrib[2] > contrib[0]  # Bo's two tracks add up to more
    assert explain(picked, ["als"], seeds, items) == ["Because you play Bo"]
    # a listener who played Ana's track far more than Bo's owes the pick to Ana
    assert explain(picked, ["als"], seeds, items, np.array([20.0, 1.0, 1.0])) == ["Because you play Ana"]


def test_a_row_carried_by_the_popularity_prior_says_so_and_the_others_keep_their_part():
    items = _items(VECTORS, ARTISTS, [0, 0, 1, 10])  # t3: ten listeners, t2: one
    blend = MergeConf(k=2, artist_cap=2, w_popularity=1.0, popularity_days=0)
    user = np.array([[1.0, 0.5]], np.float32)  # ALS: t2 1.1 (the best unheard, so 1.0 after scaling), t3 0.2
    (rows,) = recommend_block(user, [np.array([0, 1])], [np.array([0, 1])], items, blend)
    by_track = {items.track_ids[p.item]: p for p in rows}
    # t2: ALS 1.0 + prior 0.1; t3: ALS 0.18 + prior 1.0: the prior carries it
    assert by_track["t3"].source == "popular" and by_track["t3"].reason == POPULAR_REASON
    assert by_track["t2"].source == "als" and by_track["t2"].reason.startswith("Because you play ")
    np.testing.assert_allclose([by_track["t2"].score, by_track["t3"].score], [1.1, 0.2 / 1.1 + 1.0], rtol=1e-6)
