"""Tune: choose the ALS and blend settings for a data set on the weeks before the ones you will publish.

Reads the warehouse's ``plays`` (validated by the ingest job; ``make tune`` runs ingest for
``--week`` first) and the catalog of ``paths.data``, **only plays before ``--week``'s
cutoff**: ``--week`` is the first week the result will be used for (published or scored).
The validation weeks are the ``--val-weeks`` (6) ISO weeks just before it.

Each candidate setting is scored on a validation week ``V`` as the weekly jobs would build
``V`` (:mod:`jobs.tools.tune_eval`: the ALS job's window counts and fit, the merge's inputs,
playlists and ``fallback`` lists, the same functions) and as ``make eval-real`` scores it:
listener-weeks with history before ``V`` and a first-time play in ``V``, zero hits without a
playlist. The objective is the mean precision@30 over the listener-weeks of the weeks used
(recall@30 breaks ties; a tie beyond that keeps the earlier candidate, the base settings
first). One process, one SparkSession, nothing written but the overlay.

Searched (:data:`FIT_SPACE`, :data:`BLEND_SPACE`): ``als.rank`` 16/32/64, ``als.reg_param``
0.01/0.1/1, ``als.alpha`` 1/8/40, ``als.window_weeks`` 8/16/52 (the window is also who is
owed a playlist), ``als.decay_half_life_days`` 0/28, and for every fit the blend
``merge.w_popularity`` 0/0.25/0.5/1/2 (a popularity prior) times ``merge.popularity_days`` 0/7/28
(the days of plays it counts; 0 = the window's) times ``merge.min_plays`` 1/3. The
audio and culture weights are left alone: the tune has no audio or web pages to fit them on.

Search (:func:`search`), seeded (``--seed``): first round on the ``--first-weeks`` (2) latest
validation weeks: the base fit, every one-key change of it (9), the combination of each
key's best value there, and ``--candidates`` (2) fits drawn at random from the grid, each
with all 30 blends (a fit scores as its best blend); second round on all validation weeks:
the best quarter of those fits and the base; the best candidate there wins. ``--md FILE``
writes the chosen settings and the second round's fits (each with the default blend and its
best one: a diagnosis of what helped) as the section ``tune`` of FILE; ``--render JSON`` only
rewrites that section from an earlier run's report. Measured on MovieLens 100k (odd users),
``--week 1998-W10``: 46 fit-and-score calls (30 blends each) in 4.1 min on 2 cores at load
average 3 (with 10 blends a fit, at load average 14 to 23, it took 17.3 min).

Writes ``--out`` (default ``<warehouse>/tuned/settings.yaml``, which every later job on that
warehouse reads under the configuration file: see :mod:`jobs.config`): the base configuration file's content
(``--conf``, ``$DW_CONF`` or ``conf/pipeline.yaml``) with the chosen keys set, and a header
saying what was searched, on which weeks, the validation scores of the base and the chosen
settings and the run time; and ``--out`` with ``.json`` for ``.yaml``: every second-round candidate's
scores. Another ``--out`` is used with ``DW_CONF=<out>`` (it replaces ``conf/pipeline.yaml``,
whose overrides it carries). The ``discover_weekly_tune`` DAG runs it monthly::

    make tune DATA=path WEEK=YYYY-Www          # then make run DATA=path uses it, and says so
    python -m jobs.tools.tune --week 1998-W10 --out conf/tuned-ml-100k-odd.yaml   # plays already ingested
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from jobs.config import DEFAULT_CONF, Config, ConfigError, load_config, tuned_settings_file
from jobs.tools.tune_eval import Setting
from jobs.warehouse.weeks import cutoff, parse_week, shift
from schemas.columns import MS_PLAYED, PLAYED_AT, TRACK_ID, USER_ID

FIT_SPACE: dict[str, tuple[Any, ...]] = {
    "als.rank": (16, 32, 64),
    "als.reg_param": (0.01, 0.1, 1.0),
    "als.alpha": (1.0, 8.0, 40.0),
    "als.window_weeks": (8, 16, 52),
    "als.decay_half_life_days": (0.0, 28.0),
}
BLEND_SPACE: dict[str, tuple[Any, ...]] = {
    "merge.w_popularity": (0.0, 0.25, 0.5, 1.0, 2.0),
    "merge.popularity_days": (0, 7, 28),
    "merge.min_plays": (1, 3),
}
# evaluate(fit setting, blend settings, week) -> per blend, (listener-weeks, 2) precision and recall
Evaluate = Callable[[Setting, Sequence[Setting], str], list[np.ndarray]]


def validation_weeks(week: str, n: int) -> list[str]:
    """The ``n`` ISO weeks just before ``week``, oldest first (never ``week`` or a later one)."""
    parse_week(week)
    return [shift(week, -i) for i in range(n, 0, -1)]


def base_setting(config: Config, space: Mapping[str, Sequence[Any]]) -> Setting:
    """The configuration's own value of every searched key."""
    return {key: getattr(getattr(config, key.split(".")[0]), key.split(".")[1]) for key in space}


