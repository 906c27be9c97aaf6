"""The command line every weekly job shares: ``--week`` (required), ``--conf``, logging,
and exit codes (0 done, 2 a known failure whose message names what to fix)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from typing import Any

from jobs.common.config import Config, load_config


def week_job(
    name: str,
    description: str,
    run: Callable[[Config, str, argparse.Namespace], Any],
    argv: list[str] | None = None,
    errors: tuple[type[Exception], ...] = (),
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    show: Callable[[Any], None] | None = None,
) -> int:
    """Parse the arguments, run ``run(config, week, args)`` and log (or ``show``) its result."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--week", required=True, help="ISO week, e.g. 2026-W47")
    parser.add_argument("--conf", help="configuration file (default conf/pipeline.yaml)")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log = logging.getLogger(name)
    try:
        result = run(load_config(args.conf), args.week, args)
    except errors as exc:
        log.error("%s", exc)
        return 2
    if show:
        show(result)
    else:
        log.info("%s done: %s", name, json.dumps(result, default=str))
    return 0


def with_spark(config: Config, app_name: str, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(spark)`` in a session built for one job, and stop the session afterwards."""
    from jobs.common.spark import build_spark

    spark = build_spark(config, app_name)
    try:
        return fn(spark)
    finally:
        spark.stop()
