"""Audio CNN: learn to map a track's log-mel spectrogram to its ALS vector (the cold-start fix).

Following van den Oord, Dieleman and Schrauwen (2013) and Dieleman's 2014 post: 1-D
convolutions over time with the mel bands as channels, max pooling, global temporal
pooling (mean, max and L2 together), dense layers with dropout, and an output the size
of the ALS rank, trained with MSE on L2-normalised ALS item vectors of tracks with at
least ``audio_cnn.min_plays`` plays, on random time crops, a validation split by track,
early stopping on validation loss, and a seed.

``train --week W`` reads ``spectrograms``, ``item_factors``, ``user_factors`` and
``play_counts`` (``week=W``) and writes

* ``models/audio_cnn/week=W/model.keras`` plus ``preprocessing.json`` (the spectrogram
  settings, crop length and per-band normalisation), so inference cannot disagree with
  training;
* ``run_metrics/week=W/audio_cnn.json``: epochs, losses, time, and the cold-start
  evaluation (:func:`cold_start_eval`): 15% of the played tracks with audio are held
  out as if new, ALS is refitted without any of their plays (the ``implicit``
  library's CPU ALS, the ``als`` section's rank, regularisation, alpha, eps,
  iterations and seed), a CNN is trained on the refit's vectors of the kept tracks,
  and every listener of the refit ranks the held-out tracks by user vector times
  predicted vector, scored by AUC, recall@30 and mAP beside random, artist-popularity
  (total and mean plays per track) and two references that see the held-out plays.

Spectrograms are stored padded to the whole window; :func:`load_spectrograms` keeps
only their ``valid_frames``, so crops cut real audio.

``infer --week W`` loads that model, writes the prediction for every track with audio to
``audio_vectors`` (used by the offline evaluation's audio-only ranking) and writes
``track_vectors`` (``week=W``): the ALS
vector for every track that has one (``source = als``) and the predicted vector for
every other track with audio, new releases included (``source = audio``), scaled to the
median norm of the ALS item vectors so both live on one scale.

Both run as their own processes (the DAG starts them with bash), so the Airflow worker
never imports TensorFlow.

Run alone::

    python -m jobs.audio_cnn train --week 2026-W47
    python -m jobs.audio_cnn infer --week 2026-W47
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from jobs.common.atomic import publish_dir, staging_dir, write_json_atomic
from jobs.common.cli import week_job
from jobs.common.config import AlsConf, AudioCnnConf, Config
from jobs.common.implicit_als import confidence_matrix, fit_implicit
from jobs.common.io import write_week_table
from jobs.common.metrics import as_matrix, auc, average_precision, recall_at_k
from jobs.common.paths import table_dir, week_dir

log = logging.getLogger("audio_cnn")


class AudioCnnError(RuntimeError):
    """Missing inputs or too little data to train."""


# ----------------------------------------------------------------------------- data


def load_spectrograms(warehouse: Path, week: str) -> dict[str, np.ndarray]:
    """track_id -> (valid_frames, n_mels) float32 log-mel, time first (the CNN's layout).

    The stored spectrograms are padded to the whole window; only the ``valid_frames``
    of real audio are kept, so random crops cut real audio (:func:`crop` pads clips
    shorter than a crop itself). Read in batches, so no padded float32 copy is made.
    """
    from jobs.audio_features import mel_from_bytes

    path = week_dir(warehouse, "spectrograms", week)
    if not path.exists():
        raise AudioCnnError(f"{path}: missing; run the audio_features job for {week} first")
    dataset = pq.ParquetDataset(path)
    out: dict[str, np.ndarray] = {}
    for fragment in dataset.fragments:
        for batch in fragment.to_batches():
            cols = batch.to_pydict()
            valid = cols.get("valid_frames") or cols["n_frames"]  # weeks written before padding have none
            for track_id, n_mels, n_frames, v, blob in zip(
                cols["track_id"], cols["n_mels"], cols["n_frames"], valid, cols["mel"], strict=True
            ):
                mel = mel_from_bytes(blob, n_mels, n_frames)
                out[track_id] = np.ascontiguousarray(mel[:, :v].T, dtype=np.float32)
    return out


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


def _l2_pooling_layer() -> Any:
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

    l2_pooling = _l2_pooling_layer()

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


def train_model(
    specs: list[np.ndarray], targets: np.ndarray, conf: AudioCnnConf, seed: int
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Train on random crops with a validation split by track; returns model, preprocessing, history."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same weights: reruns give identical rows
    rng = np.random.default_rng(seed)
    n = len(specs)
    order = rng.permutation(n)
    n_val = max(1, round(n * conf.validation_share))
    val_idx, train_idx = order[:n_val], order[n_val:]
    mean, std = band_stats([specs[i] for i in train_idx])
    norm = [(s - mean) / std for s in specs]
    pad_value = float(((-100.0 - mean) / std).mean())
    frames = conf.crop_frames
    model = build_model(frames, specs[0].shape[1], targets.shape[1], conf)
    x_val = np.stack([crop(norm[i], frames, None, pad_value) for i in val_idx])
    y_val = targets[val_idx]
    initial_val = float(model.evaluate(x_val, y_val, verbose=0))
    best, best_weights, waited = initial_val, model.get_weights(), 0
    history = {"initial_val_loss": initial_val, "train_loss": [], "val_loss": []}
    t0 = time.perf_counter()
    for _ in range(conf.max_epochs):
        x_train = random_crops([norm[i] for i in train_idx], frames, rng, pad_value)
        fit = model.fit(x_train, targets[train_idx], batch_size=conf.batch_size, epochs=1, verbose=0, shuffle=True)
        val = float(model.evaluate(x_val, y_val, verbose=0))
        history["train_loss"].append(float(fit.history["loss"][-1]))
        history["val_loss"].append(val)
        if val < best - 1e-5:
            best, best_weights, waited = val, model.get_weights(), 0
        else:
            waited += 1
            if waited >= conf.patience:
                break
    model.set_weights(best_weights)
    history.update(
        {
            "epochs": len(history["val_loss"]),
            "best_val_loss": best,
            "train_seconds": round(time.perf_counter() - t0, 2),
            "train_tracks": len(train_idx),
            "val_tracks": len(val_idx),
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


# ----------------------------------------------------------------------------- cold-start evaluation


def fold_in_users(
    counts: pd.DataFrame, item_ids: np.ndarray, item_vecs: np.ndarray, alpha: float, eps: float, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """ALS user step with items fixed: ``u = (Y'CuY + reg I)^-1 Y'Cu p`` (Hu, Koren, Volinsky 2008).

    ``counts`` has user_id, track_id, weight; tracks not in ``item_ids`` are ignored.
    Returns (user ids, user vectors).
    """
    index = pd.Series(np.arange(len(item_ids)), index=item_ids)
    c = counts[counts["track_id"].isin(index.index)]
    Y = item_vecs.astype(np.float64)
    YtY = Y.T @ Y
    reg_eye = reg * np.eye(Y.shape[1])
    users, vecs = [], []
    for uid, g in c.groupby("user_id", sort=True):
        idx = index[g["track_id"]].to_numpy()
        conf = alpha * np.log1p(g["weight"].to_numpy() / eps)  # C - 1 on observed items
        Yu = Y[idx]
        A = YtY + (Yu.T * conf) @ Yu + reg_eye
        b = Yu.T @ (1.0 + conf)
        users.append(uid)
        vecs.append(np.linalg.solve(A, b))
    return np.array(users, dtype=object), np.array(vecs, dtype=np.float32).reshape(len(vecs), Y.shape[1])


def rank_metrics(
    user_vecs: np.ndarray, truth: list[set[int]], scorers: dict[str, Any], k: int
) -> dict[str, dict[str, float]]:
    """AUC, recall@k and mAP of each scorer over the held-out items, per user then averaged.

    ``scorers`` maps a name to a function ``user_vecs -> (n_users, n_items)`` scores.
    """
    out = {}
    for name, scorer in scorers.items():
        scores = scorer(user_vecs)
        aucs, aps, recs = [], [], []
        for r, rel in enumerate(truth):
            positives = np.zeros(scores.shape[1], dtype=bool)
            positives[list(rel)] = True
            ranked = np.lexsort((np.arange(scores.shape[1]), -scores[r]))
            aucs.append(auc(scores[r], positives))
            aps.append(average_precision(ranked, rel))
            recs.append(ranked)
        out[name] = {
            "auc": float(np.nanmean(aucs)),
            f"recall@{k}": recall_at_k(recs, truth, k),
            "map": float(np.nanmean(aps)),
            "users": float(len(truth)),
        }
    return out


def refit_without(
    counts: pd.DataFrame, held_ids: Any, conf: AlsConf
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ALS refitted on ``counts`` without any play of ``held_ids``: (user ids, U, item ids, V).

    Same rank, regularisation, alpha, eps, iterations and seed as the week's Spark fit,
    with the ``implicit`` library (2 threads, exact solves). Listeners whose only plays
    were of held-out tracks drop out. Nothing here depends on the held-out plays.
    """
    kept = counts[~counts["track_id"].isin(set(held_ids))].sort_values(["user_id", "track_id"], ignore_index=True)
    matrix, users, items = confidence_matrix(kept, conf)
    U, V, _ = fit_implicit(matrix, conf)
    return users, np.asarray(U, dtype=np.float32), items, np.asarray(V, dtype=np.float32)


def cold_start_eval(
    spec_by_track: dict[str, np.ndarray],
    items: pd.DataFrame,
    counts: pd.DataFrame,
    tracks: pd.DataFrame,
    config: Config,
) -> dict[str, Any]:
    """Hold out a share of the played tracks as if new and rank them for every listener, all in one ALS space.

    1. ``holdout_share`` of the tracks with plays and audio are held out (seeded).
    2. ALS is refitted without any of their plays (:func:`refit_without`): the week's
       item vectors saw those plays, so training the CNN on them would leak.
    3. The CNN is trained on the refit's vectors of the kept tracks and predicts a
       vector for every held-out track from its audio alone.
    4. Every listener of the refit ranks the held-out tracks by user vector times
       scorer vector; AUC, recall@k and mAP against the listener's plays of them.

    Scorers: ``audio_cnn``; ``random``; ``artist_total_popularity`` (plays of the
    artist's kept tracks, summed) and ``artist_mean_popularity`` (their mean plays per
    track), real cold-start signals; and two references no cold-start system has:
    ``track_popularity_oracle`` (the held-out track's own plays) and
    ``als_fold_in_upper_bound`` (the held-out tracks folded into the refit's space with
    the ALS item step against its user vectors, from their plays).
    """
    conf, als = config.audio_cnn, config.als
    rng = np.random.default_rng(conf.seed + 1)
    playable = items[items["track_id"].isin(spec_by_track)].sort_values("track_id", ignore_index=True)
    held = np.zeros(len(playable), dtype=bool)
    held[rng.choice(len(playable), round(len(playable) * conf.holdout_share), replace=False)] = True
    held_ids = playable.loc[held, "track_id"].to_numpy()
    kept = playable[~held]
    enough = kept[kept["plays"] >= conf.min_plays]
    if len(enough) < 10 or len(held_ids) < 2:  # checked before the refit, which needs plays to fit
        return {"skipped": f"too few tracks ({len(enough)} to train, {len(held_ids)} held out)"}
    t0 = time.perf_counter()
    users, U, item_ids, V = refit_without(counts, held_ids, als)
    refit_seconds = time.perf_counter() - t0
    refit_vec = dict(zip(item_ids, V, strict=True))
    train = enough[enough["track_id"].isin(refit_vec)]
    if len(train) < 10:
        return {"skipped": f"too few tracks ({len(train)} to train, {len(held_ids)} held out)"}
    model, prep, history = train_model(
        [spec_by_track[t] for t in train["track_id"]],
        l2_normalise(np.stack([refit_vec[t] for t in train["track_id"]])),
        conf,
        conf.seed,
    )
    predicted = predict(model, prep, [spec_by_track[t] for t in held_ids])
    held_index = {t: i for i, t in enumerate(held_ids)}
    held_counts = counts[counts["track_id"].isin(held_index)]
    truth_by_user = held_counts.groupby("user_id")["track_id"].agg(set)
    rows = [(i, {held_index[t] for t in truth_by_user[u]}) for i, u in enumerate(users) if u in truth_by_user.index]
    if not rows:
        return {"skipped": "no listener played a held-out track"}
    sel = np.array([i for i, _ in rows])
    truth = [t for _, t in rows]
    # the item step of ALS with the refit's user vectors fixed: fold_in_users with the roles swapped
    swapped = held_counts.rename(columns={"user_id": "track_id", "track_id": "user_id"})
    folded_ids, folded = fold_in_users(swapped, users, U, als.alpha, als.eps, als.reg_param)
    true_vecs = np.zeros((len(held_ids), U.shape[1]), dtype=np.float32)
    for t, v in zip(folded_ids, folded, strict=True):
        true_vecs[held_index[t]] = v
    artist_of = tracks.set_index("track_id")["artist_id"]
    others = items[~items["track_id"].isin(held_index)]
    by_artist = others.assign(artist=others["track_id"].map(artist_of)).groupby("artist")["plays"]
    total, mean = by_artist.sum(), by_artist.mean()
    held_artists = [artist_of.get(t) for t in held_ids]
    artist_total = np.array([total.get(a, 0.0) for a in held_artists], dtype=np.float64)
    artist_mean = np.array([mean.get(a, float(others["plays"].mean())) for a in held_artists], dtype=np.float64)
    rand = np.random.default_rng(conf.seed + 2)
    own_plays = playable.set_index("track_id").loc[held_ids, "plays"].to_numpy(dtype=np.float64)
    n_held = len(held_ids)
    scorers = {
        "audio_cnn": lambda u: u @ predicted.T,
        "random": lambda u: rand.random((len(u), n_held)),
        "artist_total_popularity": lambda u: np.broadcast_to(artist_total, (len(u), n_held)),
        "artist_mean_popularity": lambda u: np.broadcast_to(artist_mean, (len(u), n_held)),
        # references that peek at the held-out tracks' own plays; no cold-start system has these
        "track_popularity_oracle": lambda u: np.broadcast_to(own_plays, (len(u), n_held)),
        "als_fold_in_upper_bound": lambda u: u @ true_vecs.T,
    }
    metrics = rank_metrics(U[sel], truth, scorers, conf.eval_k)
    return {
        "held_out_tracks": len(held_ids),
        "train_tracks": len(train),
        "listeners": len(truth),
        "refit": {
            "library": "implicit (CPU ALS, exact solves, 2 threads)",
            "users": len(users),
            "items": len(item_ids),
            "seconds": round(refit_seconds, 2),
        },
        "history": {k: v for k, v in history.items() if k not in ("train_loss", "val_loss")},
        "baselines": {
            "artist_total_popularity": "summed plays of the artist's other (kept) tracks",
            "artist_mean_popularity": "mean plays per kept track of the artist (all kept tracks' mean if none)",
            "track_popularity_oracle": "the held-out track's own plays (a leak; reference only)",
            "als_fold_in_upper_bound": "held-out tracks folded into the refit with their plays (reference only)",
        },
        "metrics": metrics,
    }


# ----------------------------------------------------------------------------- jobs


def _read(warehouse: Path, name: str, week: str) -> pd.DataFrame:
    path = week_dir(warehouse, name, week)
    if not path.exists():
        raise AudioCnnError(f"{path}: missing; run the job that writes {name} for {week} first")
    return pq.read_table(path).to_pandas()


def model_dir(warehouse: Path, week: str) -> Path:
    return table_dir(warehouse, "models") / "audio_cnn" / f"week={week}"


def run_train(config: Config, week: str) -> dict[str, Any]:
    from jobs.audio_features import Settings
    from jobs.common.catalog import read_catalog_table

    t0 = time.perf_counter()
    conf = config.audio_cnn
    warehouse = config.paths.warehouse
    specs = load_spectrograms(warehouse, week)
    items = _read(warehouse, "item_factors", week)
    counts = _read(warehouse, "play_counts", week)
    tracks = read_catalog_table(config.paths.data, "tracks")
    evaluation = cold_start_eval(specs, items, counts, tracks, config) if conf.evaluate else {}
    train = items[items["track_id"].isin(specs) & (items["plays"] >= conf.min_plays)]
    train = train.sort_values("track_id", ignore_index=True)
    if len(train) < 10:
        raise AudioCnnError(f"only {len(train)} tracks have audio and >= {conf.min_plays} plays; need 10 to train")
    model, prep, history = train_model(
        [specs[t] for t in train["track_id"]], l2_normalise(as_matrix(train["vector"])), conf, conf.seed
    )
    prep["spectrogram"] = asdict(Settings.from_conf(config.audio))
    prep["rank"] = int(as_matrix(train["vector"]).shape[1])
    prep["als_median_norm"] = float(np.median(np.linalg.norm(as_matrix(items["vector"]), axis=1)))
    target = model_dir(warehouse, week)
    stage = staging_dir(target)
    model.save(stage / "model.keras")
    (stage / "preprocessing.json").write_text(json.dumps(prep, indent=2) + "\n")
    publish_dir(stage, target)
    metrics = {
        "week": week,
        "tracks": len(train),
        "history": history,
        "cold_start": evaluation,
        "model": str(target),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json_atomic(week_dir(warehouse, "run_metrics", week) / "audio_cnn.json", metrics)
    return metrics


def load_model(warehouse: Path, week: str) -> tuple[Any, dict[str, Any]]:
    """The week's model and its preprocessing, loaded in Keras' safe mode (no code from the file)."""
    import keras

    _l2_pooling_layer()  # registers the custom layer

    path = model_dir(warehouse, week)
    if not (path / "model.keras").exists():
        raise AudioCnnError(f"{path}: no trained model; run `python -m jobs.audio_cnn train --week {week}` first")
    prep = json.loads((path / "preprocessing.json").read_text())
    model = keras.saving.load_model(path / "model.keras", safe_mode=True)
    return model, prep


def check_settings(prep: dict[str, Any], config: Config) -> None:
    """Refuse to infer when the configured spectrogram settings differ from those the model was trained on."""
    from jobs.audio_features import Settings

    trained, now = prep.get("spectrogram"), asdict(Settings.from_conf(config.audio))
    if trained != now:
        diff = {k: (trained.get(k), v) for k, v in now.items() if trained.get(k) != v} if trained else now
        raise AudioCnnError(f"spectrogram settings changed since training (setting: (model, config)): {diff}")


def run_infer(config: Config, week: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    warehouse = config.paths.warehouse
    model, prep = load_model(warehouse, week)
    check_settings(prep, config)
    specs = load_spectrograms(warehouse, week)
    items = _read(warehouse, "item_factors", week)
    als_ids = set(items["track_id"])
    with_audio = sorted(specs)
    predicted = predict(model, prep, [specs[t] for t in with_audio]) * prep["als_median_norm"]
    audio = pd.DataFrame({"track_id": with_audio, "vector": list(predicted)})
    write_week_table(audio, warehouse, "audio_vectors", week)
    cold = audio[~audio["track_id"].isin(als_ids)]
    frame = pd.concat(
        [items[["track_id", "vector"]].assign(source="als"), cold.assign(source="audio")], ignore_index=True
    ).sort_values("track_id", ignore_index=True)
    write_week_table(frame, warehouse, "track_vectors", week)
    metrics = {
        "week": week,
        "als": len(als_ids),
        "audio": len(cold),
        "predicted": len(audio),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json_atomic(week_dir(warehouse, "run_metrics", week) / "audio_infer.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return week_job(
        "audio_cnn",
        "Train the audio CNN or infer track vectors with it.",
        lambda config, week, args: (run_train if args.command == "train" else run_infer)(config, week),
        argv,
        errors=(AudioCnnError,),
        add_arguments=lambda p: p.add_argument("command", choices=["train", "infer"]),
    )


if __name__ == "__main__":
    sys.exit(main())
