"""Audio attributes on real annotated recordings: held-out accuracy with 95% intervals, beside librosa's defaults.

Reads ``../shared/data/real-audio/`` (``truth.csv`` + ``clips/``; ``--data`` to point
elsewhere; absent: a skip with a message, not a failure) and writes nothing itself:
``bench.run`` stores the result under ``real_audio`` in docs/bench.json and renders
:func:`markdown` into docs/BENCHMARKS.md.

Every clip goes through the job's own code (``load_clip``, ``log_mel``, then
:func:`jobs.audio.attributes.clip_features` and :func:`~jobs.audio.attributes.decide`).
The estimators' parameters (tempo prior centre and width, key profile and chroma
compression, meter threshold) and the confidence calibrations are chosen by K-fold
cross-validation across clips (folds stratified by data set, seeded): on each fold's
training clips the grid point with the best accuracy is chosen (ties: the first in grid
order, so the code's defaults cannot leak into a fold) and the calibration
fitted, and the held-out clips are scored with them. The figures reported are the
held-out ones; the all-clips choice is what ships as the code's defaults (a mismatch is
flagged). Scoring: tempo Acc1 within 4%, Acc2 also at x2, x1/2, x3, x1/3; key exact and
the MIREX weighted score (``mir_eval``); meter on clips whose truth is 3 or 4 beats per
bar, beside always answering 4 (paired interval of the difference). Intervals: 95%
bootstrap over clips (``jobs.evaluation.stats``). Throughput: spectrogram + attributes of
each clip in this one process (clips/s per core).

Run alone::

    python -m studies.real_audio                      # prints the JSON result
    python -m bench.run --only real_audio           # into docs/bench.json and docs/BENCHMARKS.md (make bench-audio)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise, product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.audio import rhythm, tonality
from jobs.audio.attributes import CALIBRATION, Params, clip_features, decide
from jobs.config import PROJECT_ROOT
from jobs.evaluation.stats import bootstrap_mean, paired_difference

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "real-audio"
TEMPO_GRID = tuple(product((100.0, 110.0, 120.0, 130.0, 140.0), (0.5, 0.75, 1.0, 1.5)))
KEY_GRID = tuple(product(tuple(tonality.PROFILES), tonality.GAMMAS))
METER_GRID = (float("inf"), *np.round(np.arange(1.5, -0.51, -0.125), 3))  # on a tie the higher threshold (fewer 3s)
FOLDS = 5
SEED = 0


# ----------------------------------------------------------------------------- scoring


def acc1(est: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(est) / np.asarray(ref) - 1) <= 0.04


def acc2(est: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.any([acc1(est, np.asarray(ref) * f) for f in (1, 2, 0.5, 3, 1 / 3)], axis=0)


def mirex(ref: list[str], est: list[str]) -> np.ndarray:
    import mir_eval

    return np.array([mir_eval.key.weighted_score(r, e) for r, e in zip(ref, est)])


def key_krumhansl_baseline(y: np.ndarray, sr: int) -> str:
    """librosa's ``chroma_stft`` (defaults) averaged and matched to Krumhansl-Kessler profiles."""
    import librosa

    key, mode, _, _ = tonality.decide_key(librosa.feature.chroma_stft(y=y, sr=sr).mean(axis=1), "krumhansl")
    return f"{key} {mode}"


def one_clip(task: tuple[str, str]) -> dict[str, Any]:
    """The job's features of one clip, librosa's default answers, and the seconds the job's part took."""
    import librosa

    from jobs.audio.attributes import attributes
    from jobs.audio.spectrogram import Settings, load_clip, log_mel

    clip_id, path = task
    settings = Settings.from_conf()
    t0 = time.perf_counter()
    y = load_clip(Path(path), settings)
    mel = log_mel(y, settings)
    attributes(y, settings, mel)  # what the weekly job runs, timed
    seconds = time.perf_counter() - t0
    sr = settings.sample_rate
    return {
        "clip_id": clip_id,
        "features": clip_features(y, settings, mel, gammas=tonality.GAMMAS),
        "seconds": seconds,
        "librosa_tempo": float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0]),
        "librosa_beat_track": float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0]),
        "librosa_key": key_krumhansl_baseline(y, sr),
    }


# ----------------------------------------------------------------------------- cross-validation


def _params(tempo: tuple[float, float], key: tuple[str, float], threshold: float, cal: dict) -> Params:
    return Params(tempo[0], tempo[1], key[0], key[1], threshold, cal)


def _predict(feats: list[dict], idx: np.ndarray, p: Params) -> pd.DataFrame:
    return pd.DataFrame([decide(feats[i], p) for i in idx], index=idx)


