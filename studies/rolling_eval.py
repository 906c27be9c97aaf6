"""Rolling evaluation on real, timestamped data: the weekly pipeline against four references, with intervals.

For each of the last ``--weeks`` (8) ISO weeks of a MovieLens folder (default
``../shared/data/ml-100k-odd``; imported once with ``python -m jobs.importers movielens`` into
a temporary data folder), the week's playlists are built ONLY from the plays before the
week, and scored against that week's first-time plays (titles the listener played that week
and never before). A listener-week counts when the listener played something before the week
and something for the first time in it; every system is scored on the same listener-weeks,
and a listener-week a system made no list for scores zero hits.

* **The pipeline** is the weekly jobs themselves (defaults; the audio and culture branches
  have no inputs on this data): ``--via jobs`` (default) runs ``python -m jobs.ingest / als /
  merge / validate --week W`` as the DAG would; ``--via airflow`` runs ``airflow dags test
  discover_weekly <Monday of W, 06:00 UTC>`` in a throw-away Airflow home. Settings the data
  needs go in the environment: ``DW__INGEST__SERVICE_START`` (``--service-start``, the data
  is from 1997) and any ``--set section.key=value``.
  With ``--ingest once`` (the default for ``jobs``) ingest runs one time, for the newest
  week: ingest keeps only plays before that week's cutoff and rebuilds each day from the raw
  rows of that day alone, and als, merge and validate read only plays before their own
  week's cutoff, so each week's tables are those a weekly ingest would give
  (``--ingest weekly`` runs ingest before every week, as the DAG does; on ml-100k-odd both
  gave bit-identical tables for 1998-W16 and W17). A DAG that runs no task for a logical
  date before its ``start_date`` publishes nothing: ``--via airflow`` then stops, saying so.
* **References** (:mod:`jobs.recsys.baselines`), from the same plays before the week: most
  popular (all history), most popular (last 4 weeks), ``implicit``'s ALS on the full history,
  item-kNN (cosine).

Metrics (:mod:`jobs.evaluation.systems`): precision@30, recall@30, NDCG@30 and mean percentile rank
(the pipeline's ranks: its published list first, then the blended scores the merge ranks
by), each a mean over listener-weeks with a 95% bootstrap interval resampling listeners
(a listener's weeks together), and paired intervals of pipeline minus each reference.

Writes ``--out`` (JSON, default ``docs/real-data.json``; every listener-week's scores in
``rows``) and the generated section ``--section`` (``rolling-eval``) of ``--md`` (default
``docs/real-data.md``). ``--conf FILE`` runs the jobs with ``DW_CONF=FILE`` (``make tune``'s
overlay); ``--before JSON`` adds an earlier run's pipeline on the same listener-weeks, paired
with this one (before and after tuning). Run::

    make eval-real [N=8] [VIA=jobs|airflow] [CONF=conf/tuned.yaml]
    python -m studies.rolling_eval --weeks 8 [--via airflow] [--keep /tmp/re] [--conf F --before J --section S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import PROJECT_ROOT, Config, load_config
from jobs.evaluation.systems import (
    Catalog,
    markdown_tables,
    metric_names,
    ranking_scorer,
    replace_section,
    score_system,
)
from jobs.evaluation.systems import summarise as summarise_rows
from jobs.evaluation.truth import week_truth
from jobs.recsys.baselines import references
from jobs.runtime.airflow_env import airflow_env
from jobs.runtime.runinfo import logical_date
from jobs.warehouse.weeks import cutoff, shift, week_of

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "ml-100k-odd"
K = 30
LABELS = {
    "pipeline": "the pipeline (ingest, als, merge, validate; defaults)",
    "most_popular": "most popular, all history",
    "most_popular_4w": "most popular, last 4 weeks",
    "implicit_als": "implicit ALS, full history (64 f, alpha 1, reg 0.1, 15 it)",
    "item_knn": "item-kNN, cosine (20 neighbours)",
}


class PipelineError(RuntimeError):
    """A pipeline step failed; the message has the end of its log."""


def read_plays(data: Path) -> pd.DataFrame:
    """The contract's raw plays (the importer's CSVs): user_id, track_id, played_at (UTC), ms_played."""
    files = sorted((data / "raw" / "plays").glob("*.csv"))
    plays = pd.concat([pd.read_csv(f, dtype={"user_id": str, "track_id": str}) for f in files], ignore_index=True)
    plays["played_at"] = pd.to_datetime(plays["played_at"], utc=True, format="ISO8601")
    return plays


def last_weeks(plays: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` ISO weeks ending with the week of the last play, oldest first."""
    last = week_of(plays["played_at"].max().to_pydatetime())
    return [shift(last, -i) for i in range(n - 1, -1, -1)]


