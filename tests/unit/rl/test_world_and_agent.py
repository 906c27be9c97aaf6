"""The world model as a gymnasium.Env (its rules masked, seeded) and the action-head DQN learning a toy world."""

import gymnasium as gym
import numpy as np
import pytest

from jobs.rl.agent import DqnSettings, agent_choice, q_input, train_agent
from jobs.rl.world import PlaylistWorld, Pool, Rewards, in_order

D = 3  # static width of the toy rows: [listen chance, 0, 0]


def toy_user_model(rows):
    """p(skip, listen, complete): listen with the row's first number, never complete, skip the rest."""
    p = np.clip(rows[:, 0], 0, 1)
    return np.column_stack([1 - p, p, np.zeros(len(p))])


def toy_pool(user, chances, artists=None, songs=None, cold=None):
    n = len(chances)
    static = np.zeros((n, D), dtype=np.float32)
    static[:, 0] = chances
    return Pool(
        user,
        static,
        np.asarray(artists if artists is not None else np.arange(n)),
        np.asarray(songs if songs is not None else np.arange(n)),
        np.asarray(cold if cold is not None else np.zeros(n, dtype=bool)),
    )


def test_the_world_model_masks_the_merge_rules_and_refuses_a_forbidden_action():
    pool = toy_pool("u", [0.5] * 6, artists=[0, 0, 0, 1, 2, 3], songs=[0, 1, 2, 3, 3, 4], cold=[0, 0, 0, 1, 0, 1])
    env = PlaylistWorld(toy_user_model, [pool], k=4, artist_cap=2, cold_slots=1, rewards=Rewards(0.0, 0.0))
    obs, info = env.reset(seed=1, options={"listener": 0})
    assert info["user_id"] == "u" and obs["mask"].tolist() == [1] * 6
    assert obs["candidates"].shape == (6, D + 4)
    obs, *_ = env.step(0)
    obs, *_ = env.step(1)
    assert obs["mask"].tolist() == [0, 0, 0, 1, 1, 1]  # artist 0 has its 2
    obs, *_ = env.step(3)  # cold, song 3
    assert obs["mask"].tolist() == [0, 0, 0, 0, 0, 0]  # 4: same song as 3; 5: a second cold track
    with pytest.raises(ValueError, match="not allowed"):
        env.step(4)


def test_the_world_model_is_a_seeded_gymnasium_env():
    pools = [toy_pool(f"u{i}", np.linspace(0.1, 0.9, 8)) for i in range(3)]
    env = PlaylistWorld(toy_user_model, pools, k=5, artist_cap=2, cold_slots=5)
    assert isinstance(env, gym.Env) and env.action_space.n == 8

    def episode(seed):
        obs, info = env.reset(seed=seed)
        out, done = [info["listener"]], False
        while not done:
            obs, reward, done, _, step = env.step(int(np.flatnonzero(obs["mask"])[0]))
            out.append((reward, step["listen"], step["expected_reward"]))
        return out

    assert episode(3) == episode(3)
    runs = {str(episode(s)) for s in range(6)}
    assert len(runs) > 1
    env.reset(seed=0, options={"listener": 0})
    assert env.observation()["candidates"].shape == env.observation_space["candidates"].shape


def test_expected_rollout_follows_a_choice_rule_through_the_rules():
    pool = toy_pool("u", [0.1, 0.9, 0.5, 0.8], artists=[0, 1, 1, 1])
    env = PlaylistWorld(toy_user_model, [pool], k=3, artist_cap=2, cold_slots=0)
    order, rewards, probs = env.expected_rollout(0, in_order(np.array([1, 3, 2, 0])))
    assert order == [1, 3, 0]  # candidate 2 is the third track of artist 1
    np.testing.assert_allclose(rewards, [0.9 - 0.1 * 0.1, 0.8 - 0.1 * 0.2, 0.1 - 0.1 * 0.9], rtol=1e-5)
    assert probs.shape == (3, 3)


def test_the_agent_learns_a_toy_world_where_one_action_is_clearly_best_and_training_is_seeded():
    """Candidate 3 always listens, the others rarely; the agent must take it first."""
    chances = [0.05, 0.1, 0.05, 0.95, 0.1, 0.05]
    pools = [toy_pool(f"u{i}", chances) for i in range(4)]
    env = PlaylistWorld(toy_user_model, pools, k=2, artist_cap=2, cold_slots=0)
    settings = DqnSettings(episodes=120, hidden=(16,), replay=500, batch=16, target_sync=20, update_every=1)
    _, q, curve = train_agent(env, settings, seed=3)
    assert curve["updates"] > 100
    order, _, _ = env.expected_rollout(0, agent_choice(q, toy_user_model))
    assert order[0] == 3
    # the same seed, the same network
    _, again, _ = train_agent(env, settings, seed=3)
    rows = q_input(toy_user_model, env.rows_at(0, 0, 0.0, 0.0))
    np.testing.assert_array_equal(q(rows), again(rows))


def test_reuse_takes_the_newest_recent_agent_with_the_same_inputs(tmp_path):
    import json

    from jobs.ahdqn import previous_agent
    from jobs.config import build_config
    from jobs.rl.history import agent_folder
    from jobs.rl.user_model import DenseNet

    def config(train, retrain_weeks=4):
        return build_config(
            {"paths": {"warehouse": str(tmp_path)}, "rl": {"train": train, "retrain_weeks": retrain_weeks}}
        )

    names = ("a", "b")
    net = DenseNet(
        np.zeros(2, np.float32),
        np.ones(2, np.float32),
        ((np.ones((2, 1), np.float32), np.zeros(1, np.float32)),),
        "linear",
        names,
    )
    for week in ("2026-W44", "2026-W46"):
        folder = agent_folder(config("reuse"), week)
        folder.mkdir(parents=True)
        net.save(folder)
        (folder / "info.json").write_text(json.dumps({"week": week, "trained_week": week}))
    found = previous_agent(config("reuse"), "2026-W48", names)
    assert found is not None and found[1] == "2026-W46"
    assert previous_agent(config("weekly"), "2026-W48", names) is None  # train: weekly always trains
    assert previous_agent(config("reuse"), "2026-W48", ("other",)) is None  # inputs changed: retrain
    assert previous_agent(config("reuse", retrain_weeks=1), "2026-W51", names) is None  # too old: retrain
