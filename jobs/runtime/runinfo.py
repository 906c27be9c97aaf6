"""Small command-line helpers the Makefile uses around a DAG run.

python -m jobs.runtime.runinfo publish-week        # the sample world's week to publish
python -m jobs.runtime.runinfo logical-date WEEK   # Monday 06:00 UTC of WEEK (within Airflow's range) for `dags test`
python -m jobs.runtime.runinfo summary WEEK        # where the table is, counts, ALS metrics, skipped and reused steps
python -m jobs.runtime.runinfo failed LOG          # the failed tasks of a `dags test` log (or its task logs), with their own output
python -m jobs.runtime.runinfo parallelism        # how make run runs the tasks (dag.parallelism)
python -m jobs.runtime.runinfo run-id LOG          # the DAG run's id, read from a `dags test` log
airflow tasks states-for-dag-run discover_weekly RUN_ID -o json | python -m jobs.runtime.runinfo states
                                                 # one line: Airflow's task states, the skipped tasks named
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from jobs.config import load_config
from jobs.runtime.cli import one_line_errors
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import shift, week_start


def publish_week(data: Path) -> str:
    manifest = data / "world.json"
    if not manifest.exists():
        raise SystemExit(f"error: {manifest} not found; say which week to build with WEEK=YYYY-Www")
    return json.loads(manifest.read_text())["publish_week"]


def logical_date(week: str, start: str = "1970-01-05", now: dt.datetime | None = None) -> str:
    """Monday 06:00 UTC of ``week``, moved into the range Airflow runs tasks for.

    Airflow runs no task of a run whose logical date is before the DAG's ``start_date``
    (``dag.start_date`` 00:00 UTC, ``start``) or in the future. ``make run`` always passes
    the week as the ``week`` param too, so such a week is built all the same, under the
    nearest date Airflow allows.
    """
    monday = dt.datetime.combine(week_start(week), dt.time(6), tzinfo=dt.UTC)
    earliest = dt.datetime.combine(dt.date.fromisoformat(start), dt.time(0), tzinfo=dt.UTC)
    latest = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    return min(max(monday, earliest), latest).isoformat()


def summary(warehouse: Path, week: str) -> str:
    wh = Warehouse(warehouse)
    table = wh.partition("discover_weekly", week)
    if not table.exists():
        raise SystemExit(f"error: {table} was not published")
    lines = [f"Discover Weekly {week} published at {table}"]
    runs = wh.read_metrics(week)
    for stage in ("ingest", "als", "merge"):
        if stage not in runs:
            continue
        m = runs[stage]
        if stage == "ingest":
            lines.append(
                f"  ingest: {m['plays_written']} plays kept, {m['quarantined']} rows quarantined "
                f"{m['reasons']}, {m['duplicates_dropped']} duplicates dropped ({m['seconds']} s)"
            )
        elif stage == "als":
            read_back = [f"the {fit}'s" for fit, got in (m.get("fit_cache") or {}).items() if got == "hit"]
            lines.append(
                f"  als: {m['users']} listeners x {m['tracks']} tracks, rank {m['rank']}, fit {m['fit_seconds']} s"
                + (f" ({' and '.join(read_back)} factors read from the fit cache)" if read_back else "")
            )
            lines += evaluation_lines(m.get("evaluation") or {})
        else:
            lines.append(
                f"  merge: {m['eligible']} playlists x {m['rows'] // max(m['eligible'], 1)}, sources {m['sources']}, "
                f"catalog coverage {m['catalog_coverage']:.1%} ({m['seconds']} s)"
            )
            lines += [f"    note: {note}" for note in m.get("notes") or []]
            figures = m.get("personalisation") or {}
            if figures.get("playlists", {}).get("rows"):
                ours, ref = figures["playlists"], figures.get("most_popular") or {}
                lines.append(
                    f"    how personal: {ours['distinct_over_rows']:.1%} of rows are distinct tracks; two lists "
                    f"share {ours['mean_overlap']:.1f} tracks on average (most popular's: "
                    f"{ref.get('mean_overlap', float('nan')):.1f})"
                )
    who = (runs.get("validate") or {}).get("accounting")
    if who:
        rest = ", ".join(f"{n} {reason}" for reason, n in who["without_playlist"].items()) or "none"
        lines.append(
            f"  listeners: {who['in_data']} in the data, {who['active']} active in the window; "
            f"{who['personal']} personal playlists, {who['fallback']} fallbacks; without a playlist: {rest}"
        )
    hits = (runs.get("taste_vectors") or {}).get("evaluation", {}).get("hit_rate")
    if hits:
        refs = ", ".join(f"{name} {v['mean']:.3f}" for name, v in hits.items() if name != "rnn")
        k = runs["taste_vectors"]["evaluation"]["k"]
        lines.append(f"  taste RNN: next-song hit rate@{k} {hits['rnn']['mean']:.3f} (references: {refs})")
    lines += listener_lines(runs.get("listener_models") or {})
    for job, m in runs.items():
        if isinstance(m, dict) and m.get("skipped"):
            lines.append(f"  {job}: skipped, {m['skipped']}")
    reused = [job for job, m in runs.items() if isinstance(m, dict) and m.get("reused")]
    if reused:
        lines.append(f"  reused (inputs, settings and code as in their recorded run; dag.reuse): {', '.join(reused)}")
    from jobs.config import load_config, setting_sources

    lines += [
        "  settings: " + line if i == 0 else "    " + line for i, line in enumerate(setting_sources(load_config()))
    ]
    return "\n".join(lines)


def evaluation_lines(evaluation: dict) -> list[str]:
    """ALS's holdout figures per model; the reason when the evaluation was skipped; n/a for a null metric."""
    if "skipped" in evaluation:
        return [f"    evaluation skipped: {evaluation['skipped']}"]
    out = []
    for model, vals in evaluation.items():
        shown = ", ".join(
            f"{k}={'n/a' if v is None else format(v, '.4f')}"
            for k, v in vals.items()
            if k not in ("users", "holdout_pairs")
        )
        out.append(f"    {model:>12}: {shown}")
    return out