# --- running the pipeline --------------------------------------------------------------------------


def _run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    t0 = time.perf_counter()
    with log.open("w") as fh:
        done = subprocess.run(cmd, env=env, cwd=PROJECT_ROOT, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise PipelineError(f"{' '.join(cmd)} failed (exit {done.returncode}); log {log}:\n{tail}")
    return time.perf_counter() - t0


def pipeline_env(
    work: Path, data: Path, service_start: str, sets: list[str], conf: Path | None = None
) -> dict[str, str]:
    extra = {"DW__INGEST__SERVICE_START": service_start, "DW__DAG__RETRIES": "0"}
    for item in sets:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if not name or not _:
            raise SystemExit(f"error: --set {item!r}: expected section.key=value")
        extra[f"DW__{section.upper()}__{name.upper()}"] = value
    env = airflow_env(work / "airflow", data, work / "warehouse", work / "checkpoints", extra)
    env.pop("DW_CONF", None)
    if conf is not None:  # a configuration file for every job (e.g. make tune's overlay)
        env["DW_CONF"] = str(conf.resolve())
    return env


def run_pipeline(weeks: list[str], via: str, ingest: str, env: dict[str, str], logs: Path) -> dict[str, dict]:
    """Build and publish every week, oldest first; seconds per step and week."""
    logs.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    times: dict[str, dict] = {w: {} for w in weeks}
    if via == "airflow":
        if ingest != "weekly":
            raise SystemExit(
                "error: --via airflow runs the whole DAG (ingest included) every week: use --ingest weekly"
            )
        times["_setup"] = {"airflow db migrate": _run(["airflow", "db", "migrate"], env, logs / "airflow-db.log")}
        warehouse = Path(env["DW_WAREHOUSE"])
        for w in weeks:
            cmd = ["airflow", "dags", "test", "discover_weekly", logical_date(w)]
            times[w]["dag"] = _run(cmd, env, logs / f"{w}-dag.log")
            if not (warehouse / "discover_weekly" / f"week={w}").is_dir():
                raise PipelineError(
                    f"{' '.join(cmd)} ended without publishing {w} (log {logs / f'{w}-dag.log'}): a DAG that runs "
                    "no task for a logical date before its start_date does this; use --via jobs"
                )
            print(f"  {w}: DAG run {times[w]['dag']:.0f} s", flush=True)
        return times
    if ingest == "once":
        times["_setup"] = {"ingest": _run([py, "-m", "jobs.ingest", "--week", weeks[-1]], env, logs / "ingest.log")}
        print(f"  ingest once (plays before {weeks[-1]}): {times['_setup']['ingest']:.0f} s", flush=True)
    for w in weeks:
        steps = (["ingest"] if ingest == "weekly" else []) + ["als", "merge", "validate"]
        for job in steps:
            times[w][job] = _run([py, "-m", f"jobs.{job}", "--week", w], env, logs / f"{w}-{job}.log")
        print(f"  {w}: " + ", ".join(f"{j} {s:.0f} s" for j, s in times[w].items()), flush=True)
    return times


# --- the pipeline's lists and ranks ----------------------------------------------------------------


def published(config: Config, week: str) -> pd.DataFrame:
    path = config.paths.warehouse / "discover_weekly" / f"week={week}"
    if not path.is_dir():
        raise PipelineError(f"{path}: the week was not published")
    return pd.read_parquet(path).astype({"user_id": str, "track_id": str})


def pipeline_scorer(config: Config, week: str, table: pd.DataFrame, catalog: Catalog) -> Any:
    """``user_id -> scores over the catalog``: the published list first (in order), then the blended
    scores the merge ranks by (listeners with a vector), or popularity (a ``fallback`` list);
    a listener without a playlist has no ranking (all tie)."""
    from jobs.recsys.inputs import prepare_inputs
    from jobs.recsys.scoring import blend_scores

    inputs = prepare_inputs(config, week)
    items = inputs.items
    cols = catalog.index(items.track_ids)
    vectors = inputs.users.set_index("user_id")["vector"]
    lists = table.sort_values(["user_id", "position"]).groupby("user_id")["track_id"].agg(list).to_dict()
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)

    def scorer(uid: str) -> np.ndarray:
        out = np.full(len(catalog), -np.inf)
        heard = inputs.heard_by_user.get(uid, empty_i)
        if uid in vectors.index:
            score, _ = blend_scores(
                np.asarray(vectors[uid], dtype=np.float32),
                heard,
                inputs.top_artists.get(uid, empty_i),
                inputs.shares.get(uid, empty_f),
                items,
                config.merge,
            )
            out[cols] = score + 1e-9 * items.popularity  # popularity breaks ties, as jobs.evaluate does
        elif uid in lists:
            pop = items.popularity.astype(np.float64).copy()
            pop[heard] = -np.inf
            out[cols] = pop
        listed = catalog.index(lists.get(uid, []))
        if len(listed):
            top = out[np.isfinite(out)].max(initial=0.0)
            out[listed] = top + 1.0 + np.arange(len(listed), 0, -1)
        return out

    return scorer, lists