def grid(space: Mapping[str, Sequence[Any]]) -> list[Setting]:
    """Every combination of ``space``'s values, in a fixed order."""
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]


def draw(space: Mapping[str, Sequence[Any]], base: Setting, n: int, seed: int) -> list[Setting]:
    """``n`` distinct settings of the grid other than ``base``, drawn at random (seeded)."""
    others = [s for s in grid(space) if s != base]
    return random.Random(seed).sample(others, min(n, len(others)))


@dataclass
class Candidate:
    """A fit and blend setting with its scores so far: ``scores[week]`` is ``(listener-weeks, 2)``."""

    fit: Setting
    blend: Setting
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    def setting(self) -> Setting:
        return {**self.fit, **self.blend}

    def means(self, weeks: Sequence[str]) -> tuple[float, float, int]:
        """Mean precision and recall over the listener-weeks of ``weeks``, and how many there were."""
        rows = np.concatenate([self.scores[w] for w in weeks]) if weeks else np.zeros((0, 2))
        if not len(rows):
            return 0.0, 0.0, 0
        return float(rows[:, 0].mean()), float(rows[:, 1].mean()), len(rows)


def best_first(cands: Sequence[Candidate], weeks: Sequence[str]) -> list[Candidate]:
    """By mean precision, then mean recall, both descending; ties keep the given order (stable)."""
    return sorted(cands, key=lambda c: tuple(-m for m in c.means(weeks)[:2]))


@dataclass
class Result:
    best: Candidate
    base: Candidate
    weeks: list[str]
    first_weeks: list[str]
    fits: int
    ranked: list[Candidate]  # the second round's candidates, best first
    tried: list[Candidate]  # every candidate, with the weeks it was scored on


def one_factor(space: Mapping[str, Sequence[Any]], base: Setting) -> list[Setting]:
    """``base`` with one key changed to each of its other values, key by key."""
    return [{**base, key: v} for key in space for v in space[key] if v != base[key]]


def search(
    evaluate: Evaluate,
    base: Setting,
    space: Mapping[str, Sequence[Any]],
    blends: Sequence[Setting],
    weeks: Sequence[str],
    random_fits: Sequence[Setting] = (),
    first_weeks: int = 2,
    keep: float = 1 / 4,
) -> Result:
    """Choose a fit and blend setting by their mean precision (then recall) on ``weeks``.

    First round, on the latest ``first_weeks`` of ``weeks``: the ``base`` fit, each one-key
    change of it (:func:`one_factor`), the combination of each key's best value in those, and
    ``random_fits``; each fit with every one of ``blends`` (a fit scores as its best blend).
    Second round: the best ``keep`` share of the fits, and the base, on all ``weeks``; the
    best candidate there wins. ``blends[0]`` is the base blend; the base fit with it wins
    every tie. ``evaluate`` is called once per fit and week and sees no other week.
    """
    weeks = list(weeks)
    early = weeks[-first_weeks:] if 0 < first_weeks < len(weeks) else weeks
    fits: list[Setting] = []
    by_fit: list[list[Candidate]] = []
    calls = 0

    def run_fit(fit: Setting, on: Sequence[str]) -> None:
        nonlocal calls
        if fit not in fits:
            fits.append(dict(fit))
            by_fit.append([Candidate(dict(fit), dict(b)) for b in blends])
        cands = by_fit[fits.index(fit)]
        for w in on:
            if w not in cands[0].scores:
                for c, s in zip(cands, evaluate(fit, blends, w), strict=True):
                    c.scores[w] = s
                calls += 1

    def fit_score(i: int, on: Sequence[str]) -> tuple[float, ...]:
        return best_first(by_fit[i], on)[0].means(on)[:2]

    for fit in [base, *one_factor(space, base)]:
        run_fit(fit, early)
    combined = {}
    for key in space:
        tried = [i for i, f in enumerate(fits) if all(f[k] == base[k] for k in space if k != key)]
        combined[key] = fits[max(tried, key=lambda i: (fit_score(i, early), -i))][key]
    for fit in [combined, *random_fits]:
        run_fit(fit, early)
    order = sorted(range(len(fits)), key=lambda i: tuple(-m for m in fit_score(i, early)))
    survivors = sorted(set(order[: max(1, int(np.ceil(keep * len(fits))))]) | {0})
    for i in survivors:
        run_fit(fits[i], weeks)
    ranked = best_first([c for i in survivors for c in by_fit[i]], weeks)
    return Result(ranked[0], by_fit[0][0], weeks, early, calls, ranked, [c for cs in by_fit for c in cs])