def listener_lines(m: dict) -> list[str]:
    """The user model's and the content model's holdout figures beside their per-track references."""
    out = []
    held = (m.get("user_model") or {}).get("holdout") or {}
    for surface in ("discover_weekly", "organic"):
        listen = (held.get(surface) or {}).get("listen")
        if listen and listen.get("auc") is not None:
            out.append(
                f"  user model on {held['week']} ({surface}): listen AUC {listen['auc']:.3f}, log loss "
                f"{listen['log_loss']:.3f} (per-track rate: {listen['baseline_auc']:.3f}, {listen['baseline_log_loss']:.3f})"
            )
    content = ((m.get("content_model") or {}).get("holdout") or {}).get("all") or {}
    if content.get("listeners"):
        out.append(
            f"  content model: per-listener AUC {content['auc']:.3f} {content['auc_ci95']} over "
            f"{content['listeners']} listeners (per-track liked rate: {content['baseline_auc']:.3f})"
        )
    return out


_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
_STATE = re.compile(r"Task instance state updated .*new_state=(\w+)")
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[\w+\s*\] ")
_HOOK = " [airflow.task.hooks."
_HOOK_NOISE = ("Tmp dir root location:", "Running command:", "Output:")


@dataclass
class TaskTry:
    """One try of a task in an ``airflow dags test`` log."""

    task_id: str
    state: str = ""
    output: list[str] = field(default_factory=list)  # what the job printed (through the operator's hook)
    traceback: list[str] = field(default_factory=list)  # the exception the try ended with
    ended: bool = False


def task_tries(lines: list[str]) -> list[TaskTry]:
    """Every task try of an ``airflow dags test`` log written at INFO level, in order.

    ``dags test`` runs the tasks one after the other in its own process, each between
    ``[DAG TEST] starting task_id=...`` and ``[DAG TEST] end task ...``; a job's output
    comes through the operator's hook (``[airflow.task.hooks...]``), its final state in
    ``Task instance state updated ... new_state=...``.
    """
    tries: list[TaskTry] = []
    for line in lines:
        start = _START.search(line)
        if start:
            tries.append(TaskTry(start.group(1)))
            continue
        if not tries or tries[-1].ended:
            continue
        now = tries[-1]
        state = _STATE.search(line)
        if "[DAG TEST] end task" in line:
            now.ended = True
        elif state:
            now.state = state.group(1)
        elif _HOOK in line:
            text = _STAMP.sub("", line.rsplit(_HOOK, 1)[0]).rstrip()
            if not text.startswith(_HOOK_NOISE):
                now.output.append(text)
        elif "Task failed with exception" in line:
            now.traceback = []
        elif not _STAMP.match(line):
            now.traceback.append(line.rstrip())
    return tries