# --- the evaluation --------------------------------------------------------------------------------


def evaluate_week(
    plays: pd.DataFrame, week: str, config: Config, catalog: Catalog
) -> tuple[list[dict], dict[str, Any], set[str]]:
    """Every system's rows for the week's listener-weeks, the week's counts, and the listener-weeks
    the pipeline made a playlist for."""
    t0 = time.perf_counter()
    before, heard, truth = week_truth(plays, week, config.als.min_ms_played)
    listeners = sorted(truth)
    rows: list[dict] = []
    table = published(config, week)
    scorer, lists = pipeline_scorer(config, week, table, catalog)
    unit = f"{week}/"
    rows += score_system("pipeline", lists, scorer, truth, heard, catalog, K, unit)
    for name, ranking in references(before, cutoff(week), listeners).items():
        rows += score_system(name, ranking.top_k(K), ranking_scorer(ranking, catalog), truth, heard, catalog, K, unit)
    frame = pd.DataFrame(rows)
    means = frame.groupby("system")[f"precision@{K}"].mean()
    window_start = pd.Timestamp(cutoff(week) - dt.timedelta(weeks=config.als.window_weeks))
    active = set(before.loc[before["played_at"] >= window_start, "user_id"])
    info = {
        "week": week,
        "listener_weeks": len(listeners),
        "with_pipeline_playlist": sum(u in lists for u in listeners),
        "without_playlist_inactive": sum(u not in lists and u not in active for u in listeners),
        "truth_pairs": sum(len(t) for t in truth.values()),
        "playlists_published": len(lists),
        "pipeline_sources": table["source"].value_counts().sort_index().to_dict(),
        "merge_notes": merge_notes(config, week),
        f"precision@{K}": {s: round(float(v), 4) for s, v in means.items()},
        "score_seconds": round(time.perf_counter() - t0, 1),
    }
    return rows, info, {f"{unit}{u}" for u in listeners if u in lists}


def merge_notes(config: Config, week: str) -> list[str]:
    """What the merge said it ran without (its ``notes`` in ``run_metrics/week=W/merge.json``)."""
    path = config.paths.warehouse / "run_metrics" / f"week={week}" / "merge.json"
    return json.loads(path.read_text()).get("notes", []) if path.is_file() else []


