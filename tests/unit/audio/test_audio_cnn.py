"""The audio CNN: its shape, training, saving, crops, the ALS refit, the cold-start evaluation and its metrics."""

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from jobs import audio_cnn
from jobs.audio import cnn, cold_start
from jobs.config import AudioCnnConf
from jobs.evaluation.metrics import auc, average_precision

SMALL = AudioCnnConf(
    filters=(8, 8),
    pools=(2, 1),
    dense_units=(16,),
    crop_frames=32,
    max_epochs=25,
    patience=25,
    batch_size=16,
    learning_rate=0.01,
    validation_share=0.25,
    seed=3,
)


@pytest.mark.tf
def test_network_shape_and_pooling_layers():
    model = cnn.build_model(frames=64, n_mels=128, rank=32, conf=AudioCnnConf())
    assert model.input_shape == (None, 64, 128)
    assert model.output_shape == (None, 32)
    names = [layer.name for layer in model.layers]
    for name in (
        "conv1",
        "conv2",
        "conv3",
        "pool1",
        "mean_pool",
        "max_pool",
        "l2_pool",
        "temporal_pooling",
        "dense1",
        "dropout1",
        "dense2",
        "dropout2",
        "latent",
    ):
        assert name in names
    assert model.get_layer("conv1").kernel.shape == (4, 128, 64)  # 1-D over time, mel bands as channels
    pooled = model.get_layer("temporal_pooling").output.shape
    assert pooled[-1] == 3 * 128  # mean, max and L2 of the last conv layer's 128 filters
    assert [model.get_layer(f"dense{i}").units for i in (1, 2)] == [256, 128]


def _toy_data(n=80, frames=60, n_mels=16, rank=4, seed=0):
    """Spectrograms whose band energy pattern encodes the target direction."""
    rng = np.random.default_rng(seed)
    targets = cnn.l2_normalise(rng.normal(size=(n, rank)))
    mixing = rng.normal(size=(rank, n_mels))
    specs = []
    for t in targets:
        bands = t @ mixing
        specs.append((bands[None, :] + 0.3 * rng.normal(size=(frames, n_mels))).astype(np.float32))
    return specs, targets.astype(np.float32)


@pytest.mark.tf
@pytest.mark.slow
def test_a_tiny_training_run_lowers_validation_loss():
    specs, targets = _toy_data()
    _, prep, history = cnn.train_model(specs, targets, SMALL, seed=3)
    assert history["best_val_loss"] < 0.5 * history["initial_val_loss"]
    assert history["epochs"] >= 1 and len(prep["band_mean"]) == 16


@pytest.mark.tf
def test_training_is_reproducible_with_a_seed():
    specs, targets = _toy_data(n=40)
    conf = AudioCnnConf(**{**SMALL.__dict__, "max_epochs": 3})
    _, _, h1 = cnn.train_model(specs, targets, conf, seed=5)
    _, _, h2 = cnn.train_model(specs, targets, conf, seed=5)
    assert h1["val_loss"] == pytest.approx(h2["val_loss"], rel=1e-5)


def test_crops_pad_short_clips_and_cover_long_ones():
    short = np.ones((10, 4), dtype=np.float32)
    padded = cnn.crop(short, 16, None, pad_value=-9.0)
    assert padded.shape == (16, 4) and (padded[10:] == -9.0).all() and (padded[:10] == 1).all()
    long = np.arange(100 * 4, dtype=np.float32).reshape(100, 4)
    assert (cnn.crop(long, 20, None, 0.0) == long[40:60]).all()
    crops = cnn.inference_crops(long, 20, 0.0)
    assert crops.shape[1:] == (20, 4) and (crops[0] == long[:20]).all() and (crops[-1] == long[80:]).all()


def test_fold_in_matches_the_closed_form_alsstep():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(6, 3)).astype(np.float32)
    counts = pd.DataFrame({"user_id": ["u", "u"], "track_id": ["t1", "t4"], "weight": [3.0, 1.0]})
    ids = np.array([f"t{i}" for i in range(6)])
    users, U = cold_start.fold_in_users(counts, ids, Y, alpha=2.0, eps=1.0, reg=0.1)
    c = np.ones(6)
    p = np.zeros(6)
    for t, w in ((1, 3.0), (4, 1.0)):
        c[t] = 1 + 2.0 * np.log1p(w)
        p[t] = 1
    Yd = Y.astype(np.float64)
    expected = np.linalg.solve(Yd.T @ np.diag(c) @ Yd + 0.1 * np.eye(3), Yd.T @ np.diag(c) @ p)
    assert users.tolist() == ["u"]
    np.testing.assert_allclose(U[0], expected, rtol=1e-5)


