"""How personal the playlists are, and every listener accounted for: known answers on hand-made lists."""

import itertools

import pandas as pd

from jobs.evaluation.audience import account_listeners, personalisation


def test_mean_overlap_is_the_mean_over_every_pair_of_listeners():
    lists = {"a": ["t1", "t2", "t3"], "b": ["t1", "t2", "t4"], "c": ["t5", "t6", "t1"]}
    pairs = [len(set(x) & set(y)) for x, y in itertools.combinations(lists.values(), 2)]  # 2, 1, 1
    out = personalisation(lists, k=3)
    assert out["mean_overlap"] == round(sum(pairs) / 3, 3) == 1.333
    assert out["distinct_over_rows"] == round(6 / 9, 4) and out["rows"] == 9 and out["listeners"] == 3
    assert out["personalisation@3"] == round(1 - (4 / 3) / 3, 4)
    same = personalisation({"a": ["t1", "t2"], "b": ["t2", "t1"]}, k=2)
    assert same["mean_overlap"] == 2.0 and same["personalisation@2"] == 0.0
    assert personalisation({"a": ["t1"]}, k=1)["personalisation@1"] is None  # one listener: no pair


def test_every_listener_in_the_data_is_accounted_for_by_reason():
    table = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "source": ["als", "popular", "fallback"]})
    excluded = {"u3": "too_few_unheard_tracks", "u4": "thin_history"}
    out = account_listeners({"u1", "u2", "u3", "u4", "u5", "u6"}, {"u1", "u2", "u3", "u4", "u7"}, table, excluded)
    assert out == {
        "in_data": 6,
        "active": 5,
        "personal": 1,
        "fallback": 1,
        # u5, u6 played nothing lately; u7 is active but neither listed nor excluded: said, not hidden
        "without_playlist": {"no_play_in_window": 2, "thin_history": 1, "too_few_unheard_tracks": 1, "unaccounted": 1},
    }
