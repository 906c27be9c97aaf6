"""The taste RNN: its (history, next song) pairs, a learned cycle of songs, seeding and the taste vectors."""

import numpy as np
import pandas as pd
import pytest

from jobs.config import SequenceConf
from jobs.sequence import taste

SONGS = [f"s{i:02d}" for i in range(12)]


def _cycle_sessions(users=20, plays=24, seed=0):
    """Every listener plays the 12 songs in one fixed cycle, from a random starting song."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-01-05", tz="UTC")
    rows = []
    for u in range(users):
        start = int(rng.integers(0, len(SONGS)))
        rows += [
            (f"u{u:02d}", SONGS[(start + j) % len(SONGS)], t0 + pd.Timedelta(minutes=4 * j + 1000 * u), 200_000)
            for j in range(plays)
        ]
    frame = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"])
    return frame.assign(skipped=False)


def test_pairs_hold_the_previous_n_songs_left_padded():
    sessions = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b", "b"],
            "track_id": ["s01", "s02", "zz", "s03", "s05", "s01"],  # zz has no vector: left out
            "played_at": pd.to_datetime([f"2026-01-01 10:0{i}" for i in range(6)], utc=True),
            "skipped": [False, False, False, False, False, True],  # b's skip is no listen
        }
    )
    listens = taste.listen_sequences(sessions, SONGS)
    assert listens["song"].tolist() == [2, 3, 4, 6]  # 1-based rows of SONGS
    pairs = taste.make_pairs(listens, 2)
    assert pairs["x"].tolist() == [[0, 2], [2, 3]]  # only a has a listen after a listen
    assert pairs["y"].tolist() == [3, 4]
    assert pairs["user"].tolist() == ["a", "a"]
    later = taste.make_pairs(listens, 2, since=pd.Timestamp("2026-01-01 10:02", tz="UTC"))
    assert later["x"].tolist() == [[2, 3]] and later["y"].tolist() == [4]  # its history reaches back before since


def test_new_only_pairs_target_first_listens_with_the_whole_history_before():
    sessions = pd.DataFrame(
        {
            "user_id": ["a"] * 5 + ["b"] * 3,
            "track_id": ["s01", "s02", "s01", "s03", "s02", "s01", "s01", "s04"],
            "played_at": pd.to_datetime([f"2026-01-01 10:0{i}" for i in range(8)], utc=True),
            "skipped": False,
        }
    )
    listens = taste.listen_sequences(sessions, SONGS)
    assert taste.target_rows(listens).tolist() == [False, True, True, True, True, False, True, True]
    assert taste.target_rows(listens, new_only=True).tolist() == [False, True, False, True, False, False, False, True]
    pairs = taste.make_pairs(listens, 3, new_only=True)
    assert pairs["y"].tolist() == [3, 4, 5]  # a's s02 and s03, b's s04: replays are not targets
    assert pairs["x"].tolist() == [[0, 0, 2], [2, 3, 2], [0, 2, 2]]  # but stay in the histories
    assert pairs["user"].tolist() == ["a", "a", "b"]
    assert len(taste.make_pairs(listens, 3)["y"]) == 6  # every listen after the first


@pytest.mark.tf
@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_the_rnn_learns_a_deterministic_cycle_of_songs():
    vectors = np.random.default_rng(1).normal(size=(len(SONGS), 8)).astype(np.float32)
    listens = taste.listen_sequences(_cycle_sessions(), SONGS)
    pairs = taste.make_pairs(listens, 3)
    conf = SequenceConf(history=3, units=16, rnn_epochs=25, batch_size=32, learning_rate=0.02, seed=5)
    model, history = taste.train_rnn(vectors, pairs, conf)
    assert history["val_loss"][-1] < -0.95  # cosine of the prediction and the true next song's vector
    result = taste.hit_rates(model, vectors, pairs, np.arange(1, 13), k=1)
    rates = {name: r["mean"] for name, r in result["hit_rate"].items()}
    assert rates["rnn"] == 1.0  # the nearest song to every prediction is the next one in the cycle
    assert rates["last_song"] == 0.0  # the last song's nearest is itself, never next in a cycle
    assert result["rnn_minus"]["last_song"]["low"] > 0.9
    # the taste vector of a listener whose last songs are s03, s04, s05 points at s06
    recent = pd.DataFrame(
        {"user_id": ["x"] * 3, "played_at": pd.to_datetime(["2026-02-01"] * 3, utc=True), "song": [4, 5, 6]}
    )
    frame = taste.taste_vectors(model, recent, {"x"}, 3, SONGS)
    assert frame["recent"].tolist() == [["s03", "s04", "s05"]]
    assert taste.nearest(vectors, np.stack(frame["vector"]), 1)[0, 0] == SONGS.index("s06")


@pytest.mark.tf
@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_the_rnn_is_seeded():
    vectors = np.random.default_rng(1).normal(size=(len(SONGS), 8)).astype(np.float32)
    pairs = taste.make_pairs(taste.listen_sequences(_cycle_sessions(users=6), SONGS), 3)
    conf = SequenceConf(history=3, units=8, rnn_epochs=2, batch_size=16, seed=9)
    first, _ = taste.train_rnn(vectors, pairs, conf)
    second, _ = taste.train_rnn(vectors, pairs, conf)
    assert np.array_equal(taste.predict(first, pairs["x"]), taste.predict(second, pairs["x"]))


@pytest.mark.tf
def test_a_diverging_training_fails_naming_the_setting_instead_of_writing_nan_vectors():
    from jobs.config import ConfigError

    vectors = np.random.default_rng(1).normal(size=(len(SONGS), 8)).astype(np.float32)
    pairs = taste.make_pairs(taste.listen_sequences(_cycle_sessions(users=6), SONGS), 3)
    conf = SequenceConf(history=3, units=8, rnn_epochs=3, batch_size=16, seed=9, learning_rate=1e300)
    with pytest.raises(ConfigError, match=r"sequence.learning_rate=1e\+300: .*not finite"):
        taste.train_rnn(vectors, pairs, conf)


@pytest.mark.tf
@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_turned_weights_predict_the_turned_vector_of_the_same_song():
    vectors = np.random.default_rng(1).normal(size=(len(SONGS), 8)).astype(np.float32)
    pairs = taste.make_pairs(taste.listen_sequences(_cycle_sessions(users=6), SONGS), 3)
    conf = SequenceConf(history=3, units=8, rnn_epochs=3, batch_size=16, seed=9)
    model, _ = taste.train_rnn(vectors, pairs, conf)
    rotation, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(8, 8)))
    rotation = rotation.astype(np.float32)
    # the same songs in a new fit's axes, read and predicted by the old weights turned onto them
    turned = taste.build_model(vectors @ rotation, 3, conf.units, conf.learning_rate)
    w = taste.turned_weights(taste.rnn_weights(model), rotation)
    turned.get_layer("gru").set_weights([w["gru_kernel"], w["gru_recurrent"], w["gru_bias"]])
    turned.get_layer("next_song").set_weights([w["out_kernel"], w["out_bias"]])
    np.testing.assert_allclose(
        taste.predict(turned, pairs["x"]), taste.predict(model, pairs["x"]) @ rotation, rtol=1e-4, atol=1e-4
    )
    _, history = taste.train_rnn(vectors @ rotation, pairs, conf.model_copy(update={"warm_epochs": 1}), w)
    assert history["warm_start"] and history["epochs"] == 1
