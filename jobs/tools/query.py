"""Query: print one listener's Discover Weekly playlist with titles and artists (DuckDB).

Reads ``<warehouse>/discover_weekly/week=W/`` and the catalog of the data folder the week
was built from (recorded with the week, so ``make query WAREHOUSE=...`` needs no ``DATA=``;
the configured one when the week predates the record or that folder is gone). The listener id and the
week are passed to DuckDB as bound parameters, never pasted into the SQL text. Without
``--week`` the latest published week is shown; without ``--user`` the first listener
of that week.

Run alone::

    python -m jobs.tools.query --user u000042 [--week 2026-W47] [--format csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import pandas as pd

from jobs.config import load_config
from jobs.runtime.cli import one_line_errors
from jobs.warehouse.catalog import read_catalog
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import parse_week
from schemas.columns import TRACK_ID


class QueryError(RuntimeError):
    """The requested week or listener is not in the table."""


def playlist(warehouse: Path, data: Path, user: str | None, week: str | None) -> tuple[str, str, pd.DataFrame]:
    """(week, user, rows) for the listener's playlist, joined to titles and artist names."""
    wh = Warehouse(warehouse)
    weeks = wh.weeks("discover_weekly")
    if not weeks:
        raise QueryError(f"{wh.table_dir('discover_weekly')}: no published week yet; run `make run` first")
    week = week or weeks[-1]
    parse_week(week)
    if week not in weeks:
        raise QueryError(f"week {week} is not published; published: {', '.join(weeks)}")
    recorded = wh.data_of(week)  # the catalog the week was built from, wherever DATA points now
    tracks, artists = read_catalog(recorded if recorded is not None and recorded.is_dir() else data)
    con = duckdb.connect()
    con.register("tracks", tracks[[TRACK_ID, "title", "album"]])
    con.register("artists", artists)
    files = str(wh.partition("discover_weekly", week) / "*.parquet")
    if user is None:
        user = con.execute("SELECT min(user_id) FROM read_parquet(?)", [files]).fetchone()[0]
    rows = con.execute(
        """
        SELECT d.position, t.title, a.name AS artist, d.source, round(d.score, 3) AS score, d.reason
        FROM read_parquet(?) d JOIN tracks t USING (track_id) JOIN artists a ON a.artist_id = d.artist_id
        WHERE d.user_id = ?
        ORDER BY d.position
        """,
        [files, user],
    ).df()
    if rows.empty:
        raise QueryError(f"listener {user!r} has no playlist in week {week}")
    return week, user, rows


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show one listener's Discover Weekly playlist.")
    parser.add_argument("--user", help="listener id (default: the first listener of the week)")
    parser.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: the latest published)")
    parser.add_argument("--format", choices=["table", "csv"], default="table")
    parser.add_argument("--conf", help="configuration file (default conf/pipeline.yaml)")
    args = parser.parse_args(argv)
    config = load_config(args.conf)
    try:
        week, user, rows = playlist(config.paths.warehouse, config.paths.data, args.user or None, args.week or None)
    except (QueryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "csv":
        rows.to_csv(sys.stdout, index=False)
        return 0
    print(f"Discover Weekly {week} for {user} ({Warehouse(config.paths.warehouse).partition('discover_weekly', week)})")
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(rows.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