def test_auc_and_average_precision_known_answers():
    assert auc(np.array([0.9, 0.8, 0.1, 0.5]), np.array([True, False, False, True])) == 0.75
    assert auc(np.array([1.0, 1.0, 1.0]), np.array([True, False, False])) == 0.5
    assert average_precision(np.array([3, 1, 2]), {3, 2}) == pytest.approx((1 + 2 / 3) / 2)


def test_rank_metrics_prefers_the_informed_scorer():
    truth = [{0}, {1}]
    users = np.eye(2, dtype=np.float32)
    out = cold_start.rank_metrics(
        users, truth, {"good": lambda u: u @ np.eye(3, 2).T, "bad": lambda u: u @ np.eye(3, 2)[[1, 0, 2]].T}, k=1
    )
    assert out["good"]["auc"] == 1.0 and out["good"]["map"] == 1.0 and out["good"]["recall@1"] == 1.0
    assert out["bad"]["auc"] < 0.5 and out["bad"]["recall@1"] == 0.0


def test_load_spectrograms_keeps_only_the_real_frames(tmp_path):
    from jobs import audio_features as af

    short = np.full((16, 5), -20.0, dtype=np.float16)
    full = np.arange(16 * 12, dtype=np.float16).reshape(16, 12)
    af.write_spectrograms([("a", short), ("b", full)], tmp_path, "2026-W47", frames=12)
    specs = audio_cnn.load_spectrograms(tmp_path, "2026-W47")
    assert specs["a"].shape == (5, 16) and specs["a"].dtype == np.float32 and (specs["a"] == -20).all()
    np.testing.assert_array_equal(specs["b"], full.T.astype(np.float32))


def _saved_model(tmp_path, week="2026-W47"):
    from jobs.audio.spectrogram import Settings

    model = cnn.build_model(frames=32, n_mels=16, rank=4, conf=SMALL)
    target = audio_cnn.model_dir(tmp_path, week)
    target.mkdir(parents=True)
    model.save(target / "model.keras")
    prep = {"crop_frames": 32, "band_mean": [0.0] * 16, "band_std": [1.0] * 16, "pad_value": -1.0}
    prep["spectrogram"] = asdict(Settings.from_conf())
    (target / "preprocessing.json").write_text(json.dumps(prep))
    return model