# --- the overlay ---------------------------------------------------------------------------------


def overlay(base_raw: Mapping[str, Any], chosen: Setting) -> dict[str, Any]:
    """The base configuration file's mapping with the ``section.key`` values of ``chosen`` set."""
    out = {s: dict(v) if isinstance(v, Mapping) else v for s, v in (base_raw or {}).items()}
    for key, value in chosen.items():
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = value
    return out


def changed_keys(before: Config, after: Config) -> set[str]:
    """``section.key`` of every setting that differs between two configurations."""
    a, b = before.model_dump(), after.model_dump()
    return {f"{s}.{k}" for s in a for k in a[s] if a[s][k] != b[s][k]}


def header(result: Result, seconds: float, week: str, data: str) -> str:
    b, c = result.base.means(result.weeks), result.best.means(result.weeks)
    lines = [
        f"Written by `python -m jobs.tools.tune --week {week}` (make tune) on {data}: use with DW_CONF=<this file>.",
        f"Validation weeks (plays before {week} only): {result.weeks[0]} to {result.weeks[-1]}, "
        f"{c[2]} listener-weeks; first round on {', '.join(result.first_weeks)}.",
        "Searched: " + "; ".join(f"{k} {'/'.join(map(str, v))}" for k, v in {**FIT_SPACE, **BLEND_SPACE}.items()),
        f"{result.fits} fits in {seconds:.0f} s ({os.cpu_count()} cores). Mean over the validation listener-weeks:",
        f"  base settings: precision@30 {b[0]:.4f}, recall@30 {b[1]:.4f}",
        f"  chosen:        precision@30 {c[0]:.4f}, recall@30 {c[1]:.4f}",
        "Chosen on these weeks, not held out: judge it on later weeks (make eval-real with DW_CONF).",
    ]
    return "".join(f"# {line}\n" for line in lines)


