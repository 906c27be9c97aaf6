import math

import numpy as np
import pytest

from jobs.evaluation.metrics import ndcg_at_k, percentile_ranks, precision_at_k, recall_at_k, top_k_masked


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
