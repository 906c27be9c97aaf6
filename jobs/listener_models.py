"""Listener models: the per-listener content model and the user model, trained on the weeks before the run week.

Reads, for run week ``W`` (:class:`jobs.rl.history.History`): the plays before ``W``'s cutoff,
the ``exposures`` and ``saves`` of the ``rl.history_weeks`` weeks before it, the ALS fits of those
weeks, ``taste_vectors``/``song_vectors`` where they exist, ``audio_attributes`` and
``audio_vectors`` of ``W``, and the catalog.

1. **Content model** (:mod:`jobs.rl.content_model`), when there are tracks with audio: one
   network with a listener embedding, trained on (listener, track) pairs first played before
   the holdout week ``W - 1``, judged per listener on the pairs first played in it (AUC by
   history length, beside each track's own liked rate), then refitted on every pair. Its score
   is a feature of the user model.
2. **User model** (:mod:`jobs.rl.user_model`): trained on the exposures and organic plays before
   ``W - 1``, judged on those of ``W - 1`` (log loss, AUC, calibration per response, beside the
   per-track rate), then refitted on all of them.

Writes ``models/listener_models/week=W/`` (``model.keras``, ``weights.npz``, ``network.json``,
``info.json``, and ``content_*`` files when the content model ran; one atomic swap) and
``run_metrics/week=W/listener_models.json``. The world model and the agent
(:mod:`jobs.ahdqn`) read the folder. Skips (exit 99) with fewer than ``MIN_ROWS`` labelled rows.

Run alone::

    python -m jobs.listener_models --week 2026-W47
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import numpy as np

from jobs.config import Config
from jobs.rl import content_model as cm
from jobs.rl import user_model as um
from jobs.rl.features import row_names
from jobs.rl.history import History, content_scorer, model_folder
from jobs.rl.responses import RESPONSES
from jobs.runtime.cli import skipped, week_job
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import shift
from schemas.columns import TRACK_ID, USER_ID

log = logging.getLogger("listener_models")
MIN_ROWS = 500  # labelled rows the user model needs
MIN_CONTENT_PAIRS = 200  # liked/disliked pairs with audio the content model needs


def train_content(hist: History, holdout: str) -> tuple[Any, cm.ContentNet | None, dict[str, Any]]:
    """The content model judged on ``holdout`` and refitted on every pair (``None`` and why when it cannot)."""
    rl = hist.rl
    labelled = cm.liked_labels(hist.content_pairs())
    if len(labelled) < MIN_CONTENT_PAIRS or labelled["liked"].nunique() < 2:
        return (
            None,
            None,
            {
                "skipped": f"{len(labelled)} liked or skipped pairs of tracks with audio, fewer than {MIN_CONTENT_PAIRS} or one class"
            },
        )
    t0 = time.perf_counter()
    args = (rl.content_embedding, rl.content_epochs, rl.batch_size, rl.learning_rate, rl.seed)
    train, test = labelled[labelled["week"] < holdout], labelled[labelled["week"] == holdout]
    out: dict[str, Any] = {"pairs": len(labelled), "liked_share": round(float(labelled["liked"].mean()), 4)}
    if len(train) >= MIN_CONTENT_PAIRS and train["liked"].nunique() == 2 and len(test):
        X_train, _ = hist.content_features(train[TRACK_ID].to_numpy())
        _, net, _ = cm.fit_content_model(train[USER_ID].to_numpy(), X_train, train["liked"].to_numpy(), *args)
        X_test, _ = hist.content_features(test[TRACK_ID].to_numpy())
        base = um.track_rate_baseline(
            train[TRACK_ID].to_numpy(), train[["liked"]].to_numpy(np.float64), test[TRACK_ID].to_numpy()
        )[:, 0]
        out["holdout"] = {
            "week": holdout,
            "train_pairs": len(train),
            "test_pairs": len(test),
            "reference": "each track's liked rate in the training pairs, shrunk towards the overall rate",
            **cm.per_listener_auc(test, net(test[USER_ID].to_numpy(), X_test), base, train.groupby(USER_ID).size()),
        }
    X_all, _ = hist.content_features(labelled[TRACK_ID].to_numpy())
    model, net, loss = cm.fit_content_model(labelled[USER_ID].to_numpy(), X_all, labelled["liked"].to_numpy(), *args)
    out.update(
        {"listeners": len(net.listeners), "loss_by_epoch": loss, "train_seconds": round(time.perf_counter() - t0, 1)}
    )
    return model, net, out


def train_user_model(hist: History, holdout: str) -> tuple[Any, um.DenseNet, dict[str, Any]]:
    """The user model judged on ``holdout`` (exposures and organic plays apart), then refitted on every row."""
    rl = hist.rl
    rows = hist.labelled_rows()
    names = row_names(hist.rank)
    X = hist.row_features(rows)
    Y = rows[list(RESPONSES)].to_numpy(np.float32)
    args = (tuple(rl.hidden), rl.epochs, rl.batch_size, rl.learning_rate, rl.seed, names)
    out: dict[str, Any] = {
        "rows": len(rows),
        "discover_weekly_rows": int((rows["dw"] == 1).sum()),
        "organic_rows": int((rows["dw"] == 0).sum()),
        "weeks": sorted(set(rows["week"])),
        "leaky_rows": hist.leaky_rows,
        "features": len(names),
        "response_rates": {r: round(float(rows[r].mean()), 4) for r in RESPONSES},
    }
    train = (rows["week"] < holdout).to_numpy()
    test = (rows["week"] == holdout).to_numpy()
    t0 = time.perf_counter()
    if train.sum() >= MIN_ROWS and test.any():
        _, net, _ = um.fit_user_model(X[train], Y[train], *args)
        evaluation: dict[str, Any] = {
            "week": holdout,
            "train_rows": int(train.sum()),
            "reference": "each track's own rate of the response in the training rows of the same surface, shrunk towards the overall rate",
        }
        for surface, flag in (("discover_weekly", 1.0), ("organic", 0.0)):
            te = test & (rows["dw"] == flag).to_numpy()
            if not te.any():
                continue
            tr = train & (rows["dw"] == flag).to_numpy()
            if not tr.any():  # e.g. no Discover Weekly answer before the holdout week: every training row's rate
                tr = train
                evaluation[f"{surface}_reference"] = "no training rows of this surface: rates over every training row"
            base = um.track_rate_baseline(rows.loc[tr, TRACK_ID].to_numpy(), Y[tr], rows.loc[te, TRACK_ID].to_numpy())
            evaluation[surface] = um.response_metrics(Y[te], net(X[te]), base)
        out["holdout"] = evaluation
    model, net, loss = um.fit_user_model(X, Y, *args)
    out.update({"loss_by_epoch": loss, "train_seconds": round(time.perf_counter() - t0, 1)})
    return model, net, out


def run(config: Config, week: str) -> dict[str, Any]:
    wh = Warehouse(config.paths.warehouse)
    folder = model_folder(config, week)
    hist = History(config, week)
    holdout = shift(week, -1)
    c_model, c_net, content = train_content(hist, holdout)
    if c_net is not None:
        hist.content = content_scorer(hist, c_net)
    n_rows = len(hist.exposure_rows()) + min(len(hist.plays), config.rl.max_play_rows)
    if n_rows < MIN_ROWS:
        return skipped(wh, week, f"{n_rows} labelled plays and exposures, fewer than {MIN_ROWS}", [folder])
    model, net, user = train_user_model(hist, holdout)
    info = {
        "week": week,
        "rank": hist.rank,
        "names": list(net.names),
        "holdout": holdout,
        "content_model": c_net is not None,
        "discover_weekly_rows": user["discover_weekly_rows"],
    }
    with wh.staged(folder) as stage:
        um.save(stage, model, net, info)
        if c_net is not None:
            c_model.save(stage / "content_model.keras")
            c_net.save(stage)
    return {"week": week, "user_model": user, "content_model": content, "model": str(folder)}


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "listener_models",
        "Train the per-listener content model and the user model on the weeks before the run week.",
        lambda config, week, _: run(config, week),
        argv,
        metrics="listener_models",
    )


if __name__ == "__main__":
    sys.exit(main())