def _fit_platt(margin: np.ndarray, right: np.ndarray, default: tuple[float, float]) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if len(set(right.tolist())) < 2:
        return default
    model = LogisticRegression(C=100.0).fit(margin.reshape(-1, 1), right.astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def choose(feats: list[dict], truth: pd.DataFrame, train: np.ndarray) -> Params:
    """The grid point with the best training accuracy for each estimator, and the calibrations fitted on train."""
    t = truth.iloc[train]
    tempo_i = train[t["tempo_bpm"].notna().to_numpy()]
    key_i = train[t["key"].notna().to_numpy()]
    meter_i = train[t["meter"].isin([3, 4]).to_numpy()]
    defaults = Params()

    def best(grid: tuple, score: Any, default: Any) -> Any:
        if not len(grid):
            return default
        scores = [score(g) for g in grid]
        return grid[scores.index(max(scores))]  # ties: the first in grid order, never the code's default

    ref_tempo = truth["tempo_bpm"].to_numpy()
    tempo_cache = {}

    def tempo_score(g: tuple[float, float]) -> float:
        est = np.array(
            [rhythm.decide_tempo(feats[i]["salience"], feats[i]["ac"], feats[i]["fps"], *g)[0] for i in tempo_i]
        )
        tempo_cache[g] = est
        return float(acc1(est, ref_tempo[tempo_i]).mean())

    tempo = (
        best(TEMPO_GRID, tempo_score, (defaults.tempo_prior_bpm, defaults.tempo_prior_octaves))
        if len(tempo_i)
        else None
    )
    tempo = tempo or (defaults.tempo_prior_bpm, defaults.tempo_prior_octaves)
    ref_key = truth["key"].to_numpy()

    def key_score(g: tuple[str, float]) -> float:
        est = [" ".join(tonality.decide_key(feats[i]["mean_chroma"][g[1]], g[0])[:2]) for i in key_i]
        return float(np.mean([e == r for e, r in zip(est, ref_key[key_i])]))

    key = best(KEY_GRID, key_score, (defaults.key_profile, defaults.chroma_gamma)) if len(key_i) else None
    key = key or (defaults.key_profile, defaults.chroma_gamma)
    base = _params(tempo, key, defaults.meter_threshold, dict(CALIBRATION))
    pred = _predict(feats, train, base)
    ref_meter = truth["meter"].to_numpy()
    cues = pred.loc[meter_i, "meter_cue"].to_numpy()

    def meter_score(th: float) -> float:
        return float(np.mean([rhythm.decide_meter(c, th)[0] == r for c, r in zip(cues, ref_meter[meter_i])]))

    threshold = best(METER_GRID, meter_score, defaults.meter_threshold) if len(meter_i) else defaults.meter_threshold
    pred = _predict(feats, train, _params(tempo, key, threshold, dict(CALIBRATION)))
    right = _right(pred, truth.loc[train])
    cal = {
        name: _fit_platt(pred.loc[ok.index, f"{name}_margin"].to_numpy(), ok.to_numpy(), CALIBRATION[name])
        for name, ok in right.items()
    }
    return _params(tempo, key, threshold, cal)


def _right(pred: pd.DataFrame, truth: pd.DataFrame) -> dict[str, pd.Series]:
    """Per attribute: a boolean Series (index = clips with that truth) of the prediction being right."""
    tempo = truth["tempo_bpm"].dropna()
    key = truth["key"].dropna()
    meter = truth["meter"][truth["meter"].isin([3, 4])]
    ref_mode = key.str.split().str[1]
    return {
        "tempo": pd.Series(acc1(pred.loc[tempo.index, "tempo_bpm"], tempo), index=tempo.index),
        "key": (pred.loc[key.index, "key"] + " " + pred.loc[key.index, "mode"]) == key,
        "mode": pred.loc[key.index, "mode"] == ref_mode,
        "time_signature": pred.loc[meter.index, "time_signature"] == meter,
    }


def cross_validate(feats: list[dict], truth: pd.DataFrame, folds: int = FOLDS) -> tuple[pd.DataFrame, list[dict]]:
    """Held-out predictions for every clip, and each fold's chosen parameters."""
    rng = np.random.default_rng(SEED)
    fold = np.zeros(len(truth), dtype=int)
    for _, group in truth.groupby("dataset"):
        order = rng.permutation(group.index.to_numpy())
        fold[order] = np.arange(len(order)) % folds
    held, chosen = [], []
    for k in range(folds):
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        p = choose(feats, truth, train)
        chosen.append(_describe(p))
        held.append(_predict(feats, test, p))
    return pd.concat(held).sort_index(), chosen


def _describe(p: Params) -> dict[str, Any]:
    return {
        "tempo_prior_bpm": p.tempo_prior_bpm,
        "tempo_prior_octaves": p.tempo_prior_octaves,
        "key_profile": p.key_profile,
        "chroma_gamma": p.chroma_gamma,
        "meter_threshold": p.meter_threshold,
        "calibration": {k: [round(a, 3), round(b, 3)] for k, (a, b) in p.calibration.items()},
    }


# ----------------------------------------------------------------------------- report


def _iv(values: Any) -> dict[str, Any]:
    return bootstrap_mean(np.asarray(values, dtype=float)).as_dict(4)


def reliability(
    conf: np.ndarray, right: np.ndarray, edges: tuple[float, ...] = (0, 0.2, 0.4, 0.6, 0.8, 1.0001)
) -> list:
    rows = []
    for lo, hi in pairwise(edges):
        inside = (conf >= lo) & (conf < hi)
        if inside.any():
            rows.append([f"{lo:.1f}-{min(hi, 1):.1f}", int(inside.sum()), round(float(conf[inside].mean()), 3),
                         round(float(right[inside].mean()), 3)])  # fmt: skip
    return rows


def score(pred: pd.DataFrame, extra: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """Every figure of the table, with intervals: the project's held-out answers beside librosa's."""
    out: dict[str, Any] = {}
    for ds, name in (("gtzan_classical", "gtzan"), ("giantsteps_aug", "giantsteps")):
        sel = truth.index[(truth["dataset"] == ds) & truth["tempo_bpm"].notna()]
        if len(sel) == 0:
            continue
        ref = truth.loc[sel, "tempo_bpm"].to_numpy()
        for who, est in (("project", pred.loc[sel, "tempo_bpm"]), ("librosa_tempo", extra.loc[sel, "librosa_tempo"]),
                         ("librosa_beat_track", extra.loc[sel, "librosa_beat_track"])):  # fmt: skip
            out[f"tempo_acc1_{name}_{who}"] = _iv(acc1(est.to_numpy(), ref))
            out[f"tempo_acc2_{name}_{who}"] = _iv(acc2(est.to_numpy(), ref))
    keyed = truth.index[truth["key"].notna()]
    if len(keyed):
        ref = truth.loc[keyed, "key"].tolist()
        est = (pred.loc[keyed, "key"] + " " + pred.loc[keyed, "mode"]).tolist()
        base = extra.loc[keyed, "librosa_key"].tolist()
        out["key_exact_project"] = _iv([e == r for e, r in zip(est, ref)])
        out["key_mirex_project"] = _iv(mirex(ref, est))
        out["key_exact_librosa_krumhansl"] = _iv([e == r for e, r in zip(base, ref)])
        out["key_mirex_librosa_krumhansl"] = _iv(mirex(ref, base))
    metered = truth.index[truth["meter"].isin([3, 4])]
    if len(metered):
        right = (pred.loc[metered, "time_signature"] == truth.loc[metered, "meter"]).to_numpy(dtype=float)
        always4 = (truth.loc[metered, "meter"] == 4).to_numpy(dtype=float)
        out["meter_project"] = _iv(right)
        out["meter_always_4"] = _iv(always4)
        out["meter_project_minus_always_4"] = paired_difference(right, always4).as_dict(4)
    rights = _right(pred, truth)
    out["reliability"] = {
        name: reliability(pred.loc[ok.index, f"{name}_confidence"].to_numpy(), ok.to_numpy(dtype=float))
        for name, ok in rights.items()
        if len(ok)
    }
    return out


def run(data: Path = DEFAULT_DATA, workers: int = 2, limit: int | None = None, folds: int = FOLDS) -> dict[str, Any]:
    """The whole benchmark; ``{"skipped": reason}`` when the data set is not there."""
    if not (data / "truth.csv").exists():
        msg = f"no real audio at {data} (truth.csv missing): section skipped"
        print(f">> bench: real_audio: {msg}", file=sys.stderr)
        return {"skipped": msg}
    truth = pd.read_csv(data / "truth.csv")
    truth = (truth.head(limit) if limit else truth).reset_index(drop=True)
    tasks = [(c, str(data / f)) for c, f in zip(truth["clip_id"], truth["file"])]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        rows = list(pool.map(one_clip, tasks))
    feats = [r["features"] for r in rows]
    extra = pd.DataFrame([{k: v for k, v in r.items() if k != "features"} for r in rows])
    held, per_fold = cross_validate(feats, truth, folds)
    shipped = choose(feats, truth, np.arange(len(truth)))
    in_sample = _predict(feats, np.arange(len(truth)), Params())
    result = {
        "data": str(data),
        "clips": len(truth),
        "by_dataset": truth["dataset"].value_counts().to_dict(),
        "folds": folds,
        "held_out": score(held, extra, truth),
        "code_defaults_in_sample": {k: v for k, v in score(in_sample, extra, truth).items() if k.endswith("project")},
        "chosen_per_fold": per_fold,
        "chosen_on_all_clips": _describe(shipped),
        "code_defaults": _describe(Params()),
        "clips_per_second_per_core": round(len(rows) / sum(r["seconds"] for r in rows), 2),
        "seconds": round(time.perf_counter() - t0, 1),
        "grids": {
            "tempo": [list(g) for g in TEMPO_GRID],
            "key": [list(g) for g in KEY_GRID],
            "meter_threshold": [float(x) for x in METER_GRID],
        },
    }
    chosen, code = result["chosen_on_all_clips"], result["code_defaults"]
    result["defaults_match_all_clips_choice"] = {k: chosen[k] == code[k] for k in chosen if k != "calibration"}
    return result


def _cell(r: dict[str, Any], key: str) -> str:
    v = r.get(key)
    return "-" if v is None else f"{v['mean']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"


def markdown(result: dict[str, Any]) -> list[str]:
    """The docs/BENCHMARKS.md section (lines)."""
    lines = ["## Audio attributes on real recordings (`studies/real_audio.py`)", ""]
    if result.get("skipped"):
        return [*lines, f"Skipped: {result['skipped']}.", ""]
    h = result["held_out"]
    lines += [
        f"{result['clips']} real annotated clips ({', '.join(f'{k}: {v}' for k, v in result['by_dataset'].items())}) "
        f"from `{result['data']}`. The project's figures are held out: {result['folds']}-fold cross-validation across "
        "clips, every parameter and calibration chosen on the training folds only. Mean [95% bootstrap interval].",
        "",
        "| measure | the project (held out) | librosa `feature.tempo` / chroma_stft + Krumhansl | librosa `beat_track` "
        "| always 4 |",
        "|---|---|---|---|---|",
    ]
    for name in ("gtzan", "giantsteps"):
        for acc in ("acc1", "acc2"):
            k = f"tempo_{acc}_{name}"
            lines.append(f"| tempo {acc.capitalize()}, {name} | {_cell(h, k + '_project')} | "
                         f"{_cell(h, k + '_librosa_tempo')} | {_cell(h, k + '_librosa_beat_track')} | - |")  # fmt: skip
    lines += [
        f"| key and mode exact | {_cell(h, 'key_exact_project')} | {_cell(h, 'key_exact_librosa_krumhansl')} | - | - |",
        f"| key MIREX weighted | {_cell(h, 'key_mirex_project')} | {_cell(h, 'key_mirex_librosa_krumhansl')} | - | - |",
        f"| meter (3 or 4) | {_cell(h, 'meter_project')} | - | - | {_cell(h, 'meter_always_4')} |",
        f"| meter minus always 4 (paired) | {_cell(h, 'meter_project_minus_always_4')} | - | - | - |",
        "",
        "Reliability of the held-out confidences (clips, mean confidence, share right):",
        "",
        "| attribute | " + " | ".join(["bin", "n", "conf.", "right"]) + " |",
        "|---|---|---|---|---|",
    ]
    for name, rows in h["reliability"].items():
        lines += [f"| {name} | {b} | {n} | {c:.2f} | {a:.2f} |" for b, n, c, a in rows]
    c = result["chosen_on_all_clips"]
    lines += [
        "",
        f"Chosen on all clips (the code's defaults): tempo prior {c['tempo_prior_bpm']:.0f} BPM, "
        f"{c['tempo_prior_octaves']} octaves; key profile `{c['key_profile']}`, chroma gamma {c['chroma_gamma']:.0f}; "
        f"meter threshold {c['meter_threshold']} (the code: {result['code_defaults']['meter_threshold']}, "
        "the same answers on these clips, see `rhythm.METER_THRESHOLD`). Per fold: "
        + "; ".join(
            f"{f['tempo_prior_bpm']:.0f}/{f['tempo_prior_octaves']}, {f['key_profile']}/{f['chroma_gamma']:.0f}, "
            f"{f['meter_threshold']}"
            for f in result["chosen_per_fold"]
        )
        + f". Spectrogram + attributes: {result['clips_per_second_per_core']} clips/s per core on these clips.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, help="first N clips only")
    args = parser.parse_args(argv)
    result = run(args.data, args.workers, args.limit)
    print(json.dumps(result, indent=2, default=float))
    print("\n".join(markdown(result)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
