"""make tune: the search picks the known best setting on a hand-made time series, using only the weeks
before the scored one; the overlay it writes loads and changes exactly the tuned keys; the popularity
prior it may choose leaves the blend unchanged at its default."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml

from jobs.config import ConfigError, MergeConf, load_config
from jobs.recsys.items import Items
from jobs.recsys.scoring import blend_block
from jobs.tools.tune import changed_keys, draw, one_factor, search, validation_weeks, write_overlay
from jobs.tools.tune_eval import score_lists, week_truth
from jobs.warehouse.weeks import cutoff, shift

TUNE_WEEK = "2026-W11"  # the first scored week: the tune may use nothing from it on


def _series() -> pd.DataFrame:
    """12 weeks: each week two new "hot" tracks, played that week by three crowd listeners, and one
    distractor played by five others; a follower plays each week, for the first time, the hot tracks
    of two weeks before. Track ids grow with time."""
    rows = []
    for n in range(1, 13):
        week = f"2026-W{n:02d}"
        monday = cutoff(week)
        rows += [(f"x{x}", f"d{n:02d}", monday + dt.timedelta(hours=5)) for x in range(5)]
        for j in range(2):
            for c in range(3):
                rows.append((f"c{c}", f"t{n:02d}{j}", monday + dt.timedelta(hours=1 + c)))
            if n > 2:
                rows.append(("f", f"t{n - 2:02d}{j}", monday + dt.timedelta(days=2)))
    plays = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at"])
    plays["played_at"] = pd.to_datetime(plays["played_at"], utc=True)
    plays["ms_played"] = 200_000
    return plays


class WindowPopularity:
    """A real, tiny recommender for the test: the k tracks most played in the last ``als.window_weeks``
    weeks that the listener never played (ties: the smaller id); ``als.rank`` and the blend change nothing."""

    def __init__(self, plays: pd.DataFrame, k: int = 4):
        self.plays, self.k, self.weeks = plays, k, []

    def __call__(self, fit, blends, week):
        self.weeks.append(week)
        cut = pd.Timestamp(cutoff(week))
        before = self.plays[self.plays["played_at"] < cut]
        recent = before[before["played_at"] >= cut - pd.Timedelta(weeks=fit["als.window_weeks"])]
        counts = recent.groupby("track_id").size().reset_index(name="n")
        order = counts.sort_values(["n", "track_id"], ascending=[False, True])["track_id"].tolist()
        heard = before.groupby("user_id")["track_id"].agg(set).to_dict()
        truth = week_truth(self.plays, week, 30_000)
        lists = {u: [t for t in order if t not in heard.get(u, set())][: self.k] for u in truth}
        return [score_lists(lists, truth, self.k) for _ in blends]


def test_validation_weeks_are_the_weeks_just_before_the_tuned_week():
    assert validation_weeks("1998-W10", 6) == [f"1998-W0{n}" for n in range(4, 10)]
    assert validation_weeks("2026-W02", 3) == ["2025-W51", "2025-W52", "2026-W01"]
    with pytest.raises(ValueError, match="not an ISO week"):
        validation_weeks("1998-10", 2)


def test_search_picks_the_known_best_window_on_the_weeks_before_the_scored_one_only():
    plays = _series()
    history = plays[plays["played_at"] < pd.Timestamp(cutoff(TUNE_WEEK))]  # what the tune reads
    evaluate = WindowPopularity(history)
    space = {"als.window_weeks": (1, 2, 8), "als.rank": (4, 8)}
    blends = [{"merge.w_popularity": 0.0}, {"merge.w_popularity": 1.0}]
    weeks = validation_weeks(TUNE_WEEK, 4)
    base = {"als.window_weeks": 8, "als.rank": 8}
    result = search(evaluate, base, space, blends, weeks, random_fits=[{"als.window_weeks": 1, "als.rank": 4}])

    # window 2 holds the follower's next first plays behind two distractors, window 8 only
    # distractors, window 1 none of them; rank and blend change nothing: the base's values win the ties
    assert result.best.setting() == {"als.window_weeks": 2, "als.rank": 8, "merge.w_popularity": 0.0}
    p_best, _, n = result.best.means(weeks)
    assert result.base.means(weeks)[0] == 0.0 < p_best
    assert n == 4 * 9  # the follower, three crowd listeners and five others, each of 4 weeks
    assert abs(p_best - 2 / 4 / 9) < 1e-12  # the follower's 2 hits of 4, the others' none
    # the weeks it scored: the four before the tuned week, each ending before it
    assert sorted(set(evaluate.weeks)) == weeks == ["2026-W07", "2026-W08", "2026-W09", "2026-W10"]
    assert all(cutoff(w) + dt.timedelta(weeks=1) <= cutoff(TUNE_WEEK) for w in evaluate.weeks)
    assert result.first_weeks == ["2026-W09", "2026-W10"]
    # one call per fit and week: 5 fits (base, 3 one-key changes, the random one; the combination of
    # the best values is a one-key change already) on the first 2 weeks, then 2 of them on the other 2
    assert result.fits == len(evaluate.weeks) == 5 * 2 + 2 * 2


def test_scored_weeks_are_not_needed_the_result_is_the_same_without_them():
    plays = _series()
    cut = pd.Timestamp(cutoff(TUNE_WEEK))
    space, blends, weeks = {"als.window_weeks": (1, 2, 8)}, [{}], validation_weeks(TUNE_WEEK, 4)
    base = {"als.window_weeks": 8}
    with_future = search(WindowPopularity(plays), base, space, blends, weeks)
    without = search(WindowPopularity(plays[plays["played_at"] < cut]), base, space, blends, weeks)
    assert with_future.best.setting() == without.best.setting() == {"als.window_weeks": 2}
    assert [c.scores[w].tolist() for c in with_future.ranked for w in weeks] == [
        c.scores[w].tolist() for c in without.ranked for w in weeks
    ]


def test_one_factor_and_draw():
    space = {"a": (1, 2, 3), "b": (0, 1)}
    assert one_factor(space, {"a": 2, "b": 0}) == [{"a": 1, "b": 0}, {"a": 3, "b": 0}, {"a": 2, "b": 1}]
    drawn = draw(space, {"a": 2, "b": 0}, 3, seed=0)
    assert drawn == draw(space, {"a": 2, "b": 0}, 3, seed=0) and len(drawn) == 3
    assert {"a": 2, "b": 0} not in drawn and len({tuple(d.values()) for d in drawn}) == 3


def test_the_overlay_loads_and_changes_exactly_the_tuned_keys(tmp_path):
    base_path = tmp_path / "pipeline.yaml"
    base_path.write_text("spark:\n  driver_memory: 8g\nals:\n  max_iter: 10\n")
    out = tmp_path / "tuned.yaml"
    chosen = {"als.rank": 16, "als.alpha": 8.0, "als.window_weeks": 52, "merge.w_popularity": 0.5}
    raw = write_overlay(out, base_path, chosen, "# a header\n")
    assert out.read_text().startswith("# a header\n")
    assert yaml.safe_load(out.read_text()) == raw
    before, after = load_config(base_path, environ={}), load_config(out, environ={})
    # alpha 8.0 is the default already: set in the file, changed nowhere
    assert changed_keys(before, after) == {"als.rank", "als.window_weeks", "merge.w_popularity"}
    assert (after.als.rank, after.als.window_weeks, after.merge.w_popularity) == (16, 52, 0.5)
    assert (after.spark.driver_memory, after.als.max_iter) == ("8g", 10)  # the base file's overrides are kept
    # and the jobs read it as DW_CONF
    assert load_config(environ={"DW_CONF": str(out)}) == after


def test_an_invalid_overlay_is_refused_and_not_written(tmp_path):
    base_path = tmp_path / "pipeline.yaml"
    base_path.write_text("{}\n")
    out = tmp_path / "tuned.yaml"
    with pytest.raises(ConfigError, match=r"als\.rank=0: must be >= 1"):
        write_overlay(out, base_path, {"als.rank": 0})
    assert list(tmp_path.iterdir()) == [base_path]


def _items(popularity):
    n = len(popularity)
    return Items(
        track_ids=np.array([f"t{i}" for i in range(n)], dtype=object),
        artist_idx=np.arange(n),
        song_key=np.arange(n),
        vectors=np.array([[0.9], [0.8], [0.5], [0.1]], dtype=np.float32),
        popularity=np.array(popularity, dtype=np.float64),
        artist_names=np.array([f"A{i}" for i in range(n)], dtype=object),
    )


def test_the_popularity_prior_adds_plays_over_the_most_played():
    items = _items([10.0, 0.0, 40.0, 20.0])
    user, heard = np.array([[1.0]], np.float32), [np.array([0])]
    none = [np.zeros(0, np.int64)]
    default, _ = blend_block(user, heard, none, [np.zeros(0)], items, MergeConf(w_popularity=0.0))
    assert MergeConf().w_popularity == 4.0  # chosen on the sample world (docs/measurements.md, "The blend, measured")
    # ALS alone: dot products over the best unheard one (0.8); the heard track -inf
    np.testing.assert_allclose(default[0], [-np.inf, 1.0, 0.625, 0.125], rtol=1e-6)
    prior, _ = blend_block(user, heard, none, [np.zeros(0)], items, MergeConf(w_popularity=1.0))
    np.testing.assert_allclose(prior[0], [-np.inf, 1.0, 1.625, 0.625], rtol=1e-6)


def test_week_truth_is_the_first_plays_of_listeners_with_history():
    plays = _series()
    truth = week_truth(plays, "2026-W05", 30_000)
    crowd = {f"c{c}": {"t050", "t051"} for c in range(3)}
    assert truth == {"f": {"t030", "t031"}, **crowd, **{f"x{x}": {"d05"} for x in range(5)}}
    assert "f" not in week_truth(plays, "2026-W01", 30_000)  # no history before the first week
    assert shift("2026-W05", 1) == "2026-W06"


def test_render_lists_the_chosen_settings_and_each_second_round_fit():
    from jobs.tools.tune import BLEND_SPACE, FIT_SPACE, render

    base = {k: v[1] if k == "als.rank" else v[0] for k, v in {**FIT_SPACE, **BLEND_SPACE}.items()}
    long = {**base, "als.window_weeks": 52}
    rows = [  # best first, as the tune writes them
        {"setting": {**long, "merge.w_popularity": 2.0}, "precision@30": 0.05, "recall@30": 0.13, "listener_weeks": 9},
        {"setting": long, "precision@30": 0.04, "recall@30": 0.12, "listener_weeks": 9},
        {"setting": base, "precision@30": 0.03, "recall@30": 0.11, "listener_weeks": 9},
    ]
    report = {"week": "1998-W10", "weeks": ["1998-W08", "1998-W09"], "fits": 3, "seconds": 60.0}
    text = render({**report, "base": base, "chosen": rows[0]["setting"], "candidates": rows})
    assert "| `als.window_weeks` | 8 | 52 |" in text and "| `merge.w_popularity` | 0.0 | 2.0 |" in text
    assert "| best blend | its w_popularity, popularity_days, min_plays |" in text
    assert "| {'als.window_weeks': 52} | 0.0400 / 0.1200 | 0.0500 / 0.1300 | 2.0, 0, 1 |" in text
    assert "| none (defaults) | 0.0300 / 0.1100 | 0.0300 / 0.1100 | 0.0, 0, 1 |" in text


def test_the_prior_counts_only_the_last_days_when_popularity_days_is_set():
    """Tracks a and b have the same three listeners in the window, a long ago, b in the last week:
    with ``merge.popularity_days`` 7 the prior follows b's recent listeners (skips are not counted)."""
    from dataclasses import replace

    from jobs.recsys.inputs import build_inputs

    week, cut = "2026-W11", cutoff("2026-W11")
    ids = ["a", "b", "c"]
    at = [cut - dt.timedelta(days=30)] * 6 + [cut - dt.timedelta(days=2)] * 3 + [cut - dt.timedelta(days=1)] * 4
    plays = pd.DataFrame(
        {
            "user_id": [f"u{i % 3}" for i in range(13)],
            "track_id": ["a"] * 6 + ["b"] * 3 + ["c"] * 4,
            "played_at": pd.to_datetime(at, utc=True),
            "ms_played": [200_000] * 9 + [5_000] * 4,  # c's recent plays are skips
        }
    )
    counts = plays[plays["ms_played"] >= 30_000].groupby(["user_id", "track_id"]).size().reset_index(name="plays")
    rng = np.random.default_rng(0)
    item_f = pd.DataFrame({"track_id": ids, "vector": list(rng.normal(size=(3, 4))), "plays": [6, 3, 0]})
    user_f = pd.DataFrame({"user_id": ["u0", "u1", "u2"], "vector": list(rng.normal(size=(3, 4)))})
    tracks = pd.DataFrame(
        {"track_id": ids, "title": ids, "artist_id": ["x", "y", "z"], "release_date": ["2020-01-01"] * 3}
    )
    artists = pd.DataFrame({"artist_id": ["x", "y", "z"], "name": ["X", "Y", "Z"]})
    base = load_config().model_copy(update={"merge": MergeConf(min_plays=1, popularity_days=0, popularity_shrinkage=0)})
    window = build_inputs(base, week, user_f, item_f, counts, plays, tracks, artists)
    assert window.items.recent is None and window.items.prior.tolist() == [3.0, 3.0, 0.0]  # listeners, not plays
    assert MergeConf().popularity_days == 7  # chosen on the sample world (docs/measurements.md, "The blend, measured")
    days = base.model_copy(update={"merge": MergeConf(min_plays=1, popularity_days=7, popularity_shrinkage=0)})
    recent = build_inputs(days, week, user_f, item_f, counts, plays, tracks, artists)
    assert recent.items.prior.tolist() == [0.0, 3.0, 0.0]
    assert recent.items.popularity.tolist() == [3.0, 3.0, 0.0]  # fallback lists and novelty keep the window's
    # and the blend's prior follows it: b gains w_popularity, a nothing
    user, none = np.array([[0.0, 0.0, 0.0, 0.0]], np.float32), [np.zeros(0, np.int64)]
    blend = MergeConf(w_popularity=2.0, popularity_shrinkage=0)
    scores, _ = blend_block(user, none, none, [np.zeros(0)], recent.items, blend)
    np.testing.assert_allclose(scores[0], [0.0, 2.0, 0.0])
    scores, _ = blend_block(user, none, none, [np.zeros(0)], replace(recent.items, recent=None), blend)
    np.testing.assert_allclose(scores[0], [2.0, 2.0, 0.0])
