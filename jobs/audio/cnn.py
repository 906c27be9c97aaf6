"""The audio CNN: a track's log-mel spectrogram in, its (unit-length) ALS vector out.

Following van den Oord, Dieleman and Schrauwen (2013) and Dieleman's 2014 post: 1-D
convolutions over time with the mel bands as channels, max pooling, global temporal
pooling (mean, max and L2 together), dense layers with dropout, and an output the size
of the ALS rank (:func:`build_model`), trained with MSE on random time crops, a
validation split by track, early stopping on validation loss, and a seed
(:func:`train_model`); :func:`predict` averages the outputs over evenly spaced crops.

Spectrograms here are ``(frames, n_mels)`` float32, time first (the CNN's layout), of
real audio only; a clip shorter than a crop is padded with the silence floor
(:data:`~jobs.audio.spectrogram.FLOOR_DB`, normalised like the bands). Reads and
writes no files: the job ``jobs.audio_cnn`` loads the spectrograms and saves the model;
the cold-start evaluation (:mod:`jobs.audio.cold_start`) trains one too.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from jobs.audio.spectrogram import FLOOR_DB
from jobs.config import AudioCnnConf, ConfigError

# ----------------------------------------------------------------------------- crops


def band_stats(specs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation over all frames of the training spectrograms."""
    stacked = np.concatenate(specs, axis=0)
    return stacked.mean(axis=0), stacked.std(axis=0) + 1e-3


def crop(spec: np.ndarray, frames: int, start: int | None, pad_value: float) -> np.ndarray:
    """A ``frames``-long window of ``spec`` from ``start`` (centre when None); short clips are padded."""
    n = len(spec)
    if n < frames:
        out = np.full((frames, spec.shape[1]), pad_value, dtype=np.float32)
        out[:n] = spec
        return out
    if start is None:
        start = (n - frames) // 2
    return spec[start : start + frames]


def random_crops(specs: list[np.ndarray], frames: int, rng: np.random.Generator, pad_value: float) -> np.ndarray:
    return np.stack([crop(s, frames, int(rng.integers(0, max(1, len(s) - frames + 1))), pad_value) for s in specs])


