"""The user model: a Keras network p(skip, listen, complete | context, item, place), and how well it predicts.

:func:`fit_user_model` trains a dense network (``rl.hidden`` ReLU layers, three sigmoid outputs,
one per :data:`jobs.rl.responses.RESPONSES`, summed binary cross-entropy) on standardised rows
(:mod:`jobs.rl.features`); seeded and deterministic (Keras' seed, TensorFlow's deterministic ops).
:class:`DenseNet` is the trained weights with a numpy forward pass: the world model and the
merge call it thousands of times on a few rows, where Keras' per-call cost would dominate.
:func:`response_metrics` gives log loss, AUC and a 10-bin calibration curve per response, and
:func:`track_rate_baseline` the reference they stand beside: each track's own rate of the
response in the training rows, shrunk towards the overall rate. Pure but for :func:`save` and
:func:`load`, which write and read a model folder (``model.keras``, ``weights.npz``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.rl.responses import RESPONSES

BASELINE_PRIOR = 10.0  # pseudo-rows of the overall rate in a track's own rate
MIN_STD = 1e-3  # a column varying less in training is treated as constant (the features are about unit scale)
CLIP = 8.0  # standardised inputs are clipped here: no prediction from far outside what training saw


def forward(h: np.ndarray, layers: tuple[tuple[np.ndarray, np.ndarray], ...]) -> np.ndarray:
    """Dense layers with ReLU between them (none after the last): the output layer's pre-activation."""
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


