import datetime as dt

import pytest

from jobs.warehouse.weeks import cutoff, parse_week, resolve_week, shift, week_of, week_start


def test_week_start_and_cutoff_are_the_monday():
    assert week_start("2026-W47") == dt.date(2026, 11, 16)
    assert cutoff("2026-W47") == dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    # ISO week 1 of 2027 starts in 2027 on Jan 4; week 53 of 2026 starts Dec 28
    assert week_start("2026-W53") == dt.date(2026, 12, 28)
    assert week_start("2027-W01") == dt.date(2027, 1, 4)


def test_week_of_crosses_years_the_iso_way():
    assert week_of(dt.date(2027, 1, 1)) == "2026-W53"
    assert week_of(dt.datetime(2026, 11, 16, 6, 0, tzinfo=dt.UTC)) == "2026-W47"
    assert shift("2026-W53", 1) == "2027-W01"
    assert shift("2026-W47", -1) == "2026-W46"


@pytest.mark.parametrize("bad", ["2026-47", "2026W47", "2026-W7", "", "2025-W53"])
def test_parse_week_rejects_malformed_or_missing_weeks(bad):
    with pytest.raises(ValueError, match="week"):
        parse_week(bad)


def test_resolve_week_prefers_the_param_then_the_logical_date():
    monday = dt.datetime(2026, 11, 16, 6, tzinfo=dt.UTC)
    assert resolve_week("2026-W40", monday) == "2026-W40"
    assert resolve_week(None, monday) == "2026-W47"
    assert resolve_week("", monday) == "2026-W47"
    with pytest.raises(ValueError):
        resolve_week(None, None)
    with pytest.raises(ValueError):
        resolve_week("next week", monday)


@pytest.mark.parametrize(
    "week", ["2026-W47\n", " 2026-W47", "２０２６-W47", "2026-W４7", "2026-w47", "2026W47", None, 202647]
)
def test_only_an_ascii_yyyy_www_string_is_a_week(week):
    with pytest.raises(ValueError, match="is not an ISO week like 2026-W47"):
        parse_week(week)
