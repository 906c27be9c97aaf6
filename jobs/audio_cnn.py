"""Audio CNN: learn to map a track's log-mel spectrogram to its ALS vector (the cold-start fix).

Following van den Oord, Dieleman and Schrauwen (2013) and Dieleman's 2014 post: 1-D
convolutions over time with the mel bands as channels, max pooling, global temporal
pooling (mean, max and L2 together), dense layers with dropout, and an output the size
of the ALS rank, trained with MSE on L2-normalised ALS item vectors of tracks with at
least ``audio_cnn.min_plays`` plays, on random time crops, a validation split by track,
early stopping on validation loss, and a seed. The model, crops, training and
prediction live in the library :mod:`jobs.audio.cnn`, the cold-start evaluation
in :mod:`jobs.audio.cold_start`; this module is the two jobs (read the tables,
train or infer, write the results).

``train --week W`` reads ``spectrograms``, ``item_factors``, ``user_factors`` and
``play_counts`` (``week=W``) and writes

* ``models/audio_cnn/week=W/model.keras`` plus ``preprocessing.json`` (the spectrogram
  settings, crop length and per-band normalisation), so inference cannot disagree with
  training;
* ``run_metrics/week=W/audio_cnn.json``: epochs, losses, time and the warm start.

``evaluate --week W`` reads the same tables and writes ``run_metrics/week=W/audio_eval.json``,
the cold-start evaluation (:func:`~jobs.audio.cold_start.cold_start_eval`); the DAG runs it as
its own task (``audio_eval``) beside the training, off the path to the merge, and the report
shows it: 15% of the played tracks with audio are held
  out as if new, ALS is refitted without any of their plays (the ``implicit``
  library's CPU ALS, the ``als`` section's rank, regularisation, alpha, eps,
  iterations and seed), a CNN is trained on the refit's vectors of the kept tracks,
  and every listener of the refit ranks the held-out tracks by user vector times
  predicted vector, scored by AUC, recall@30 and mAP beside random, artist-popularity
  (total and mean plays per track) and two references that see the held-out plays; and
  (``whole_catalog``) the same listeners rank every unplayed track with audio, the CNN
  beside the artist's mean plays per track and, when ``<data>/truth/track_attributes.csv``
  exists, a genre oracle, with 95% intervals over listeners and paired differences.

Warm start (``audio_cnn.warm_start``, on by default): training begins from the newest
earlier week's model when it has the same architecture and spectrogram settings, its
output layer turned onto this week's ALS axes (the orthogonal Procrustes map between the
two weeks' normalised item vectors; every weekly fit has its own axes) and its band
normalisation kept, for at most ``audio_cnn.warm_epochs`` epochs instead of
``max_epochs``. The chain of warm starts is cut on a schedule: when it began
``audio_cnn.full_retrain_weeks`` or more weeks ago, the week trains from random weights.
``preprocessing.json`` records ``warm_from_week`` and ``full_train_week``; the metrics say
which it was under ``warm_start``. A rerun of a week starts from the same earlier model,
so it gives the same model. The cold-start evaluation always trains its own model from
random weights (an earlier model has seen the held-out tracks).

Spectrograms are stored padded to the whole window; :func:`load_spectrograms` keeps
only their ``valid_frames``, so crops cut real audio.

``infer --week W`` loads that model, writes the prediction for every track with audio to
``audio_vectors`` (used by the offline evaluation's audio-only ranking) and writes
``track_vectors`` (``week=W``): the ALS vector for every track that has one
(``source = als``) and the predicted vector for every other track with audio, new
releases included (``source = audio``), scaled to the median norm of the ALS item
vectors so both live on one scale. Both are stamped with the ALS fit ``item_factors`` came
from (readers refuse them once the week has another fit), and a model whose output rank
differs from this week's ALS rank is refused (retrain it first).

Too little to learn from is not a failure: when fewer than 10 tracks have audio and
``audio_cnn.min_plays`` plays (real listening data usually has no audio at all), ``train``
writes ``{"skipped": "only 0 tracks have audio and >= 5 plays; need 10 to train"}`` as its
metrics and exits 99 (Airflow: skipped), ``infer`` then skips as well (``"audio_train skipped: ..."``), and the
merge runs without audio candidates. ``evaluate`` skips for the same reason, or when
``audio_cnn.evaluate`` is false. A skip removes the step's outputs of an earlier run of
the same week. Missing input tables or a model that does not fit still fail (exit 2).

Both run as their own processes (the DAG starts them with bash), so the Airflow worker
never imports TensorFlow.

Run alone::

    python -m jobs.audio_cnn train --week 2026-W47
    python -m jobs.audio_cnn infer --week 2026-W47
    python -m jobs.audio_cnn evaluate --week 2026-W47
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.audio.cnn import architecture, l2_normalise, l2_pooling_layer, predict, train_model, warm_model
from jobs.audio.cold_start import cold_start_eval
from jobs.audio.spectrogram import Settings, mel_from_bytes
from jobs.config import Config
from jobs.evaluation.metrics import as_matrix
from jobs.recsys.items import rotation_between
from jobs.runtime.cli import skipped, week_job
from jobs.warehouse.store import Warehouse, check_one_rank
from jobs.warehouse.weeks import shift
from schemas import vocab
from schemas.columns import TRACK_ID, VECTOR

log = logging.getLogger("audio_cnn")


class AudioCnnError(RuntimeError):
    """A missing model or inputs that do not fit it."""


MIN_TRAIN_TRACKS = 10  # fewer tracks with audio and enough plays: the week's training is skipped


# ----------------------------------------------------------------------------- data


def load_spectrograms(warehouse: Path, week: str) -> dict[str, np.ndarray]:
    """track_id -> (valid_frames, n_mels) float32 log-mel, time first (the CNN's layout).

    The stored spectrograms are padded to the whole window; only the ``valid_frames``
    of real audio are kept, so random crops cut real audio (:func:`~jobs.audio.cnn.crop`
    pads clips shorter than a crop itself). Read in batches, so no padded float32 copy is made.
    """
    out: dict[str, np.ndarray] = {}
    for cols in Warehouse(warehouse).read_batches("spectrograms", week):
        for track_id, n_mels, n_frames, v, blob in zip(
            cols[TRACK_ID], cols["n_mels"], cols["n_frames"], cols["valid_frames"], cols["mel"], strict=True
        ):
            mel = mel_from_bytes(blob, n_mels, n_frames)
            out[track_id] = np.ascontiguousarray(mel[:, :v].T, dtype=np.float32)
    return out


# ----------------------------------------------------------------------------- jobs


def model_dir(warehouse: Path, week: str) -> Path:
    return Warehouse(warehouse).model_dir("audio_cnn", week)


def save_model(model: Any, prep: dict[str, Any], warehouse: Path, week: str) -> Path:
    """Publish ``model.keras`` and ``preprocessing.json`` as the week's model folder, atomically.

    Written into a staging folder beside it and swapped in; on any failure the staging
    folder is removed and the week's previous model, if any, stays as it was.
    """
    target = model_dir(warehouse, week)
    with Warehouse(warehouse).staged(target) as stage:
        model.save(stage / "model.keras")
        (stage / "preprocessing.json").write_text(json.dumps(prep, indent=2) + "\n")
    return target


def true_genres(data: Path) -> pd.Series | None:
    """track_id -> genre from ``<data>/truth/track_attributes.csv`` (the sample world writes it), else None.

    Read only for the cold-start evaluation's genre-oracle reference; it never changes a model or table.
    """
    path = data / "truth" / "track_attributes.csv"
    if not path.exists():
        return None
    truth = pd.read_csv(path, dtype=str, usecols=[TRACK_ID, "genre"])
    return truth.dropna().drop_duplicates(TRACK_ID).set_index(TRACK_ID)["genre"]


def run_train(config: Config, week: str) -> dict[str, Any]:
    """Train the week's model; a skip (too few tracks with audio and plays) when there is too little to learn from."""
    conf = config.audio_cnn
    warehouse = config.paths.warehouse
    wh = Warehouse(warehouse)
    specs = load_spectrograms(warehouse, week)
    items = wh.read("item_factors", week)
    train = training_tracks(specs, items, conf.min_plays)
    if len(train) < MIN_TRAIN_TRACKS:
        return skipped(wh, week, too_few(len(train), conf.min_plays), [model_dir(warehouse, week)])
    targets = l2_normalise(as_matrix(train[VECTOR]))
    shape = architecture(conf, next(iter(specs.values())).shape[1], targets.shape[1])
    init, warm = previous_model(config, week, items, shape)
    model, prep, history = train_model([specs[t] for t in train[TRACK_ID]], targets, conf, conf.seed, init)
    prep["spectrogram"] = asdict(Settings.from_conf(config.audio))
    prep["rank"] = int(targets.shape[1])
    prep["architecture"] = shape
    prep["full_train_week"] = warm.get("full_train_week", week)
    prep["warm_from_week"] = warm.get("from_week")
    prep["als_median_norm"] = float(np.median(np.linalg.norm(as_matrix(items[VECTOR]), axis=1)))
    target = save_model(model, prep, warehouse, week)
    metrics = {
        "week": week,
        "tracks": len(train),
        "history": history,
        "warm_start": warm,
        "model": str(target),
    }
    return metrics


def training_tracks(specs: dict[str, np.ndarray], items: pd.DataFrame, min_plays: int) -> pd.DataFrame:
    """The item factors of the tracks the CNN learns from: with audio and ``min_plays`` plays, by track id."""
    train = items[items[TRACK_ID].isin(specs) & (items["plays"] >= min_plays)]
    return train.sort_values(TRACK_ID, ignore_index=True)


def too_few(tracks: int, min_plays: int) -> str:
    return f"only {tracks} tracks have audio and >= {min_plays} plays; need {MIN_TRAIN_TRACKS} to train"


def run_evaluate(config: Config, week: str) -> dict[str, Any]:
    """The week's cold-start evaluation (:func:`~jobs.audio.cold_start.cold_start_eval`), apart from the training.

    It reads what the training reads and trains its own CNN from random weights, so it runs
    beside ``train`` (the DAG's ``audio_eval`` task), not before it. A skip when the training
    would skip (too few tracks) or ``audio_cnn.evaluate`` is false.
    """
    from jobs.warehouse.catalog import read_catalog_table

    conf = config.audio_cnn
    wh = Warehouse(config.paths.warehouse)
    if not conf.evaluate:
        return skipped(wh, week, "audio_cnn.evaluate is false", [])
    specs = load_spectrograms(config.paths.warehouse, week)
    items = wh.read("item_factors", week)
    train = training_tracks(specs, items, conf.min_plays)
    if len(train) < MIN_TRAIN_TRACKS:
        return skipped(wh, week, too_few(len(train), conf.min_plays), [])
    counts = wh.read("play_counts", week)
    tracks = read_catalog_table(config.paths.data, "tracks")
    evaluation = cold_start_eval(specs, items, counts, tracks, config, true_genres(config.paths.data))
    return {"week": week, **evaluation}


def previous_model(
    config: Config, week: str, items: pd.DataFrame, shape: dict[str, Any]
) -> tuple[tuple[Any, dict[str, Any]] | None, dict[str, Any]]:
    """The warm start of ``week``'s training: the newest earlier week's model, its output rotated onto this week's ALS axes.

    ``(None, {"full_training": ...})`` (train from random weights) when ``audio_cnn.warm_start`` is
    off, no earlier week has a model, that model's architecture or spectrogram settings
    differ, its chain of warm starts began ``audio_cnn.full_retrain_weeks`` or more weeks
    ago (the scheduled full retrain), or its week's ALS vectors are gone. The rotation is
    the orthogonal Procrustes map of the model's week's normalised item vectors onto this
    week's over their shared tracks (each weekly ALS fit has its own axes).
    """
    conf, warehouse = config.audio_cnn, config.paths.warehouse
    if not conf.warm_start:
        return None, {"full_training": "audio_cnn.warm_start is false"}
    wh = Warehouse(warehouse)
    earlier = wh.weeks("models/audio_cnn", before=week)
    if not earlier:
        return None, {"full_training": "no earlier week has a model"}
    w = earlier[-1]
    try:
        prep = json.loads((model_dir(warehouse, w) / "preprocessing.json").read_text())
        if prep.get("architecture") != shape or prep.get("spectrogram") != asdict(Settings.from_conf(config.audio)):
            return None, {"full_training": f"the model of {w} has another architecture or spectrogram settings"}
        full = prep.get("full_train_week", w)
        if full <= shift(week, -conf.full_retrain_weeks):
            return None, {"full_training": f"scheduled full retrain: the chain of warm starts began in {full}"}
        before = wh.read("item_factors", w)
        model, _ = load_model(warehouse, w)
    except (OSError, ValueError, KeyError, AudioCnnError) as exc:
        return None, {"full_training": f"the model of {w} cannot be read ({exc})"}
    rotation = rotation_between(before, items, l2_normalise)
    log.info("warm start from the model of %s (full training in %s)", w, full)
    return (warm_model(model, rotation), prep), {"from_week": w, "full_train_week": full}


def load_model(warehouse: Path, week: str) -> tuple[Any, dict[str, Any]]:
    """The week's model and its preprocessing, loaded in Keras' safe mode (no code from the file)."""
    import keras

    l2_pooling_layer()  # registers the custom layer

    path = model_dir(warehouse, week)
    if not (path / "model.keras").exists():
        raise AudioCnnError(f"{path}: no trained model; run `python -m jobs.audio_cnn train --week {week}` first")
    prep = json.loads((path / "preprocessing.json").read_text())
    model = keras.saving.load_model(path / "model.keras", safe_mode=True)
    return model, prep


def check_settings(prep: dict[str, Any], config: Config) -> None:
    """Refuse to infer when the configured spectrogram settings differ from those the model was trained on."""
    trained, now = prep.get("spectrogram"), asdict(Settings.from_conf(config.audio))
    if trained != now:
        diff = {k: (trained.get(k), v) for k, v in now.items() if trained.get(k) != v} if trained else now
        raise AudioCnnError(f"spectrogram settings changed since training (setting: (model, config)): {diff}")


def run_infer(config: Config, week: str) -> dict[str, Any]:
    warehouse = config.paths.warehouse
    wh = Warehouse(warehouse)
    model, prep = load_model(warehouse, week)
    check_settings(prep, config)
    frames, fit = wh.read_together(week, ["item_factors"])  # checked against the week's ALS fit
    items = frames["item_factors"]
    als_rank, model_rank = check_one_rank(week, {"item_factors": items}), int(model.output_shape[-1])
    if als_rank is not None and model_rank != als_rank:
        fit_id = f" (fit {fit['fit_id']})" if fit else ""
        raise AudioCnnError(
            f"{model_dir(warehouse, week)}: the model predicts rank-{model_rank} vectors, but this week's ALS"
            f"{fit_id} has rank {als_rank}; retrain it: python -m jobs.audio_cnn train --week {week}"
        )
    made_from = {"spectrograms": wh.digest("spectrograms", week)}  # before the read: a rewrite since shows
    specs = load_spectrograms(warehouse, week)
    als_ids = set(items[TRACK_ID])
    with_audio = sorted(specs)
    predicted = predict(model, prep, [specs[t] for t in with_audio]) * prep["als_median_norm"]
    audio = pd.DataFrame({TRACK_ID: with_audio, VECTOR: list(predicted)})
    wh.write("audio_vectors", week, audio, fit=fit, made_from=made_from)
    cold = audio[~audio[TRACK_ID].isin(als_ids)]
    frame = pd.concat(
        [items[[TRACK_ID, VECTOR]].assign(source=vocab.ALS), cold.assign(source=vocab.AUDIO)], ignore_index=True
    ).sort_values(TRACK_ID, ignore_index=True)
    wh.write("track_vectors", week, frame, fit=fit, made_from=made_from)
    metrics = {
        "week": week,
        "als": len(als_ids),
        "audio": len(cold),
        "predicted": len(audio),
    }
    return metrics


def infer_unless_skipped(config: Config, week: str) -> dict[str, Any]:
    """:func:`run_infer`, or a skip when the week's training recorded one (its metrics say ``skipped``).

    On a skip the week's ``track_vectors`` and ``audio_vectors`` from an earlier run are
    removed, so the merge runs without audio candidates and says so.
    """
    wh = Warehouse(config.paths.warehouse)
    trained = wh.metrics_file("audio_cnn", week)
    reason = json.loads(trained.read_text()).get("skipped") if trained.exists() else None
    if reason:
        stale = [wh.partition("track_vectors", week), wh.partition("audio_vectors", week)]
        return skipped(wh, week, f"audio_train skipped: {reason}", stale)
    return run_infer(config, week)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    commands = {
        "train": (run_train, "audio_cnn"),
        "infer": (infer_unless_skipped, "audio_infer"),
        "evaluate": (run_evaluate, "audio_eval"),
    }
    return week_job(
        "audio_cnn",
        "Train the audio CNN, infer track vectors with it, or evaluate it on held-out tracks.",
        lambda config, week, args: commands[args.command][0](config, week),
        argv,
        errors=(AudioCnnError,),
        add_arguments=lambda p: p.add_argument("command", choices=list(commands)),
        metrics=lambda args: commands[args.command][1],
    )


if __name__ == "__main__":
    sys.exit(main())
