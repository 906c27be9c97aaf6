"""The command line every weekly job shares: ``--week`` (required), ``--conf``, logging,
timing, the run metrics, and exit codes.

Exit codes: 0 done; 2 an expected failure (bad configuration, catalog or week, a missing
input, another run holding the output, or the job's own error), printed as one line that
names what to fix; 99 (:data:`SKIPPED`) the step had nothing to learn from this week, which
Airflow's BashOperator shows as ``skipped`` (its ``skip_on_exit_code``); anything else is a
bug and keeps its traceback.

A step skips in one way: its ``run`` returns :func:`skipped` (which removes the step's own
outputs of an earlier run of the week, so nothing downstream mistakes them for this run's),
or any metrics dict with a ``skipped`` reason. When ``metrics`` names a file, the returned
dict plus the job's wall time (``seconds``, unless the job measured its own) is written to
``run_metrics/week=W/<metrics>.json``, skips included: the reason stays in the run metrics
and in ``make run``'s summary. An expected error carrying ``metrics`` (a dict: what the failed
run found) has them written the same way. This is the only writer of run metrics.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from jobs.config import Config, ConfigError, load_config
from jobs.runtime import reuse
from jobs.warehouse.atomic import LockTimeoutError, discard_dir
from jobs.warehouse.catalog import CatalogError
from jobs.warehouse.store import MissingInputError, Warehouse
from jobs.warehouse.weeks import parse_week

SKIPPED = 99  # exit code of a skipped step: Airflow's BashOperator default skip_on_exit_code

log = logging.getLogger("jobs")

# Storage failures every writer can meet: one line naming the path and what to do, exit 2.
STORAGE_ERRNOS = {
    errno.ENOSPC: "free space on that disk",
    errno.EDQUOT: "raise the quota or free space",
    errno.EROFS: "the file system is read-only: point paths.warehouse at a writable folder",
    errno.EACCES: "give this user write access to it",
}


def storage_failure(exc: BaseException) -> tuple[str, str] | None:
    """``(the line that says so, what to do)`` when ``exc`` (e.g. a Py4J error wrapping Java's
    ``IOException``) reports a full, read-only or forbidden disk, by the system's own wording; else ``None``."""
    text = str(exc)
    for code, hint in STORAGE_ERRNOS.items():
        words = os.strerror(code)
        if words in text:
            line = next(ln.strip() for ln in text.splitlines() if words in ln)
            return line[:300], hint
    return None


# Failures every job can meet that are not bugs: one line, exit code 2.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (ConfigError, CatalogError, MissingInputError, LockTimeoutError)


def one_line_errors(*extra: type[Exception]) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """For a command's ``main``: an expected error (and any of ``extra``) prints one line and exits 2."""

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def inner(*args: Any, **kwargs: Any) -> int:
            try:
                return main(*args, **kwargs)
            except (*EXPECTED_ERRORS, *extra) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2

        return inner

    return wrap


def iso_week(value: str) -> str:
    """argparse type for ``--week``: a bad value is a usage error (exit 2) saying why."""
    try:
        parse_week(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def week_job(
    name: str,
    description: str,
    run: Callable[[Config, str, argparse.Namespace], Any],
    argv: list[str] | None = None,
    errors: tuple[type[Exception], ...] = (),
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    show: Callable[[Any], None] | None = None,
    metrics: str | Callable[[argparse.Namespace], str] | None = None,
) -> int:
    """Parse the arguments, run ``run(config, week, args)``, time it, record and log (or ``show``) its result."""
    parser = argparse.ArgumentParser(prog=f"python -m jobs.{name}", description=description)
    parser.add_argument("--week", required=True, type=iso_week, help="ISO week, e.g. 2026-W47")
    parser.add_argument("--conf", help="configuration file (default conf/pipeline.yaml)")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log = logging.getLogger(name)
    file = metrics(args) if callable(metrics) else metrics
    try:
        config = load_config(args.conf)
        t0 = time.perf_counter()
        arguments = {k: v for k, v in vars(args).items() if k not in ("conf", "week")}
        plan = reuse.plan(config, file, args.week, arguments) if file else None
        recorded = plan.reusable() if plan else None
        if recorded is not None:
            return _reused(config, file, args.week, recorded, time.perf_counter() - t0, log)
        if plan:
            plan.forget()
        result = run(config, args.week, args)
    except (*EXPECTED_ERRORS, *errors) as exc:
        log.error("%s", exc)
        failed = getattr(exc, "metrics", None)  # what a failed run found (e.g. ingest's counts)
        if metrics is not None and isinstance(failed, dict):
            Warehouse(config.paths.warehouse).write_metrics(file, args.week, failed)
        return 2
    except OSError as exc:  # a full disk, a read-only or forbidden warehouse: one line, not a traceback
        if exc.errno not in STORAGE_ERRNOS:
            raise
        where = exc.filename or "the warehouse"
        log.error("%s: %s; %s, then rerun", where, exc.strerror, STORAGE_ERRNOS[exc.errno])
        return 2
    except Exception as exc:
        found = storage_failure(exc)
        if found is None:
            raise
        line, hint = found
        log.error("%s (Spark, writing under %s); %s, then rerun", line, config.paths.warehouse, hint)
        return 2
    if metrics is not None and isinstance(result, dict):
        result = {**result, "seconds": result.get("seconds", round(time.perf_counter() - t0, 2))}
        Warehouse(config.paths.warehouse).write_metrics(file, args.week, result)
        if plan:
            plan.record(result)
    if show:
        show(result)
    else:
        log.info("%s done: %s", name, json.dumps(result, default=str))
    if isinstance(result, dict) and result.get("skipped"):
        log.warning("%s skipped (exit %d): %s", name, SKIPPED, result["skipped"])
        return SKIPPED
    return 0


def _reused(config: Config, file: str, week: str, recorded: dict[str, Any], seconds: float, log: Any) -> int:
    """A step whose inputs, settings and code are those of its recorded run: its recorded metrics
    (``reused`` added), and the recorded run's exit code (a skip stays a skip)."""
    result = {**recorded, "reused": {"seconds": recorded.get("seconds"), "check_seconds": round(seconds, 2)}}
    result["seconds"] = round(seconds, 2)
    Warehouse(config.paths.warehouse).write_metrics(file, week, result)
    log.info("%s reused: inputs, settings and code as in the recorded run (dag.reuse)", file)
    if recorded.get("skipped"):
        log.warning("%s skipped (exit %d), as in the recorded run: %s", file, SKIPPED, recorded["skipped"])
        return SKIPPED
    return 0


def skipped(wh: Warehouse, week: str, reason: str, stale: list[Any] = (), **metrics: Any) -> dict[str, Any]:
    """A skipped step's metrics (``{"week", "skipped": reason, **metrics}``; the step exits :data:`SKIPPED`).

    ``stale`` (this step's own outputs from an earlier run of the week: partition folders or
    paths) are removed, each under its writer's lock, so nothing downstream mistakes them for
    this run's.
    """
    log.warning("skipped: %s", reason)
    for path in stale:
        if path.exists():
            with wh.lock(path):
                discard_dir(path)
            log.warning("removed %s, written by an earlier run of %s", path, week)
    return {"week": week, **metrics, "skipped": reason}


def with_spark(config: Config, app_name: str, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(spark)`` in a session built for one job, and stop the session afterwards."""
    from jobs.warehouse.spark import build_spark

    spark = build_spark(config, app_name)
    try:
        return fn(spark)
    finally:
        spark.stop()
