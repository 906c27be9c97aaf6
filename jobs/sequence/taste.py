"""The taste RNN: a Keras GRU reads a listener's previous n songs and predicts the next song's vector.

Inputs are song ids (rows of the song-vector matrix, 0 = padding) looked up in a frozen
embedding that holds the unit-length word2vec vectors; a masked GRU, then a dense layer
to the vector's dimension. The loss is cosine (``keras.losses.CosineSimilarity``: the
prediction should point where the next song's vector points). Every listen with at
least one listen before it is a target, its history the up to n listens before it (left
padded), across sessions: a listener's latest songs are their taste now.

* :func:`listen_sequences`: each listener's listens (skips are not listens) with a vector, in time order.
* :func:`make_pairs`: (history, next song) pairs from them.
* :func:`train_rnn`: the model, seeded (Python, NumPy, TensorFlow, deterministic ops),
  with early stopping on the last tenth of the pairs.
* :func:`hit_rates`: the share of held-out next songs among the k songs nearest a query
  vector, for the RNN's prediction and three references: the mean of the history's
  vectors, the last song's vector (its nearest neighbours) and the k most listened songs.
* :func:`taste_vectors`: the prediction from each listener's latest n listens.

Pure apart from Keras' training; reads and writes nothing.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import ConfigError, SequenceConf
from jobs.evaluation.stats import bootstrap_mean, paired_difference
from jobs.sequence.sessions import listener_time_order
from jobs.sequence.word2vec import nearest
from schemas.columns import PLAYED_AT, TRACK_ID, USER_ID, VECTOR


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def listen_sequences(sessions: pd.DataFrame, song_ids: list[str]) -> pd.DataFrame:
    """Listens (not skips) of songs with a vector: user_id, played_at, song (1-based row of ``song_ids``), in order."""
    row = pd.Series(np.arange(1, len(song_ids) + 1), index=pd.Index(song_ids))
    listens = sessions[~sessions["skipped"]]
    song = listens[TRACK_ID].map(row)
    out = listens.assign(song=song)[song.notna().to_numpy()]
    out = out.iloc[listener_time_order(out)].reset_index(drop=True)
    return out[[USER_ID, PLAYED_AT, "song"]].astype({"song": np.int64})


def target_rows(listens: pd.DataFrame, new_only: bool = False) -> np.ndarray:
    """Which rows of ``listens`` (sorted by listener, then time) are next songs: every listen after the
    listener's first; with ``new_only``, only the first listen of each song by that listener."""
    users = listens[USER_ID].to_numpy()
    later = np.r_[False, users[1:] == users[:-1]] if len(users) else np.zeros(0, dtype=bool)
    if new_only:
        later &= ~listens.duplicated([USER_ID, "song"]).to_numpy()
    return later


def make_pairs(listens: pd.DataFrame, n: int, since: Any = None, new_only: bool = False) -> dict[str, np.ndarray]:
    """Every (previous up to n songs, next song) of each listener: ``x`` (m, n) int32 left-padded with 0,
    ``y`` (m,) the next song (1-based), ``user`` and ``time`` (the next song's start). With ``since``,
    only next songs played from then on (their histories may reach further back); with ``new_only``,
    only next songs the listener had not listened to before (:func:`target_rows`)."""
    users = listens[USER_ID].to_numpy()
    songs = listens["song"].to_numpy(dtype=np.int64)
    times = pd.to_datetime(listens[PLAYED_AT], utc=True).dt.tz_convert(None).to_numpy()  # UTC, naive
    start = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(users)]))  # each row's listener's first row
    targets = np.flatnonzero(target_rows(listens, new_only))
    if since is not None:
        targets = targets[times[targets] >= np.datetime64(pd.Timestamp(since).tz_convert(None))]
    x = np.zeros((len(targets), n), dtype=np.int32)
    for lag in range(1, n + 1):  # column n - lag holds the song ``lag`` places back, where there is one
        src = targets - lag
        ok = src >= first[targets]
        x[ok, n - lag] = songs[src[ok]]
    return {"x": x, "y": songs[targets], "user": users[targets], "time": times[targets]}


def build_model(vectors: np.ndarray, n: int, units: int, learning_rate: float) -> Any:
    """Masked GRU over frozen song vectors (row 0 = padding) -> dense to the vector's dimension; cosine loss."""
    import keras

    dim = vectors.shape[1]
    table = np.vstack([np.zeros((1, dim), np.float32), unit(vectors)])
    inputs = keras.Input(shape=(n,), dtype="int32")
    embed = keras.layers.Embedding(len(table), dim, mask_zero=True, trainable=False, name="songs")
    hidden = keras.layers.GRU(units, name="gru")(embed(inputs))
    outputs = keras.layers.Dense(dim, name="next_song")(hidden)
    model = keras.Model(inputs, outputs)
    embed.set_weights([table])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.CosineSimilarity())
    return model


def rnn_weights(model: Any) -> dict[str, np.ndarray]:
    """The trained weights (the GRU's and the output layer's; the song table is this week's own)."""
    gru, out = model.get_layer("gru").get_weights(), model.get_layer("next_song").get_weights()
    return {"gru_kernel": gru[0], "gru_recurrent": gru[1], "gru_bias": gru[2], "out_kernel": out[0], "out_bias": out[1]}


