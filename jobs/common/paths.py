"""Where every table lives: each path is a function of the warehouse root, the table
name and (for weekly tables) the logical week, never of the wall clock."""

from __future__ import annotations

from pathlib import Path

from jobs.common.weeks import parse_week


def table_dir(warehouse: Path, name: str) -> Path:
    """Root directory of table ``name``."""
    return Path(warehouse) / name


def week_dir(warehouse: Path, name: str, week: str) -> Path:
    """The ``week=YYYY-Www`` partition of a weekly table."""
    parse_week(week)
    return table_dir(warehouse, name) / f"week={week}"