def check_same_plays(plays: pd.DataFrame, config: Config, weeks: list[str]) -> list[str]:
    """The pipeline and the references saw the same plays: ingest's count before each ingested cutoff."""
    notes = []
    for w in weeks:
        path = config.paths.warehouse / "run_metrics" / f"week={w}" / "ingest.json"
        if path.is_file():
            written = json.loads(path.read_text())["plays_written"]
            raw = int((plays["played_at"] < pd.Timestamp(cutoff(w))).sum())
            if written != raw:
                raise PipelineError(f"{w}: ingest kept {written} plays, the raw files have {raw} before the cutoff")
            notes.append(f"{w}: ingest kept all {written} plays before the cutoff")
    return notes


def provenance(data: Path, plays: pd.DataFrame) -> str:
    first, last = plays["played_at"].min(), plays["played_at"].max()
    what = (
        "MovieLens 100k (GroupLens; F. M. Harper and J. A. Konstan, ACM TiiS 5(4), 2015), the users with odd ids"
        if data.resolve() == DEFAULT_DATA.resolve()
        else f"MovieLens-format folder {data.name}"
    )
    return (
        f"{what}: {plays['user_id'].nunique()} listeners, {len(plays)} ratings, {plays['track_id'].nunique()} "
        f"titles, {first:%Y-%m-%d} to {last:%Y-%m-%d}; a rating is read as one play"
    )