def task_log_tries(run_logs: Path) -> list[TaskTry]:
    """The last try of every task of one DAG run, from Airflow's task logs (JSON lines,
    ``<run_logs>/task_id=T/attempt=N.log``): what a run under an executor leaves, where the
    run's own log does not hold the tasks' output. A try that logged ``Task failed with
    exception`` is ``failed``; its ``error_detail`` is the exception."""
    tries = []
    for folder in sorted(run_logs.glob("task_id=*")):
        attempts = sorted(folder.glob("attempt=*.log"), key=lambda p: int(p.stem.split("=")[1]))
        if not attempts:
            continue
        now = TaskTry(folder.name[len("task_id=") :], state="success", ended=True)
        for line in attempts[-1].read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            text = str(event.get("event", ""))
            if "airflow.task.hooks" in str(event.get("logger", "")):
                if not text.startswith(_HOOK_NOISE):
                    now.output.append(text)
            elif text == "Task failed with exception":
                now.state = "failed"
                now.traceback = [f"{d.get('exc_type')}: {d.get('exc_value')}" for d in event.get("error_detail") or []]
        tries.append(now)
    return tries


def failed_tasks(log: Path, lines: int = 30, airflow_home: Path | None = None) -> str | None:
    """The tasks whose last try failed in a ``make run`` log, each with the last ``lines`` of its
    own output and the exception it ended with; None when the log names no failed task.

    A run under an executor (``dag.parallelism`` > 1) is read from its task logs under
    ``airflow_home`` (default ``$AIRFLOW_HOME``) instead: see :func:`task_log_tries`."""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    tries = task_tries(text)
    found = run_id(log)
    if not tries and found:
        home = airflow_home or Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser()
        runs = list((home / "logs").glob(f"dag_id=*/run_id={glob.escape(found)}"))
        tries = task_log_tries(runs[0]) if runs else []
    last = {t.task_id: t for t in tries}
    failed = [t for t in last.values() if t.state == "failed"]
    if not failed:
        return None
    out = []
    for t in failed:
        shown = t.output[-lines:] if t.output else t.traceback[-lines:]  # a Python task: its traceback
        out.append(f"error: task {t.task_id} failed; the last {len(shown)} lines of its output:")
        out += [f"   | {line}" for line in shown]
        if t.output and t.traceback:
            out.append(f"   {t.traceback[-1]}")
    return "\n".join(out)


_RUN_ID = re.compile(r"run_id='?(\w+__[^'\s,]+)")


def run_id(log: Path) -> str | None:
    """The id of the DAG run an ``airflow dags test`` log belongs to (its first ``run_id=``)."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        found = _RUN_ID.search(line)
        if found:
            return found.group(1)
    return None


def task_states(rows: list[dict]) -> str:
    """One line from ``airflow tasks states-for-dag-run -o json``: counts per state, the non-successes named."""
    by_state: dict[str, list[str]] = {}
    for row in rows:
        by_state.setdefault(str(row["state"]), []).append(row["task_id"])
    parts = []
    for state, tasks in sorted(by_state.items(), key=lambda kv: (kv[0] != "success", kv[0])):
        named = "" if state == "success" else f" ({', '.join(sorted(tasks))})"
        parts.append(f"{len(tasks)} {state}{named}")
    return "  Airflow task states: " + ", ".join(parts)


@one_line_errors(ValueError)  # ValueError: a malformed week
def main(argv: list[str]) -> int:
    config = load_config()
    if argv[:1] == ["publish-week"]:
        print(publish_week(config.paths.data))
    elif argv[:1] == ["logical-date"] and len(argv) == 2:
        print(logical_date(argv[1], config.dag.start_date))
    elif argv[:1] == ["parallelism"] and len(argv) == 1:
        n = config.dag.parallelism
        print(f"{n} tasks at once, LocalExecutor" if n > 1 else "one task at a time")
    elif argv[:1] == ["previous-week"] and len(argv) == 2:
        print(shift(argv[1], -1))
    elif argv[:1] == ["failed"] and len(argv) == 2:
        text = failed_tasks(Path(argv[1]))
        if text is None:
            return 1
        print(text)
    elif argv[:1] == ["run-id"] and len(argv) == 2:
        found = run_id(Path(argv[1]))
        if found is None:
            return 1
        print(found)
    elif argv[:1] == ["states"] and len(argv) == 1:
        print(task_states(json.loads(sys.stdin.read() or "[]")))
    elif argv[:1] == ["summary"] and len(argv) == 2:
        print(summary(config.paths.warehouse, argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