@pytest.mark.tf
def test_saved_model_loads_in_safe_mode_and_predicts_the_same(tmp_path):
    model = _saved_model(tmp_path)
    loaded, prep = audio_cnn.load_model(tmp_path, "2026-W47")  # keras.saving.load_model(..., safe_mode=True)
    assert prep["crop_frames"] == 32
    x = np.random.default_rng(0).normal(size=(5, 32, 16)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.tf
def test_inference_refuses_other_spectrogram_settings(tmp_path):
    from tests.conftest import make_config

    _saved_model(tmp_path)
    same = make_config(tmp_path, tmp_path)
    _, prep = audio_cnn.load_model(tmp_path, "2026-W47")
    audio_cnn.check_settings(prep, same)  # the settings it was trained with: fine
    other = make_config(tmp_path, tmp_path, audio={"hop_length": 256})
    with pytest.raises(audio_cnn.AudioCnnError, match="hop_length"):
        audio_cnn.run_infer(other, "2026-W47")


def _training_week(tmp_path, week="2026-W47", n=24, rank=4):
    """A data root and warehouse with what ``run_train`` reads: spectrograms, item factors, play counts, tracks."""
    from jobs import audio_features as af
    from jobs.warehouse.store import Warehouse
    from tests.conftest import make_config

    specs, targets = _toy_data(n=n, frames=40, rank=rank)
    ids = [f"t{i:02d}" for i in range(n)]
    warehouse, data = tmp_path / "wh", tmp_path / "data"
    af.write_spectrograms([(t, s.T.astype(np.float16)) for t, s in zip(ids, specs)], warehouse, week, frames=40)
    items = pd.DataFrame({"track_id": ids, "vector": list(targets), "plays": 5})
    Warehouse(warehouse).write("item_factors", week, items)
    counts = pd.DataFrame({"user_id": "u1", "track_id": ids, "plays": 5, "weight": 5.0})
    Warehouse(warehouse).write("play_counts", week, counts)
    (data / "catalog").mkdir(parents=True)
    pd.DataFrame({"track_id": ids, "title": ids, "artist_id": "a1"}).to_csv(
        data / "catalog" / "tracks.csv", index=False
    )
    cnn_conf = {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.__dict__.items()}
    cnn_conf.update({"min_plays": 1, "max_epochs": 2, "evaluate": False})
    return make_config(data, warehouse, audio_cnn=cnn_conf)


def test_training_publishes_the_model_and_a_failed_save_leaves_no_staging_folder(tmp_path, monkeypatch):
    config = _training_week(tmp_path)
    metrics = audio_cnn.run_train(config, "2026-W47")
    target = audio_cnn.model_dir(config.paths.warehouse, "2026-W47")
    assert metrics["model"] == str(target) and metrics["tracks"] == 24
    assert sorted(p.name for p in target.iterdir()) == ["model.keras", "preprocessing.json"]
    published = {p.name: p.read_bytes() for p in target.iterdir()}

    real_train = audio_cnn.train_model

    def train_then_fail_to_save(*args, **kwargs):
        model, prep, history = real_train(*args, **kwargs)

        def save(path):
            path.write_bytes(b"half a model")
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(model, "save", save)
        return model, prep, history

    monkeypatch.setattr(audio_cnn, "train_model", train_then_fail_to_save)
    with pytest.raises(OSError, match="No space left"):
        audio_cnn.run_train(config, "2026-W47")
    assert [p.name for p in target.parent.iterdir() if not p.name.startswith(".lock-")] == [
        target.name
    ]  # no _staging-*
    assert {p.name: p.read_bytes() for p in target.iterdir()} == published  # the last good model stays


def test_the_cold_start_evaluation_is_its_own_step_and_skips_with_a_reason(tmp_path, monkeypatch):
    """``audio_cnn evaluate`` (the DAG's audio_eval): off by setting, or too few tracks, is a skip naming why."""
    from jobs.runtime.cli import SKIPPED

    config = _training_week(tmp_path, n=24)
    assert audio_cnn.run_evaluate(config, "2026-W47") == {"week": "2026-W47", "skipped": "audio_cnn.evaluate is false"}
    assert "cold_start" not in audio_cnn.run_train(config, "2026-W47")  # the training no longer evaluates
    few = _training_week(tmp_path / "few", n=6)
    on = few.model_copy(update={"audio_cnn": few.audio_cnn.model_copy(update={"evaluate": True})})
    need = "only 6 tracks have audio and >= 1 plays; need 10 to train"
    assert audio_cnn.run_evaluate(on, "2026-W47") == {"week": "2026-W47", "skipped": need}
    # the command line: exit 99 (Airflow's skipped) and the reason in run_metrics/.../audio_eval.json
    env = {"DW_DATA": few.paths.data, "DW_WAREHOUSE": few.paths.warehouse, "DW__AUDIO_CNN__MIN_PLAYS": 1}
    for k, v in {**env, "DW__AUDIO_CNN__EVALUATE": "true"}.items():
        monkeypatch.setenv(k, str(v))
    assert audio_cnn.main(["evaluate", "--week", "2026-W47"]) == SKIPPED
    written = json.loads((few.paths.warehouse / "run_metrics" / "week=2026-W47" / "audio_eval.json").read_text())
    assert written["skipped"] == need


def _plays(seed=0, users=60, tracks=120, genres=4):
    """Listeners who mostly play one genre; returns play counts, the genre of each track and artists."""
    rng = np.random.default_rng(seed)
    genre = np.arange(tracks) % genres
    rows = []
    for u in range(users):
        liked = u % genres
        for t in rng.choice(tracks, size=25, replace=False, p=np.where(genre == liked, 9.0, 1.0) / (9 * 30 + 90)):
            n = int(rng.integers(1, 6))
            rows.append((f"u{u:03d}", f"t{t:03d}", n, float(n)))
    counts = pd.DataFrame(rows, columns=["user_id", "track_id", "plays", "weight"])
    track_ids = [f"t{t:03d}" for t in range(tracks)]
    artists = pd.DataFrame({"track_id": track_ids, "artist_id": [f"a{t % 12:02d}" for t in range(tracks)]})
    return counts, genre, track_ids, artists


ALS_SMALL = {"rank": 6, "max_iter": 6, "reg_param": 0.1, "alpha": 4.0, "eps": 1.0, "seed": 1}


def test_the_refit_does_not_depend_on_the_held_out_plays():
    from jobs.config import AlsConf

    counts, _, _, _ = _plays()
    conf = AlsConf(**ALS_SMALL)
    held = ["t005", "t017"]
    users, U, items, V = cold_start.refit_without(counts, held, conf)
    assert not set(held) & set(items)
    changed = counts.copy()
    changed.loc[changed["track_id"] == "t005", "weight"] *= 50  # more plays of a held-out track...
    extra = pd.DataFrame([("u999", "t017", 9, 9.0)], columns=counts.columns)  # ...and a listener of only one
    users2, U2, items2, V2 = cold_start.refit_without(pd.concat([changed, extra]), held, conf)
    assert users2.tolist() == users.tolist() and items2.tolist() == items.tolist()
    np.testing.assert_array_equal(V2, V)
    np.testing.assert_array_equal(U2, U)
    # and the held-out plays do matter to a fit that sees them
    _, _, _, V_all = cold_start.refit_without(changed, [], conf)
    assert not np.allclose(V_all[[i for i, t in enumerate(sorted(changed["track_id"].unique())) if t not in held]], V)


@pytest.mark.tf
@pytest.mark.slow
def test_cold_start_eval_the_cnn_beats_random_in_one_als_space(tmp_path):
    from tests.conftest import make_config

    counts, genre, track_ids, artists = _plays()
    rng = np.random.default_rng(1)
    pattern = rng.normal(size=(4, 16))
    specs = {
        t: (pattern[g][None, :] + 0.5 * rng.normal(size=(48, 16))).astype(np.float32) for t, g in zip(track_ids, genre)
    }
    totals = counts.groupby("track_id")["plays"].sum()
    items = pd.DataFrame({"track_id": totals.index, "plays": totals.to_numpy(), "vector": [np.zeros(6)] * len(totals)})
    cnn_conf = {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.__dict__.items()}
    cnn_conf.update({"min_plays": 1, "holdout_share": 0.2, "eval_k": 10, "max_epochs": 15})
    config = make_config(tmp_path, tmp_path, als=ALS_SMALL, audio_cnn=cnn_conf)
    out = cold_start.cold_start_eval(specs, items, counts, artists, config)
    m = out["metrics"]
    assert set(m) == {
        "audio_cnn",
        "random",
        "artist_total_popularity",
        "artist_mean_popularity",
        "track_popularity_oracle",
        "als_fold_in_upper_bound",
    }
    assert out["held_out_tracks"] == 24 and out["listeners"] > 40
    assert m["audio_cnn"]["auc"] > m["random"]["auc"] + 0.15
    assert m["als_fold_in_upper_bound"]["auc"] > m["random"]["auc"] + 0.15


def _next_week(config, week, rotation):
    """``week`` with the item vectors of ``config``'s 2026-W47 turned by ``rotation`` (a new ALS fit's own axes)."""
    from jobs import audio_features as af
    from jobs.warehouse.store import Warehouse

    wh = Warehouse(config.paths.warehouse)
    items = wh.read("item_factors", "2026-W47")
    items["vector"] = [np.asarray(v) @ rotation for v in items["vector"]]
    wh.write("item_factors", week, items)
    wh.write("play_counts", week, wh.read("play_counts", "2026-W47"))
    specs = audio_cnn.load_spectrograms(config.paths.warehouse, "2026-W47")
    af.write_spectrograms([(t, s.T.astype(np.float16)) for t, s in sorted(specs.items())], wh.root, week, frames=40)


@pytest.mark.tf
@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_a_week_warm_starts_from_the_last_model_turned_onto_its_axes_and_retrains_fully_on_schedule(tmp_path):
    config = _training_week(tmp_path)
    config = config.model_copy(
        update={"audio_cnn": config.audio_cnn.model_copy(update={"max_epochs": 12, "warm_epochs": 2})}
    )
    first = audio_cnn.run_train(config, "2026-W47")
    assert first["warm_start"] == {"full_training": "no earlier week has a model"}
    rotation, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(4, 4)))
    _next_week(config, "2026-W48", rotation)
    second = audio_cnn.run_train(config, "2026-W48")
    assert second["warm_start"] == {"from_week": "2026-W47", "full_train_week": "2026-W47"}
    assert second["history"]["epochs"] <= 2 and second["history"]["warm_start"]
    # turned onto the new axes, last week's model starts where it ended, not where random weights start
    assert second["history"]["initial_val_loss"] == pytest.approx(first["history"]["best_val_loss"], rel=0.05)
    assert second["history"]["initial_val_loss"] < 0.5 * first["history"]["initial_val_loss"]
    prep = json.loads((audio_cnn.model_dir(config.paths.warehouse, "2026-W48") / "preprocessing.json").read_text())
    assert (prep["warm_from_week"], prep["full_train_week"]) == ("2026-W47", "2026-W47")

    every_two = config.model_copy(update={"audio_cnn": config.audio_cnn.model_copy(update={"full_retrain_weeks": 2})})
    _next_week(config, "2026-W49", rotation)
    third = audio_cnn.run_train(every_two, "2026-W49")
    assert third["warm_start"]["full_training"].startswith("scheduled full retrain")
    assert not third["history"]["warm_start"]
    off = config.model_copy(update={"audio_cnn": config.audio_cnn.model_copy(update={"warm_start": False})})
    assert audio_cnn.run_train(off, "2026-W48")["warm_start"] == {"full_training": "audio_cnn.warm_start is false"}
