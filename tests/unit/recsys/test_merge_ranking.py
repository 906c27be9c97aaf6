"""The merge's fast ranking equals the plain one: a full sort per listener over every item."""

import numpy as np
import pytest

from jobs.config import MergeConf
from jobs.evaluation.metrics import score_floors, top_k_dot
from jobs.recsys.diversity import pick_diverse
from jobs.recsys.items import Items
from jobs.recsys.playlists import recommend_block
from jobs.recsys.scoring import ranked


def _world(n_items=600, n_artists=40, rank=8, seed=3):
    rng = np.random.default_rng(seed)
    artist = rng.integers(0, n_artists, n_items)
    artist[:60] = 0  # one prolific artist, so the artist cap has to skip a lot
    cold = rng.random(n_items) < 0.1
    neighbours = {a: (rng.choice(n_artists, 3, replace=False), rng.random(3)) for a in range(n_artists)}
    items = Items(
        track_ids=np.array([f"t{i:04d}" for i in range(n_items)], dtype=object),
        artist_idx=artist,
        song_key=np.arange(n_items) // 2 * (rng.random(n_items) < 0.2) + np.arange(n_items) * 1000,
        vectors=rng.normal(size=(n_items, rank)).astype(np.float32),
        popularity=rng.integers(0, 50, n_items).astype(float),
        artist_names=np.array([f"A{a}" for a in range(n_artists)], dtype=object),
        titles=np.array([f"S{i}" for i in range(n_items)], dtype=object),
        is_cold=cold,
        artist_neighbours=neighbours,
    )
    users = rng.normal(size=(25, rank)).astype(np.float32)
    users[0] = items.vectors[:60].mean(0) * 5  # loves the prolific artist
    heard = [np.sort(rng.choice(n_items, rng.integers(0, 80), replace=False)) for _ in users]
    tops = [rng.choice(n_artists, 3, replace=False) for _ in users]
    shares = [np.array([0.5, 0.3, 0.2]) for _ in users]
    return items, users, heard, tops, shares


def _plain(items, u, heard, tops, shares, blend):
    """The reference: score every item in float64, sort them all, walk the order."""
    n = len(items.track_ids)
    cold = items.cold()
    dots = items.vectors.astype(np.float64) @ u.astype(np.float64)
    unheard = np.ones(n, bool)
    unheard[heard] = False
    best = max(dots[~cold & unheard].max(initial=0.0), 0.0)
    scale = best if best > 0 else 1.0
    model = np.maximum(dots, 0) / scale * np.where(cold, blend.w_audio, blend.w_als)
    pref = np.zeros(len(items.artist_names))
    for a, s in zip(tops, shares, strict=True):
        nb, sim = items.artist_neighbours[int(a)]
        np.add.at(pref, nb, s * sim)
    pref[tops] = 0
    culture = pref[items.artist_idx] / pref.max() if pref.max() > 0 else np.zeros(n)
    top = items.prior.max(initial=0.0)
    prior = blend.w_popularity / top * items.prior if top > 0 else np.zeros(n)
    score = model + blend.w_culture * culture + prior
    score = np.where(unheard & (score > 0), score, -np.inf)
    score[cold & (score < blend.w_audio * blend.min_cold_score)] = -np.inf
    order = np.lexsort((np.arange(n), -score))
    order = order[np.isfinite(score[order])]
    return pick_diverse(order, items.artist_idx, items.song_key, blend.k, blend.artist_cap, cold=cold, cold_slots=3)


@pytest.mark.parametrize(
    ("n_items", "k"),
    [(600, 30), (9000, 5)],  # the second is large enough for the sampled score floors to be used
)
def test_recommend_block_matches_a_full_sort_of_every_item(n_items, k):
    items, users, heard, tops, shares = _world(n_items=n_items)
    blend = MergeConf(k=k, artist_cap=2, w_culture=0.3, cold_slots=3, min_cold_score=0.3)
    lists = recommend_block(users, heard, [np.zeros(0, int)] * len(users), items, blend, tops, shares)
    for r, playlist in enumerate(lists):
        expected = _plain(items, users[r], heard[r], tops[r], shares[r], blend)
        got = [p.item for p in playlist][: len(expected)]
        assert got == expected, f"listener {r}"


def test_ranked_is_a_prefix_of_the_full_order_even_with_ties():
    rng = np.random.default_rng(0)
    score = rng.integers(-3, 20, 5000).astype(np.float32)  # many ties; 0 and below: not proposed
    score[rng.random(5000) < 0.3] = -np.inf
    full = np.lexsort((np.arange(5000), -score))
    full = full[score[full] > 0]
    order, complete = ranked(score, 50)
    assert not complete and len(order) >= 50
    assert (order == full[: len(order)]).all()
    for floor in (15.0, 19.0, 25.0):  # a low enough guess narrows the sort; a too high one is ignored
        order, complete = ranked(score, 50, floor)
        assert not complete and len(order) >= 50 and (order == full[: len(order)]).all()
    order, complete = ranked(score, 10_000)
    assert complete and (order == full).all()


def test_score_floors_are_reached_by_enough_items_of_a_large_catalog():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(20, 50_000)).astype(np.float32)
    floors = score_floors(scores, 400)
    reached = (scores >= floors[:, None]).sum(axis=1)
    assert (reached >= 400).all() and (reached < 5_000).all()
    assert (score_floors(scores[:, :1000], 400) == 0).all()  # small catalog: no guess


def test_top_k_dot_equals_a_brute_force_sort():
    rng = np.random.default_rng(1)
    U, V = rng.normal(size=(300, 6)).astype(np.float32), rng.normal(size=(700, 6)).astype(np.float32)
    idx, vals = top_k_dot(U, V, 10, block_cells=7_000)  # 10 rows a block: many blocks
    full = U @ V.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :10]
    assert (idx == expected).all()
    assert np.allclose(vals, np.take_along_axis(full, expected, axis=1))
    big = rng.normal(size=(9000, 6)).astype(np.float32)  # large enough for the sampled floors
    idx, _ = top_k_dot(U[:50], big, 30)
    assert (idx == np.argsort(-(U[:50] @ big.T), axis=1, kind="stable")[:, :30]).all()
    idx, _ = top_k_dot(U[:2], V[:5], 10)  # k larger than the catalog: everything, best first
    assert idx.shape == (2, 5) and (idx == np.argsort(-(U[:2] @ V[:5].T), axis=1, kind="stable")).all()
