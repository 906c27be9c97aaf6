"""The simulator's listeners: the hidden response model, a lived week, and its determinism."""

import numpy as np
import pandas as pd
import pytest

from jobs.config import build_config
from jobs.tools.world.cli import TINY
from jobs.tools.world.live import live_week, load_sim_world, write_week
from jobs.tools.world.model import build_world
from jobs.tools.world.respond import (
    EXAMINE,
    REASON_KINDS,
    closeness,
    expected_reward,
    probabilities,
    reason_kind,
)
from jobs.warehouse.weeks import shift, week_of

CONF = build_config({"world": {**TINY, "users": 40, "tracks": 120, "new_releases": 6}}).world


@pytest.fixture(scope="module")
def sim():
    return load_sim_world(CONF)


def _shown(sim, users=20, k=10, reason="Because you play X", seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in list(sim.user_index)[:users]:
        for p, t in enumerate(rng.choice(len(sim.track_ids), k, replace=False), 1):
            rows.append((u, p, sim.track_ids[t], reason))
    return pd.DataFrame(rows, columns=["user_id", "position", "track_id", "reason"])


def test_the_hidden_model_is_the_generated_worlds(sim):
    world = build_world(CONF)
    assert sim.end == world.end
    assert list(sim.user_index) == world.listeners.user_ids
    np.testing.assert_array_equal(sim.ctx.listeners.activity, world.listeners.activity)
    np.testing.assert_array_equal(sim.ctx.catalog.track_latent, world.catalog.track_latent)


def test_reason_kinds_are_read_from_the_words():
    assert reason_kind("Because you play Nova Static") == "because"
    assert reason_kind("More from Nova Static, whom you play") == "more_from"
    assert reason_kind("New release that sounds like Song by X") == "sounds_like"
    assert reason_kind("Fans describe it as dreamy, lo-fi") == "fans"
    assert reason_kind("Popular with listeners this week") == "popular"
    assert reason_kind("Starter pick while we learn your taste: popular with listeners this week") == "popular"
    assert reason_kind("Because you've been listening to Song lately") == "taste"


def test_stream_chance_rises_with_closeness_and_falls_with_the_place(sim):
    users = np.zeros(len(sim.track_ids), dtype=np.int64)
    tracks = np.arange(len(sim.track_ids))
    kinds = np.zeros(len(tracks), dtype=np.int64)
    fatigue = np.zeros(sim.users)
    p = probabilities(sim.ctx, sim.traits, users, tracks, np.ones(len(tracks)), kinds, CONF.weeks, fatigue)
    order = np.argsort(p["closeness"])
    assert np.all(np.diff(p["p_stream"][order]) >= 0)  # same listener and kind: monotone in closeness
    late = probabilities(sim.ctx, sim.traits, users, tracks, np.full(len(tracks), 11), kinds, CONF.weeks, fatigue)
    np.testing.assert_allclose(late["p_look"], EXAMINE**10)
    tired = probabilities(sim.ctx, sim.traits, users, tracks, np.ones(len(tracks)), kinds, CONF.weeks, fatigue + 2)
    assert np.all(tired["p_open"] <= p["p_open"])
    assert np.all(expected_reward(p, 0.5) >= expected_reward(p, 0.0))


def test_explanations_move_the_chance_of_a_stream_by_the_listeners_receptivity(sim):
    users = np.arange(sim.users)
    tracks = np.zeros(sim.users, dtype=np.int64)
    fatigue = np.zeros(sim.users)
    because = REASON_KINDS.index("because")
    fans = REASON_KINDS.index("fans")
    args = (sim.ctx, sim.traits, users, tracks, np.ones(sim.users))
    a = probabilities(*args, np.full(sim.users, because), CONF.weeks, fatigue)["p_stream"]
    b = probabilities(*args, np.full(sim.users, fans), CONF.weeks, fatigue)["p_stream"]
    effect = sim.traits.effect
    np.testing.assert_array_equal(a > b, effect[:, because] > effect[:, fans])
    assert (a > b).mean() > 0.7  # +0.4 against -0.1 on average, sd 0.3 each


def test_a_lived_week_turns_answers_into_logs(sim, tmp_path):
    week = week_of(sim.end)
    shown = _shown(sim)
    lived = live_week(sim, week, shown, np.zeros(sim.users), seed=3)
    r = lived.responses
    assert len(r) == len(shown)
    assert not (r["looked"] & ~r["opened"]).any() and not (r["streamed"] & ~r["looked"]).any()
    assert not (r["saved"] & ~r["completed"]).any()
    dw = lived.plays[lived.plays["context"] == "discover_weekly"]
    assert len(dw) == int(r["looked"].sum())  # a play for every place looked at, streams and skips
    assert (dw["ms_played"] >= 30_000).sum() == int(r["streamed"].sum())
    assert len(lived.saves) == int(r["saved"].sum())
    start = pd.Timestamp(sim.end.isoformat())
    assert lived.plays["played_at"].min() >= start and lived.plays["played_at"].max() < start + pd.Timedelta(days=7)
    assert lived.plays["context"].isna().sum() > 0  # the listeners' own plays too
    never = sim.traits.never_opens[r["user"].to_numpy()]
    assert not r.loc[never, "opened"].any()
    files = write_week(lived, tmp_path, week)
    assert (tmp_path / "raw" / "saves" / f"{week}.csv") in files
    back = pd.concat(pd.read_csv(f) for f in files if f.parent.name == "plays")
    assert len(back) == len(lived.plays)
    assert set(back["context"].dropna()) == {"discover_weekly"}


def test_living_is_deterministic_for_a_seed(sim):
    week = shift(week_of(sim.end), 1)
    shown = _shown(sim, seed=1)
    a = live_week(sim, week, shown, np.zeros(sim.users), seed=5)
    b = live_week(sim, week, shown, np.zeros(sim.users), seed=5)
    c = live_week(sim, week, shown, np.zeros(sim.users), seed=6)
    pd.testing.assert_frame_equal(a.plays, b.plays)
    pd.testing.assert_frame_equal(a.responses, b.responses)
    assert not a.plays.equals(c.plays)


def test_fatigue_grows_for_listeners_who_open_and_stream_nothing(sim):
    week = week_of(sim.end)
    shown = _shown(sim, users=40, k=3, reason="Popular with listeners this week")
    lived = live_week(sim, week, shown, np.ones(sim.users), seed=2)
    per = lived.responses.groupby("user").agg(opened=("opened", "max"), streams=("streamed", "sum"))
    for u, row in per.iterrows():
        expected = 1 if not row["opened"] else (0 if row["streams"] else 2)
        assert lived.fatigue[u] == expected


def test_weeks_after_the_window_keep_the_last_taste(sim):
    users = np.arange(sim.users)
    tracks = np.zeros(sim.users, dtype=np.int64)
    np.testing.assert_allclose(
        closeness(sim.ctx, users, tracks, CONF.weeks - 1), closeness(sim.ctx, users, tracks, CONF.weeks + 5)
    )