def write_overlay(path: Path, base_path: Path, chosen: Setting, text_header: str = "") -> dict[str, Any]:
    """Write the overlay of ``chosen`` on the configuration file ``base_path`` (header + YAML) atomically,
    after checking that it loads and differs from the base in exactly the chosen keys that change."""
    base_raw = yaml.safe_load(base_path.read_text(encoding="utf-8")) or {}
    raw = overlay(base_raw, chosen)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text_header + yaml.safe_dump(raw, sort_keys=True), encoding="utf-8")
    try:
        alone = {"DW__TUNE__APPLY": "false"}  # the files alone, without a tuned overlay underneath
        before, after = load_config(base_path, environ=alone), load_config(tmp, environ=alone)
        expected = {k for k, v in chosen.items() if base_setting(before, {k: ()})[k] != v}
        if changed_keys(before, after) != expected:
            raise ConfigError(
                f"{path}: the overlay changes {sorted(changed_keys(before, after))}, not {sorted(expected)}"
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return raw


# --- the command ---------------------------------------------------------------------------------


def run(spark: Any, config: Config, week: str, args: argparse.Namespace) -> tuple[Result, Any]:
    """Read the plays before ``week``, search, and return the result and the evaluator."""

    from jobs.tools.tune_eval import WeekEvaluator
    from jobs.warehouse.catalog import read_catalog
    from jobs.warehouse.store import Warehouse

    wh = Warehouse(config.paths.warehouse)
    cut = cutoff(week)
    plays = wh.plays_before(cut, columns=(USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED))
    plays_sdf = wh.spark_plays_before(spark, cut).cache()
    tracks, artists = read_catalog(config.paths.data)
    spark.sparkContext.setCheckpointDir(str(config.paths.checkpoints / "tune" / week))
    evaluator = WeekEvaluator(config, plays, plays_sdf, tracks, artists)
    base = base_setting(config, FIT_SPACE)
    blend_base = base_setting(config, BLEND_SPACE)
    blends = [blend_base] + [b for b in grid(BLEND_SPACE) if b != blend_base]
    weeks = validation_weeks(week, args.val_weeks)
    t0 = time.perf_counter()

    def logged(fit: Setting, bl: Sequence[Setting], w: str) -> list[np.ndarray]:
        out = evaluator(fit, bl, w)
        best = max(out, key=lambda s: s[:, 0].mean() if len(s) else 0.0)
        print(
            f"  {w} {fit}: best blend p@30 {best[:, 0].mean() if len(best) else 0:.4f} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        return out

    randoms = draw(FIT_SPACE, base, args.candidates, args.seed)
    result = search(logged, base, FIT_SPACE, blends, weeks, randoms, args.first_weeks)
    plays_sdf.unpersist()
    return result, evaluator


def render(report: Mapping[str, Any]) -> str:
    """The report as markdown (the ``tune`` section of ``--md``): what was chosen, and why, in selection scores."""
    fit_keys, base = list(FIT_SPACE), report["base"]
    fmt = "{:.4f} / {:.4f}".format
    second = report["candidates"]
    lines = [
        f"Command: `{report.get('command', 'python -m jobs.tools.tune --week ' + report['week'])}`; "
        f"validation weeks {report['weeks'][0]} to {report['weeks'][-1]} (plays before {report['week']} only, "
        f"{second[0]['listener_weeks']} listener-weeks), {report['fits']} fit-and-score calls in "
        f"{report['seconds'] / 60:.1f} min on {report.get('machine', '2 cores')}. Selection scores: mean "
        "precision@30 / recall@30 over the validation listener-weeks, no intervals (they only choose; "
        "the claims are the held-out weeks).",
        "",
        "| setting | default | chosen |",
        "|---|---|---|",
        *[f"| `{k}` | {base[k]} | {report['chosen'][k]} |" for k in base],
        "",
        "Second round (all validation weeks): each fit that reached it, with the default blend and with its best one:",
        "",
        "| fit: changed from the defaults | default blend | best blend | its "
        + ", ".join(k.split(".")[1] for k in BLEND_SPACE)
        + " |",
        "|---|---|---|---|",
    ]
    fits: dict[str, list[dict]] = {}
    for row in second:
        changed = {k: row["setting"][k] for k in fit_keys if row["setting"][k] != base[k]}
        fits.setdefault(str(changed or "none (defaults)"), []).append(row)
    blend_keys = [k for k in base if k not in fit_keys]  # BLEND_SPACE's, in its order
    for name, rows in fits.items():
        plain = next(r for r in rows if all(r["setting"][k] == base[k] for k in blend_keys))
        best = rows[0]  # candidates are best first
        blend = ", ".join(str(best["setting"][k]) for k in blend_keys)
        lines.append(f"| {name} | {fmt(*_pr(plain))} | {fmt(*_pr(best))} | {blend} |")
    return "\n".join(lines)


def _pr(row: Mapping[str, Any]) -> tuple[float, float]:
    return row["precision@30"], row["recall@30"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.tools.tune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", required=True, help="the first week the settings are for; tuned on the weeks before")
    parser.add_argument("--conf", help="base configuration file (default $DW_CONF or conf/pipeline.yaml)")
    parser.add_argument(
        "--out", type=Path, help="where to write the settings (default: the warehouse's tuned/settings.yaml)"
    )
    parser.add_argument("--val-weeks", type=int, default=6, help="validation weeks before --week")
    parser.add_argument("--first-weeks", type=int, default=2, help="latest validation weeks of the first round")
    parser.add_argument("--candidates", type=int, default=2, help="fits drawn at random from the grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--md", type=Path, help="also write the report as the section 'tune' of this markdown file")
    parser.add_argument("--render", type=Path, help="only re-render --md from an earlier run's JSON report")
    args = parser.parse_args(argv)
    if args.render:
        from jobs.evaluation.systems import replace_section

        replace_section(args.md, "tune", render(json.loads(args.render.read_text())))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        parse_week(args.week)
    except ValueError as exc:
        parser.error(str(exc))
    base_path = Path(args.conf or os.environ.get("DW_CONF") or DEFAULT_CONF)
    try:
        config = load_config(base_path, environ={**os.environ, "DW__TUNE__APPLY": "false"})  # from the base
        args.out = args.out or tuned_settings_file(config.paths.warehouse)
        from jobs.runtime.cli import with_spark

        t0 = time.perf_counter()
        result, _ = with_spark(config, f"tune-{args.week}", lambda spark: run(spark, config, args.week, args))
        seconds = time.perf_counter() - t0
        chosen = result.best.setting()
        text = header(result, seconds, args.week, str(config.paths.data))
        write_overlay(args.out, base_path, chosen, text)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {
        "command": f"python -m jobs.tools.tune --week {args.week} --out {args.out}",
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.0f} at the end",
        "week": args.week,
        "weeks": result.weeks,
        "first_weeks": result.first_weeks,
        "seconds": round(seconds, 1),
        "fits": result.fits,
        "seed": args.seed,
        "space": {**FIT_SPACE, **BLEND_SPACE},
        "chosen": chosen,
        "base": result.base.setting(),
        "candidates": [
            {
                "setting": c.setting(),
                **dict(zip(("precision@30", "recall@30", "listener_weeks"), c.means(result.weeks))),
            }
            for c in result.ranked
        ],
    }
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    if args.md:
        from jobs.evaluation.systems import replace_section

        replace_section(args.md, "tune", render(report))
    print(text, end="")
    print(f">> wrote {args.out} (and {args.out.with_suffix('.json').name}); use it with DW_CONF={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