def turned_weights(weights: dict[str, np.ndarray], rotation: np.ndarray) -> dict[str, np.ndarray]:
    """Weights of a model that reads and predicts song vectors ``v @ rotation`` as the given ones read ``v``.

    A song vector of the new fit is ``x' = x R``; with the GRU's input kernel ``R.T K`` it
    sees ``x' R.T K = x K``, the same hidden state, and the output layer's ``K R, b R``
    predicts the new fit's vector of the song the old weights predicted.
    """
    return {
        **weights,
        "gru_kernel": rotation.T @ weights["gru_kernel"],
        "out_kernel": weights["out_kernel"] @ rotation,
        "out_bias": weights["out_bias"] @ rotation,
    }


def train_rnn(
    vectors: np.ndarray,
    pairs: dict[str, np.ndarray],
    conf: SequenceConf,
    init: dict[str, np.ndarray] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Fit on the pairs (the most recent ``max_pairs``), the last tenth by time validating; seeded.

    ``init`` (:func:`rnn_weights`, turned onto these vectors' axes by :func:`turned_weights`)
    is a warm start: training continues from those weights for at most ``warm_epochs``.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(conf.seed)
    tf.config.experimental.enable_op_determinism()
    order = np.argsort(pairs["time"], kind="stable")[-conf.max_pairs :]
    x, y = pairs["x"][order], unit(vectors)[pairs["y"][order] - 1]
    n_val = max(1, len(order) // 10)
    model = build_model(vectors, x.shape[1], conf.units, conf.learning_rate)
    if init is not None:
        model.get_layer("gru").set_weights([init["gru_kernel"], init["gru_recurrent"], init["gru_bias"]])
        model.get_layer("next_song").set_weights([init["out_kernel"], init["out_bias"]])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=1e-4, restore_best_weights=True)
    t0 = time.perf_counter()
    fit = model.fit(
        x[:-n_val],
        y[:-n_val],
        batch_size=conf.batch_size,
        epochs=conf.rnn_epochs if init is None else conf.warm_epochs,
        validation_data=(x[-n_val:], y[-n_val:]),
        callbacks=[stop],
        shuffle=True,
        verbose=0,
    )
    if not np.isfinite(fit.history["loss"]).all():  # diverged: its vectors would be NaN
        raise ConfigError(
            f"sequence.learning_rate={conf.learning_rate:g}: the taste RNN's training loss became "
            f"{fit.history['loss'][-1]} (not finite); lower sequence.learning_rate"
        )
    history = {
        "pairs": len(order),
        "epochs": len(fit.history["loss"]),
        "train_loss": [round(float(v), 5) for v in fit.history["loss"]],
        "val_loss": [round(float(v), 5) for v in fit.history["val_loss"]],
        "train_seconds": round(time.perf_counter() - t0, 2),
        "warm_start": init is not None,
    }
    return model, history


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=2048, verbose=0), dtype=np.float32)


def hit_rates(
    model: Any, vectors: np.ndarray, pairs: dict[str, np.ndarray], popular: np.ndarray, k: int
) -> dict[str, Any]:
    """Hit rate@k of the held-out next songs: is the true next song among the k songs nearest the query?

    Queries: the RNN's prediction (``rnn``); the mean of the history's unit vectors
    (``mean_of_history``); the last song's vector (``last_song``: its nearest neighbours, the
    song itself included, so a replay is a hit); and ``popular`` (1-based songs, the k most
    listened before the held-out days), the same for everyone. Each with a 95% interval
    resampling listeners, and the RNN's paired difference to each reference.
    """
    x, y = pairs["x"], pairs["y"] - 1
    table = np.vstack([np.zeros((1, vectors.shape[1]), np.float32), unit(vectors)])
    hist = table[x]
    mean = hist.sum(axis=1) / np.maximum((x > 0).sum(axis=1, keepdims=True), 1)
    queries = {"rnn": predict(model, x), "mean_of_history": mean, "last_song": table[x[:, -1]]}
    hits = {name: (nearest(vectors, q, k) == y[:, None]).any(axis=1).astype(float) for name, q in queries.items()}
    hits["popular"] = np.isin(y, popular[:k] - 1).astype(float)
    groups = pairs["user"]
    out: dict[str, Any] = {"k": k, "pairs": len(y), "listeners": len(set(groups))}
    out["hit_rate"] = {name: bootstrap_mean(h, groups).as_dict(4) for name, h in hits.items()}
    out["rnn_minus"] = {
        name: paired_difference(hits["rnn"], h, groups).as_dict(4) for name, h in hits.items() if name != "rnn"
    }
    return out


def taste_vectors(model: Any, listens: pd.DataFrame, users: set[str], n: int, song_ids: list[str]) -> pd.DataFrame:
    """user_id, vector (the RNN's prediction from the latest n listens), recent (those songs' ids, oldest first)."""
    latest = listens[listens[USER_ID].isin(users)].groupby(USER_ID, sort=True).tail(n)
    if latest.empty:
        return pd.DataFrame({USER_ID: [], VECTOR: [], "recent": []})
    grouped = latest.groupby(USER_ID, sort=True)["song"].agg(list)
    x = np.zeros((len(grouped), n), dtype=np.int32)
    for r, songs in enumerate(grouped):
        x[r, n - len(songs) :] = songs
    names = np.asarray(song_ids, dtype=object)
    return pd.DataFrame(
        {
            USER_ID: grouped.index.to_numpy(dtype=object),
            VECTOR: list(predict(model, x)),
            "recent": [names[np.asarray(s) - 1].tolist() for s in grouped],
        }
    )
