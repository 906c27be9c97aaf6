"""The per-listener content model: how much one listener likes a track, from its sound alone.

One Keras network with a listener embedding, not one small network per listener: most
listeners have tens of labelled tracks, too few for a network of their own, while a shared
network learns how sound relates to liking from everyone and the embedding (``rl.content_embedding``
numbers per listener) moves that towards each listener's own taste. Input: the track's audio
attributes (:func:`jobs.rl.features.audio_columns`) and its unit audio-CNN vector; target: 1 for a
track the listener completed or saved, 0 for one they only skipped (tracks only partly played
are left out). The output is a 0-1 score; a listener the network never saw gets the mean
embedding. :func:`per_listener_auc` judges it per listener, in buckets of how many labelled
tracks the listener had to learn from (bootstrap intervals over listeners). Pure but for
``save``/``load`` of its folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.evaluation.stats import bootstrap_mean, paired_difference
from jobs.rl.user_model import CLIP, auc, forward, seed_everything, standardiser
from schemas.columns import USER_ID

HISTORY_BUCKETS = ((1, 9), (10, 49), (50, 199), (200, None))  # labelled tracks a listener learned from


@dataclass(frozen=True)
class ContentNet:
    """The trained network as numpy arrays."""

    listeners: dict[str, int]  # listener -> embedding row
    embedding: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __call__(self, users: list[str] | np.ndarray, X: np.ndarray) -> np.ndarray:
        fallback = self.embedding.mean(axis=0)
        rows = np.array([self.listeners.get(u, -1) for u in users])
        emb = np.where((rows >= 0)[:, None], self.embedding[np.maximum(rows, 0)], fallback)
        h = np.hstack([emb, np.clip((np.asarray(X, dtype=np.float32) - self.mean) / self.std, -CLIP, CLIP)])
        return (1.0 / (1.0 + np.exp(-forward(h, self.layers))))[:, 0]

    def save(self, folder: Path) -> None:
        arrays = {"embedding": self.embedding, "mean": self.mean, "std": self.std}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        np.savez(folder / "content_weights.npz", **arrays)
        (folder / "content_listeners.json").write_text(json.dumps(self.listeners, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: Path) -> ContentNet:
        listeners = json.loads((folder / "content_listeners.json").read_text())
        with np.load(folder / "content_weights.npz") as z:
            n = sum(1 for k in z.files if k.startswith("w"))
            layers = tuple((z[f"w{i}"], z[f"b{i}"]) for i in range(n))
            return cls(listeners, z["embedding"], z["mean"], z["std"], layers)


def fit_content_model(
    users: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    embedding: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> tuple[Any, ContentNet, list[float]]:
    """Train on (listener, track features, liked 0/1) rows; returns the Keras model, its numpy twin, loss per epoch."""
    import keras
    from keras import layers

    seed_everything(seed)
    ids = sorted(set(np.asarray(users).tolist()))
    index = {u: i for i, u in enumerate(ids)}
    rows = np.array([index[u] for u in users], dtype=np.int32)
    mean, std = standardiser(X)
    who = keras.Input(shape=(), dtype="int32", name="listener")
    sound = keras.Input(shape=(X.shape[1],), name="sound")
    emb = layers.Embedding(len(ids), embedding, name="listener_embedding")(who)
    h = layers.Concatenate()([emb, sound])
    h = layers.Dense(32, activation="relu")(h)
    out = layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([who, sound], out)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    history = model.fit(
        [rows, np.clip((X - mean) / std, -CLIP, CLIP)],
        y.astype(np.float32),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
    )
    weights = model.get_weights()
    net = ContentNet(index, weights[0], mean, std, ((weights[1], weights[2]), (weights[3], weights[4])))
    return model, net, [round(float(v), 5) for v in history.history["loss"]]


def liked_labels(pairs: pd.DataFrame) -> pd.DataFrame:
    """(listener, track) pairs with ``completed`` or ``saved`` -> 1, only ``skipped`` -> 0; others dropped.

    ``pairs`` has ``user_id``, ``track_id`` and 0/1 ``completed``, ``skipped`` and ``listened`` maxima."""
    liked = pairs["completed"] > 0
    disliked = (pairs["skipped"] > 0) & (pairs["listened"] == 0)
    kept = pairs[liked | disliked]
    return kept.assign(liked=(kept["completed"] > 0).astype(np.int8))


def per_listener_auc(
    test: pd.DataFrame, scores: np.ndarray, baseline: np.ndarray, train_counts: pd.Series
) -> dict[str, Any]:
    """Mean per-listener AUC of the model and of the baseline over the listeners with both classes in ``test``
    (``user_id``, ``liked``), in :data:`HISTORY_BUCKETS` of their training rows, with 95% intervals."""
    frame = test[[USER_ID, "liked"]].assign(model=scores, base=baseline)
    per = []
    for user, g in frame.groupby(USER_ID, sort=True):
        a, b = auc(g["liked"].to_numpy(), g["model"].to_numpy()), auc(g["liked"].to_numpy(), g["base"].to_numpy())
        if a is not None:
            per.append((user, int(train_counts.get(user, 0)), a, b))
    out: dict[str, Any] = {"listeners": len(per), "all": _summary([p[2] for p in per], [p[3] for p in per])}
    buckets = {}
    for lo, hi in HISTORY_BUCKETS:
        sel = [p for p in per if p[1] >= lo and (hi is None or p[1] <= hi)]
        buckets[f"{lo}-{hi}" if hi else f"{lo}+"] = _summary([p[2] for p in sel], [p[3] for p in sel])
    new = [p for p in per if p[1] == 0]
    buckets["0 (never seen)"] = _summary([p[2] for p in new], [p[3] for p in new])
    out["by_history"] = buckets
    return out


def _summary(model: list[float], base: list[float]) -> dict[str, Any]:
    """Mean AUC with its bootstrap interval over listeners, and the paired interval of model minus baseline."""
    if not model:
        return {"listeners": 0}
    auc_ci = bootstrap_mean(model)
    diff = paired_difference(model, base)
    return {
        "listeners": len(model),
        "auc": round(auc_ci.mean, 4),
        "auc_ci95": [round(auc_ci.low, 4), round(auc_ci.high, 4)],
        "baseline_auc": round(float(np.mean(base)), 4),
        "difference_ci95": [round(diff.low, 4), round(diff.high, 4)],
    }
