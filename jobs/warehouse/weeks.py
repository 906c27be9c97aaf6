"""ISO weeks: the one notion of time the pipeline runs on.

A run for week ``W`` (``YYYY-Www``) publishes on the Monday that starts ``W`` and sees
only plays strictly before that Monday 00:00 UTC (the *cutoff*). Nothing here reads
the wall clock: the week comes from a parameter or from the run's logical date.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")  # ASCII digits only, the whole string (no trailing newline)


def parse_week(week: str) -> tuple[int, int]:
    """``"2026-W47"`` -> ``(2026, 47)``; raises ValueError with the expected form."""
    match = _WEEK.fullmatch(week) if isinstance(week, str) else None
    if not match:
        raise ValueError(f"week {week!r} is not an ISO week like 2026-W47")
    year, num = int(match.group(1)), int(match.group(2))
    try:
        dt.date.fromisocalendar(year, num, 1)
    except ValueError:
        raise ValueError(f"week {week!r} does not exist (year {year} has no week {num})") from None
    return year, num


def week_start(week: str) -> dt.date:
    """The Monday that starts ``week``."""
    year, num = parse_week(week)
    return dt.date.fromisocalendar(year, num, 1)


def cutoff(week: str) -> dt.datetime:
    """First instant (UTC) the run for ``week`` must not see: Monday 00:00 of the week."""
    return dt.datetime.combine(week_start(week), dt.time(0), tzinfo=dt.UTC)


def week_of(day: dt.date | dt.datetime) -> str:
    """The ISO week containing ``day``."""
    if isinstance(day, dt.datetime):
        day = day.astimezone(dt.UTC).date() if day.tzinfo else day.date()
    year, num, _ = day.isocalendar()
    return f"{year}-W{num:02d}"


def shift(week: str, weeks: int) -> str:
    """The week ``weeks`` after (or before, when negative) ``week``."""
    return week_of(week_start(week) + dt.timedelta(weeks=weeks))


def resolve_week(param: str | None, logical_date: dt.datetime | None) -> str:
    """Week for a DAG run: the ``week`` param when given, else the logical date's week."""
    if param:
        parse_week(param)
        return param
    if logical_date is None:
        raise ValueError("no week param and no logical date: cannot tell which week to build")
    return week_of(logical_date)


def utc_nanoseconds(stamps: pd.Series) -> np.ndarray:
    """Nanoseconds since 1970-01-01 UTC of timestamps (naive ones are read as UTC), as int64: for sorting
    and counting by time on plain arrays."""
    naive = pd.to_datetime(stamps, utc=True).dt.tz_localize(None)
    return naive.to_numpy().astype("datetime64[ns]").astype(np.int64)