@dataclass(frozen=True)
class DenseNet:
    """A trained dense network as numpy arrays: standardisation, then ReLU layers, then the output layer."""

    mean: np.ndarray
    std: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (kernel, bias) per Dense layer
    output: str  # "sigmoid" or "linear"
    names: tuple[str, ...] = ()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        h = forward(np.clip((np.asarray(X, dtype=np.float32) - self.mean) / self.std, -CLIP, CLIP), self.layers)
        return 1.0 / (1.0 + np.exp(-h)) if self.output == "sigmoid" else h

    @classmethod
    def from_keras(
        cls, model: Any, mean: np.ndarray, std: np.ndarray, output: str, names: tuple[str, ...] = ()
    ) -> DenseNet:
        weights = model.get_weights()
        layers = tuple((weights[i], weights[i + 1]) for i in range(0, len(weights), 2))
        return cls(mean.astype(np.float32), std.astype(np.float32), layers, output, names)

    def save(self, folder: Path) -> None:
        arrays = {"mean": self.mean, "std": self.std}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        np.savez(folder / "weights.npz", **arrays)
        (folder / "network.json").write_text(
            json.dumps({"output": self.output, "layers": len(self.layers), "names": list(self.names)}, indent=1) + "\n"
        )

    @classmethod
    def load(cls, folder: Path) -> DenseNet:
        meta = json.loads((folder / "network.json").read_text())
        with np.load(folder / "weights.npz") as z:
            layers = tuple((z[f"w{i}"], z[f"b{i}"]) for i in range(meta["layers"]))
            return cls(z["mean"], z["std"], layers, meta["output"], tuple(meta["names"]))


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations; a column constant in training gets an infinite deviation, so it
    reads as 0 whatever value it takes later (a network cannot have learned anything from it: e.g. the
    listeners' Discover Weekly history before any list was answered)."""
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return mean.astype(np.float32), np.where(std > MIN_STD, std, np.inf).astype(np.float32)


def seed_everything(seed: int) -> None:
    """Keras', numpy's and TensorFlow's seeds, and deterministic TensorFlow ops."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def dense_model(
    inputs: int, hidden: tuple[int, ...], outputs: int, activation: str, learning_rate: float, loss: str
) -> Any:
    """A Keras MLP over standardised inputs."""
    import keras
    from keras import layers

    x_in = keras.Input(shape=(inputs,), name="row")
    h = x_in
    for units in hidden:
        h = layers.Dense(units, activation="relu")(h)
    out = layers.Dense(outputs, activation=activation)(h)
    model = keras.Model(x_in, out)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    return model


def fit_user_model(
    X: np.ndarray,
    Y: np.ndarray,
    hidden: tuple[int, ...],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    names: tuple[str, ...] = (),
) -> tuple[Any, DenseNet, list[float]]:
    """Train on rows ``X`` and 0/1 responses ``Y`` (``(n, 3)``); returns the Keras model, its numpy twin and the
    loss per epoch."""
    seed_everything(seed)
    mean, std = standardiser(X)
    model = dense_model(X.shape[1], hidden, Y.shape[1], "sigmoid", learning_rate, "binary_crossentropy")
    history = model.fit(
        np.clip((X - mean) / std, -CLIP, CLIP), Y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0
    )
    return (
        model,
        DenseNet.from_keras(model, mean, std, "sigmoid", names),
        [round(float(v), 5) for v in history.history["loss"]],
    )


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); ``None`` with only one class."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(p, kind="stable")
    ranks = np.empty(len(p))
    sorted_p = np.asarray(p)[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per bin of equal width of the prediction: rows, mean prediction, observed rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        if m.any():
            out.append(
                {
                    "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                    "rows": int(m.sum()),
                    "predicted": round(float(p[m].mean()), 4),
                    "observed": round(float(np.mean(y[m])), 4),
                }
            )
    return out


def response_metrics(Y: np.ndarray, P: np.ndarray, B: np.ndarray) -> dict[str, Any]:
    """Per response: log loss and AUC of the model (``P``) and of the baseline (``B``), the model's calibration."""
    out: dict[str, Any] = {"rows": len(Y)}
    for j, name in enumerate(RESPONSES):
        y = Y[:, j]
        out[name] = {
            "rate": round(float(y.mean()), 4) if len(y) else None,
            "log_loss": round(log_loss(y, P[:, j]), 4) if len(y) else None,
            "auc": _round(auc(y, P[:, j])),
            "baseline_log_loss": round(log_loss(y, B[:, j]), 4) if len(y) else None,
            "baseline_auc": _round(auc(y, B[:, j])),
            "calibration": calibration(y, P[:, j]),
        }
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def track_rate_baseline(train_tracks: np.ndarray, Y_train: np.ndarray, test_tracks: np.ndarray) -> np.ndarray:
    """Each test row's track's rate of every response in the training rows, shrunk towards the overall rate by
    :data:`BASELINE_PRIOR` pseudo-rows (the overall rate for a track not in them)."""
    overall = Y_train.mean(axis=0) if len(Y_train) else np.full(Y_train.shape[1], 0.5)
    codes, uniq = _codes(train_tracks)
    sums = np.zeros((len(uniq), Y_train.shape[1]))
    np.add.at(sums, codes, Y_train)
    counts = np.bincount(codes, minlength=len(uniq))[:, None]
    rates = (sums + BASELINE_PRIOR * overall) / (counts + BASELINE_PRIOR)
    lookup = {t: i for i, t in enumerate(uniq)}
    idx = np.array([lookup.get(t, -1) for t in test_tracks])
    out = np.tile(overall, (len(test_tracks), 1))
    hit = idx >= 0
    out[hit] = rates[idx[hit]]
    return out


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, codes = np.unique(np.asarray(values), return_inverse=True)
    return codes, uniq


def save(folder: Path, model: Any, net: DenseNet, info: dict[str, Any]) -> None:
    """``model.keras`` (the Keras model), ``weights.npz`` + ``network.json`` (its numpy twin), ``info.json``."""
    model.save(folder / "model.keras")
    net.save(folder)
    (folder / "info.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")


def load(folder: Path) -> tuple[DenseNet, dict[str, Any]]:
    """The numpy twin and the info of a saved model (Keras is not imported)."""
    return DenseNet.load(folder), json.loads((folder / "info.json").read_text())