def inference_crops(spec: np.ndarray, frames: int, pad_value: float, max_crops: int = 8) -> np.ndarray:
    """Evenly spaced crops covering the clip; their predictions are averaged."""
    n = len(spec)
    if n <= frames:
        return crop(spec, frames, 0, pad_value)[None]
    starts = np.linspace(0, n - frames, num=min(max_crops, 1 + (n - frames) // (frames // 2))).astype(int)
    return np.stack([spec[s : s + frames] for s in starts])


def l2_normalise(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)


# ----------------------------------------------------------------------------- model


def l2_pooling_layer() -> Any:
    """Global L2 (root-mean-square) pooling over time, as a registered layer so the saved
    model loads in Keras' safe mode (no Lambda, no pickled code)."""
    import keras

    @keras.saving.register_keras_serializable(package="discover_weekly", name="GlobalL2Pooling1D")
    class GlobalL2Pooling1D(keras.layers.Layer):
        def call(self, inputs: Any) -> Any:
            return keras.ops.sqrt(keras.ops.mean(keras.ops.square(inputs), axis=1) + 1e-6)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (input_shape[0], input_shape[2])

    return GlobalL2Pooling1D


def build_model(frames: int, n_mels: int, rank: int, conf: AudioCnnConf) -> Any:
    """Conv1D over time (mel bands as channels) -> global mean/max/L2 pooling -> dense layers -> rank outputs."""
    import keras
    from keras import layers

    l2_pooling = l2_pooling_layer()

    inputs = keras.Input(shape=(frames, n_mels), name="log_mel")
    x = inputs
    for i, (filters, pool) in enumerate(zip(conf.filters, conf.pools, strict=True)):
        x = layers.Conv1D(filters, conf.kernel_size, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        if pool > 1:
            x = layers.MaxPooling1D(pool, name=f"pool{i + 1}")(x)
    mean = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    peak = layers.GlobalMaxPooling1D(name="max_pool")(x)
    l2 = l2_pooling(name="l2_pool")(x)
    x = layers.Concatenate(name="temporal_pooling")([mean, peak, l2])
    for i, units in enumerate(conf.dense_units):
        x = layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        x = layers.Dropout(conf.dropout, name=f"dropout{i + 1}")(x)
    outputs = layers.Dense(rank, name="latent")(x)
    model = keras.Model(inputs, outputs, name="audio_to_als")
    model.compile(optimizer=keras.optimizers.Adam(conf.learning_rate), loss="mse")
    return model


def random_crop_epochs(
    specs: list[np.ndarray],
    targets: np.ndarray,
    frames: int,
    batch_size: int,
    rng: np.random.Generator,
    pad_value: float,
) -> Any:
    """A Keras ``PyDataset`` of ``(crops, targets)`` batches: every epoch, the tracks in a new order, each
    with a new random crop (:func:`random_crops`), all drawn from ``rng``.

    The crops are drawn when an epoch ends (and once at the start), never in ``__getitem__``,
    so Keras may read batches in any order or twice (it peeks at the first ones for their
    shapes) without changing what is drawn: the same seed gives the same batches.
    """
    import keras

    class RandomCropEpochs(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.on_epoch_end()

        def __len__(self) -> int:
            return math.ceil(len(specs) / batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            batch = slice(index * batch_size, (index + 1) * batch_size)
            return self.x[batch], self.y[batch]

        def on_epoch_end(self) -> None:
            order = rng.permutation(len(specs))
            self.x = random_crops([specs[i] for i in order], frames, rng, pad_value)
            self.y = targets[order]

    return RandomCropEpochs()


def train_model(
    specs: list[np.ndarray],
    targets: np.ndarray,
    conf: AudioCnnConf,
    seed: int,
    init: tuple[Any, dict[str, Any]] | None = None,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Train on random crops with a validation split by track; returns model, preprocessing, history.

    ``model.fit`` over :func:`random_crop_epochs` for at most ``max_epochs``, validated on
    the centre crop of each validation track, with ``EarlyStopping`` on the validation
    loss (``patience`` epochs without an improvement of 1e-5) restoring the best epoch's
    weights. Seeded (Python, NumPy and TensorFlow, deterministic ops): the same seed
    gives the same weights.

    ``init`` (a model of the same architecture and its preprocessing, see
    :func:`warm_model`) is a warm start: training continues from its weights, with its band
    normalisation, for at most ``warm_epochs``.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same weights: reruns give identical rows
    rng = np.random.default_rng(seed)
    n = len(specs)
    order = rng.permutation(n)
    n_val = max(1, round(n * conf.validation_share))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if init is None:
        mean, std = band_stats([specs[i] for i in train_idx])
        pad_value = float(((FLOOR_DB - mean) / std).mean())
        model, epochs = build_model(conf.crop_frames, specs[0].shape[1], targets.shape[1], conf), conf.max_epochs
    else:
        model, prep = init
        mean, std = np.asarray(prep["band_mean"], np.float32), np.asarray(prep["band_std"], np.float32)
        pad_value, epochs = float(prep["pad_value"]), conf.warm_epochs
    norm = [(s - mean) / std for s in specs]
    frames = conf.crop_frames
    x_val = np.stack([crop(norm[i], frames, None, pad_value) for i in val_idx])
    y_val = targets[val_idx]
    initial_val = float(model.evaluate(x_val, y_val, verbose=0))
    t0 = time.perf_counter()
    train = random_crop_epochs(
        [norm[i] for i in train_idx], targets[train_idx], frames, conf.batch_size, rng, pad_value
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", min_delta=1e-5, patience=conf.patience, restore_best_weights=True
    )
    fit = model.fit(train, epochs=epochs, validation_data=(x_val, y_val), callbacks=[stop], shuffle=False, verbose=0)
    if not np.isfinite(fit.history["loss"]).all():  # diverged: its vectors would be NaN
        raise ConfigError(
            f"audio_cnn.learning_rate={conf.learning_rate:g}: the CNN's training loss became "
            f"{fit.history['loss'][-1]} (not finite); lower audio_cnn.learning_rate"
        )
    history: dict[str, Any] = {
        "initial_val_loss": initial_val,
        "train_loss": [float(v) for v in fit.history["loss"]],
        "val_loss": [float(v) for v in fit.history["val_loss"]],
    }
    history.update(
        {
            "epochs": len(history["val_loss"]),
            "best_val_loss": float(stop.best),
            "train_seconds": round(time.perf_counter() - t0, 2),
            "train_tracks": len(train_idx),
            "val_tracks": len(val_idx),
            "warm_start": init is not None,
        }
    )
    prep = {"crop_frames": frames, "band_mean": mean.tolist(), "band_std": std.tolist(), "pad_value": pad_value}
    return model, prep, history


def predict(model: Any, prep: dict[str, Any], specs: list[np.ndarray], batch: int = 256) -> np.ndarray:
    """Predicted (unit-length) vectors: the mean of the model's outputs over evenly spaced crops."""
    mean, std = np.array(prep["band_mean"]), np.array(prep["band_std"])
    crops, owner = [], []
    for i, s in enumerate(specs):
        c = inference_crops((s - mean) / std, prep["crop_frames"], prep["pad_value"])
        crops.append(c)
        owner += [i] * len(c)
    if not crops:
        return np.zeros((0, 0), dtype=np.float32)
    x = np.concatenate(crops).astype(np.float32)
    out = model.predict(x, batch_size=batch, verbose=0)
    owner_arr = np.array(owner)
    summed = np.zeros((len(specs), out.shape[1]), dtype=np.float64)
    np.add.at(summed, owner_arr, out)
    summed /= np.bincount(owner_arr, minlength=len(specs))[:, None]
    return l2_normalise(summed).astype(np.float32)


def architecture(conf: AudioCnnConf, n_mels: int, rank: int) -> dict[str, Any]:
    """What a model's weights are shaped by: a warm start needs the same."""
    keys = ("crop_frames", "filters", "pools", "kernel_size", "dense_units", "dropout")
    return {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in conf.model_dump(include=set(keys)).items()},
        "n_mels": n_mels,
        "rank": rank,
    }


def warm_model(model: Any, rotation: np.ndarray) -> Any:
    """``model`` with its output layer rotated: it predicts ``f(x) @ rotation`` (last week's ALS axes onto this week's)."""
    layer = model.get_layer("latent")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel @ rotation, bias @ rotation])
    return model
