"""Small command-line helpers the Makefile uses around a DAG run.

python -m jobs.common.runinfo publish-week        # the sample world's week to publish
python -m jobs.common.runinfo logical-date WEEK   # Monday 06:00 UTC of WEEK, for `airflow dags test`
python -m jobs.common.runinfo summary WEEK        # where the table is, counts and ALS metrics
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jobs.common.cli import one_line_errors
from jobs.common.config import load_config
from jobs.common.warehouse import Warehouse
from jobs.common.weeks import parse_week, shift, week_start


def publish_week(data: Path) -> str:
    manifest = data / "world.json"
    if not manifest.exists():
        raise SystemExit(f"error: {manifest} not found; say which week to build with WEEK=YYYY-Www")
    return json.loads(manifest.read_text())["publish_week"]


def logical_date(week: str) -> str:
    parse_week(week)
    return f"{week_start(week).isoformat()}T06:00:00+00:00"


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
            lines.append(
                f"  als: {m['users']} listeners x {m['tracks']} tracks, rank {m['rank']}, fit {m['fit_seconds']} s"
            )
            for model, vals in m.get("evaluation", {}).items():
                shown = ", ".join(f"{k}={v:.4f}" for k, v in vals.items() if k not in ("users", "holdout_pairs"))
                lines.append(f"    {model:>12}: {shown}")
        else:
            lines.append(
                f"  merge: {m['eligible']} playlists x {m['rows'] // max(m['eligible'], 1)}, sources {m['sources']}, "
                f"catalog coverage {m['catalog_coverage']:.1%} ({m['seconds']} s)"
            )
    return "\n".join(lines)


@one_line_errors(ValueError)
def main(argv: list[str]) -> int:
    config = load_config()
    if argv[:1] == ["publish-week"]:
        print(publish_week(config.paths.data))
    elif argv[:1] == ["logical-date"] and len(argv) == 2:
        print(logical_date(argv[1]))
    elif argv[:1] == ["previous-week"] and len(argv) == 2:
        print(shift(argv[1], -1))
    elif argv[:1] == ["summary"] and len(argv) == 2:
        print(summary(config.paths.warehouse, argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