def render(result: dict[str, Any]) -> str:
    metrics = metric_names(K)
    s, served = result["summary"], result["served_only"]
    inactive = sum(w["without_playlist_inactive"] for w in result["per_week"])
    lines = [
        f"Data: {result['provenance']}.",
        "",
        f"Command: `{result['command']}` ({result['via']}, ingest {result['ingest']}); "
        f"wall time {result['wall_seconds']['total'] / 60:.1f} min on {result['machine']}.",
        "",
        f"Weeks {result['weeks'][0]} to {result['weeks'][-1]}: {s['units']} listener-weeks of "
        f"{s['listeners']} listeners, {result['truth_pairs']} first-time plays. "
        "Mean over listener-weeks [95% bootstrap interval, listeners resampled, "
        f"{result['resamples']} resamples]:",
        "",
        markdown_tables(s, metrics, result["labels"]),
        "",
        f"Only the {served['units']} listener-weeks the pipeline made a playlist for "
        f"({served['listeners']} listeners; of the {s['units'] - served['units']} others, {inactive} had played "
        f"nothing in the {result.get('window_weeks', 8)} weeks before the week, the window the pipeline serves):",
        "",
        markdown_tables(served, metrics, result["labels"]),
        "",
        "| week | listener-weeks | with a pipeline playlist | first-time plays | "
        + " | ".join(f"p@30 {n}" for n in LABELS)
        + " |",
        "|---" * (4 + len(LABELS)) + "|",
    ]
    for w in result["per_week"]:
        p = w[f"precision@{K}"]
        lines.append(
            f"| {w['week']} | {w['listener_weeks']} | {w['with_pipeline_playlist']} | {w['truth_pairs']} | "
            + " | ".join(f"{p[n]:.3f}" for n in LABELS)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MovieLens folder (u.data + u.item)")
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--via", choices=("jobs", "airflow"), default="jobs")
    parser.add_argument("--ingest", choices=("once", "weekly"), help="default: once (jobs), weekly (airflow)")
    parser.add_argument("--service-start", default="1997-09-01", help="DW__INGEST__SERVICE_START")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="a setting for the jobs"
    )
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "real-data.json")
    parser.add_argument("--md", type=Path, default=PROJECT_ROOT / "docs" / "real-data.md")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--conf", type=Path, help="configuration file for the jobs (DW_CONF), e.g. make tune's")
    parser.add_argument("--before", type=Path, help="an earlier run's JSON: its pipeline rows join as pipeline_before")
    parser.add_argument("--section", default="rolling-eval", help="the generated section of --md to write")
    args = parser.parse_args(argv)
    ingest = args.ingest or ("weekly" if args.via == "airflow" else "once")
    if not (args.data / "u.data").is_file() and not (args.data / "ratings.csv").is_file():
        raise SystemExit(f"error: {args.data} has no MovieLens u.data or ratings.csv; pass --data")

    t0 = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rolling-eval-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = work / "data"
        env = pipeline_env(work, data, args.service_start, args.set, args.conf)
        t = time.perf_counter()
        _run([sys.executable, "-m", "jobs.importers", "movielens", str(args.data), str(data)], env, work / "import.log")
        import_s = time.perf_counter() - t
        plays = read_plays(data)
        weeks = last_weeks(plays, args.weeks)
        print(f">> {len(plays)} plays imported in {import_s:.1f} s; weeks {weeks[0]}..{weeks[-1]} via {args.via}")
        t = time.perf_counter()
        times = run_pipeline(weeks, args.via, ingest, env, work / "logs")
        pipeline_s = time.perf_counter() - t
        config = load_config(environ=env)
        checks = check_same_plays(plays, config, weeks)
        catalog = Catalog(pd.read_csv(data / "catalog" / "tracks.csv", dtype={"track_id": str})["track_id"])
        t = time.perf_counter()
        logging.getLogger("merge").setLevel(logging.ERROR)  # its notes on the missing branches: kept per week
        rows, per_week, served_units = [], [], set()
        for w in weeks:
            r, info, served_w = evaluate_week(plays, w, config, catalog)
            rows += r
            per_week.append(info)
            served_units |= served_w
        frame = pd.DataFrame(rows)
        eval_s = time.perf_counter() - t
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    metrics, paired = metric_names(K), [f"precision@{K}", f"recall@{K}"]
    own, labels = frame, dict(LABELS)
    if args.conf:
        labels["pipeline"] = f"the pipeline (ingest, als, merge, validate; DW_CONF={args.conf})"
    if args.before:  # the earlier run's pipeline, scored on the same listener-weeks: paired with this one
        before = json.loads(args.before.read_text())
        if before["weeks"] != weeks or "rows" not in before:
            raise SystemExit(f"error: {args.before}: weeks {before['weeks']} (this run {weeks}) or no rows kept")
        rows_b = pd.DataFrame(before["rows"]).query("system == 'pipeline'").assign(system="pipeline_before")
        labels["pipeline_before"] = f"the pipeline, {before.get('conf') or 'defaults'} ({args.before.name})"
        frame = pd.concat([frame[frame["system"] == "pipeline"], rows_b, frame[frame["system"] != "pipeline"]])
    summary = summarise_rows(frame, metrics, paired, "pipeline", args.resamples, args.seed)
    served = frame[frame["unit"].isin(served_units)]
    result = {
        "data": str(args.data.name),
        "provenance": provenance(args.data, plays),
        "command": f"make eval-real N={args.weeks}"
        + (f" VIA={args.via}" if args.via != "jobs" else "")
        + (f" CONF={args.conf}" if args.conf else ""),
        "conf": str(args.conf) if args.conf else None,
        "labels": labels,
        "window_weeks": config.als.window_weeks,
        "via": args.via,
        "ingest": ingest,
        "weeks": weeks,
        "k": K,
        "resamples": args.resamples,
        "seed": args.seed,
        "settings": {"DW__INGEST__SERVICE_START": args.service_start, **dict(s.split("=", 1) for s in args.set)},
        "plays": len(plays),
        "truth_pairs": sum(w["truth_pairs"] for w in per_week),
        "summary": summary,
        "served_only": summarise_rows(served, metrics, paired, "pipeline", args.resamples, args.seed),
        "per_week": per_week,
        "checks": checks,
        "seconds": {w: {j: round(s, 1) for j, s in v.items()} for w, v in times.items()},
        "wall_seconds": {
            "import": round(import_s, 1),
            "pipeline": round(pipeline_s, 1),
            "evaluation": round(eval_s, 1),
            "total": round(time.perf_counter() - t0, 1),
        },
        "machine": f"{os.cpu_count()} cores, {platform.system()}",
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "rows": own.round(6).to_dict("records"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    replace_section(args.md, args.section, render(result))
    print(markdown_tables(summary, metrics, labels))
    print(f">> wall time {result['wall_seconds']}; wrote {args.out} and {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
