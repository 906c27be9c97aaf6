"""The audio CNN: its shape, that training learns, crops, the fold-in and the ranking metrics."""

import numpy as np
import pandas as pd
import pytest

from jobs import audio_cnn
from jobs.common.config import AudioCnnConf
from jobs.common.metrics import auc, average_precision

SMALL = AudioCnnConf(
    filters=(8, 8),
    pools=(2, 1),
    dense_units=16,
    crop_frames=32,
    max_epochs=25,
    patience=25,
    batch_size=16,
    learning_rate=0.01,
    validation_share=0.25,
    seed=3,
)


def test_network_shape_and_pooling_layers():
    model = audio_cnn.build_model(frames=64, n_mels=128, rank=32, conf=AudioCnnConf())
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
        "dense",
        "dropout",
        "latent",
    ):
        assert name in names
    assert model.get_layer("conv1").kernel.shape == (4, 128, 64)  # 1-D over time, mel bands as channels
    pooled = model.get_layer("temporal_pooling").output.shape
    assert pooled[-1] == 3 * 128  # mean, max and L2 of the last conv layer's 128 filters


def _toy_data(n=80, frames=60, n_mels=16, rank=4, seed=0):
    """Spectrograms whose band energy pattern encodes the target direction."""
    rng = np.random.default_rng(seed)
    targets = audio_cnn.l2_normalise(rng.normal(size=(n, rank)))
    mixing = rng.normal(size=(rank, n_mels))
    specs = []
    for t in targets:
        bands = t @ mixing
        specs.append((bands[None, :] + 0.3 * rng.normal(size=(frames, n_mels))).astype(np.float32))
    return specs, targets.astype(np.float32)


def test_a_tiny_training_run_lowers_validation_loss():
    specs, targets = _toy_data()
    _, prep, history = audio_cnn.train_model(specs, targets, SMALL, seed=3)
    assert history["best_val_loss"] < 0.5 * history["initial_val_loss"]
    assert history["epochs"] >= 1 and len(prep["band_mean"]) == 16


def test_training_is_reproducible_with_a_seed():
    specs, targets = _toy_data(n=40)
    conf = AudioCnnConf(**{**SMALL.__dict__, "max_epochs": 3})
    _, _, h1 = audio_cnn.train_model(specs, targets, conf, seed=5)
    _, _, h2 = audio_cnn.train_model(specs, targets, conf, seed=5)
    assert h1["val_loss"] == pytest.approx(h2["val_loss"], rel=1e-5)


def test_crops_pad_short_clips_and_cover_long_ones():
    short = np.ones((10, 4), dtype=np.float32)
    padded = audio_cnn.crop(short, 16, None, pad_value=-9.0)
    assert padded.shape == (16, 4) and (padded[10:] == -9.0).all() and (padded[:10] == 1).all()
    long = np.arange(100 * 4, dtype=np.float32).reshape(100, 4)
    assert (audio_cnn.crop(long, 20, None, 0.0) == long[40:60]).all()
    crops = audio_cnn.inference_crops(long, 20, 0.0)
    assert crops.shape[1:] == (20, 4) and (crops[0] == long[:20]).all() and (crops[-1] == long[80:]).all()


def test_fold_in_matches_the_closed_form_alsstep():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(6, 3)).astype(np.float32)
    counts = pd.DataFrame({"user_id": ["u", "u"], "track_id": ["t1", "t4"], "weight": [3.0, 1.0]})
    ids = np.array([f"t{i}" for i in range(6)])
    users, U = audio_cnn.fold_in_users(counts, ids, Y, alpha=2.0, eps=1.0, reg=0.1)
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
    out = audio_cnn.rank_metrics(
        users, truth, {"good": lambda u: u @ np.eye(3, 2).T, "bad": lambda u: u @ np.eye(3, 2)[[1, 0, 2]].T}, k=1
    )
    assert out["good"]["auc"] == 1.0 and out["good"]["map"] == 1.0 and out["good"]["recall@1"] == 1.0
    assert out["bad"]["auc"] < 0.5 and out["bad"]["recall@1"] == 0.0
