import math

import numpy as np
import pytest

from jobs.evaluation.metrics import (
    best_first,
    ndcg_at_k,
    percentile_ranks,
    percentile_ranks_sorted,
    precision_at_k,
    recall_at_k,
    top_k_in_order,
    top_k_masked,
)


def test_ranking_metrics_on_a_hand_worked_example():
    recs = [np.array([1, 2, 3]), np.array([4, 5, 6]), np.array([7, 8, 9])]
    truth = [{1, 3}, {9, 10, 11, 12}, set()]  # the third user has no truth and is skipped
    assert precision_at_k(recs, truth, 3) == pytest.approx((2 / 3 + 0 / 3) / 2)
    assert recall_at_k(recs, truth, 3) == pytest.approx((2 / 2 + 0 / 3) / 2)
    # user 1: hits at ranks 1 and 3 -> (1 + 1/log2(4)) / (1 + 1/log2(3))
    expected = (1 + 0.5) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(recs, truth, 3) == pytest.approx(expected / 2)


def test_metrics_of_a_perfect_ranking_are_one():
    recs = [np.array([0, 1]), np.array([5, 6])]
    truth = [{0, 1}, {5, 6}]
    assert precision_at_k(recs, truth, 2) == 1.0
    assert recall_at_k(recs, truth, 2) == 1.0
    assert ndcg_at_k(recs, truth, 2) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        precision_at_k(recs, truth[:1], 2)


def test_percentile_rank_is_zero_at_the_top_and_one_at_the_bottom():
    scores = np.array([0.9, 0.1, 0.5, 0.3])
    candidates = np.array([True, True, True, False])
    assert percentile_ranks(scores, candidates, [0, 1, 2]) == [0.0, 1.0, 0.5]


def test_top_k_skips_excluded_items_and_breaks_ties_by_index():
    scores = np.array([[1.0, 3, 3, 2, 5], [0, 0, 0, 1, 1]])
    exclude = np.array([[0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=bool)
    assert top_k_masked(scores, exclude, 3).tolist() == [[1, 2, 3], [3, 4, 0]]
    assert top_k_masked(scores, exclude, 0).shape == (2, 0)


def test_auc_counts_ties_half_and_is_undefined_without_both_classes():
    from jobs.evaluation.metrics import auc

    scores = np.array([0.9, 0.5, 0.5, 0.1])
    # positive 0.9 beats all three negatives; positive 0.5 beats 0.1, ties 0.5 (half), loses to 0.9
    assert auc(scores, np.array([True, True, False, False])) == pytest.approx((2 + 1.5) / 4)
    assert auc(scores, np.array([False, False, False, True])) == 0.0
    assert np.isnan(auc(scores, np.zeros(4, dtype=bool))) and np.isnan(auc(scores, np.ones(4, dtype=bool)))


def test_top_k_keeps_the_lower_indices_of_a_crowded_tie_row_by_row():
    scores = np.array([[5.0, 3.0, 3.0, 3.0, 1.0], [3.0, 9.0, 3.0, 3.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    exclude = np.zeros_like(scores, dtype=bool)
    exclude[1, 0] = True
    # row 0: two places for three 3.0s; row 1: two places for three 3.0s once index 0 is excluded;
    # row 2: no tie
    assert top_k_masked(scores, exclude, 3).tolist() == [[0, 1, 2], [1, 2, 3], [4, 3, 2]]


@pytest.mark.parametrize("seed", range(5))
def test_a_shared_order_gives_the_masked_top_k_and_percentile_ranks(seed):
    """A reference scores every listener alike: walking its order and counting in its sorted scores
    gives what the per-row functions give, ties, exclusions and too few items left included."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    scores = rng.integers(0, 6, n).astype(np.float64)  # many ties
    order, ascending = best_first(scores), np.sort(scores)
    for _ in range(20):
        excluded = np.sort(rng.choice(n, int(rng.integers(0, n + 1)), replace=False))  # all of them too
        mask = np.zeros(n, dtype=bool)
        mask[excluded] = True
        k = int(rng.integers(1, n + 3))
        expected = top_k_masked(scores[None, :], mask[None, :], k)[0]
        assert top_k_in_order(order, excluded, k).tolist() == expected.tolist()
        targets = [int(t) for t in rng.choice(n, 3, replace=False)]  # an excluded one too
        assert percentile_ranks_sorted(scores, ascending, excluded, targets) == percentile_ranks(scores, ~mask, targets)
