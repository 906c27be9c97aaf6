"""MovieLens ratings -> plays (format ``movielens``).

SRC is a MovieLens folder (or its ratings file) in one of two layouts:

* ``u.data`` (100k): tab-separated ``user, item, rating, unix seconds``, no header, with
  ``u.item`` beside it (``|``-separated, Latin-1: ``id|title|release date (01-Jan-1995)|...``);
* ``ratings.csv`` (later releases): ``userId,movieId,rating,timestamp`` with a header, with
  ``movies.csv`` beside it (``movieId,title,genres``, UTF-8).

A folder holding both is refused (pass the file you mean). Without the item file beside
the ratings the import is refused: it is where the titles are. ``u.item`` is read as
Latin-1, the data set's own encoding (every byte is a character there); the other files as
UTF-8, where a byte that is not refuses the import (see :mod:`jobs.importers`).

A rating is one play of that movie at the rating's time, whatever the rating (it is not
otherwise used). Each movie is its own artist, named after the movie: track id
``ml_<movie id>``, artist id ``mla_<movie id>``, title and artist name the movie's title.
The user id is kept as it is (``115``). Release date: ``u.item``'s date when it has one
(``movies.csv`` has none: empty). A movie has no length here: ``ms_played`` is
:data:`~jobs.importers.records.ASSUMED_MS_PLAYED` (3 minutes, above the 30 s skip threshold)
and ``duration_ms`` stays empty.

Skipped: ``malformed_line`` (wrong number of fields), ``missing_user``, ``unknown_item``
(a movie the item file does not name), ``bad_timestamp``; in the item file,
``malformed_item_line``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator

from jobs.importers.records import Play, Skipped, clean, from_epoch, make_play

MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
LAYOUTS = {"u.data": "u.item", "ratings.csv": "movies.csv"}
FILES = frozenset({*LAYOUTS, *LAYOUTS.values()})
ITEM_ENCODING = {"u.item": "latin-1"}  # by the data set's definition; the others are UTF-8

Items = dict[str, tuple[str, str]]  # movie id -> (title, ISO release date or "")


def choose(names: Iterable[str]) -> tuple[str, str]:
    """The ratings file and its item file among a folder's file names; ValueError names what is wrong."""
    present = set(names)
    found = [r for r in LAYOUTS if r in present]
    if not found:
        raise ValueError("no u.data or ratings.csv")
    if len(found) > 1:
        raise ValueError("both u.data and ratings.csv: pass the one to import as SRC")
    ratings = found[0]
    if LAYOUTS[ratings] not in present:
        raise ValueError(f"{ratings} needs {LAYOUTS[ratings]} beside it (the titles)")
    return ratings, LAYOUTS[ratings]


def release_date(text: str) -> str:
    """``01-Jan-1995`` -> ``1995-01-01``; anything else -> empty."""
    parts = text.strip().split("-")
    if len(parts) != 3 or parts[1].lower() not in MONTHS:
        return ""
    try:
        return dt.date(int(parts[2]), MONTHS[parts[1].lower()], int(parts[0])).isoformat()
    except ValueError:
        return ""


def parse_uitem(lines: Iterable[str]) -> tuple[Items, list[Skipped]]:
    """``u.item`` lines (decoded from Latin-1) -> titles and release dates by movie id."""
    items: Items = {}
    bad: list[Skipped] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("|")
        if len(fields) < 3 or not fields[0].strip() or not clean(fields[1]):
            bad.append(Skipped("malformed_item_line", number, line))
            continue
        items[fields[0].strip()] = (clean(fields[1]), release_date(fields[2]))
    return items, bad


def parse_movies_csv(lines: Iterable[str]) -> tuple[Items, list[Skipped]]:
    """``movies.csv`` lines (header ``movieId,title,genres``) -> titles by movie id."""
    items: Items = {}
    bad: list[Skipped] = []
    reader = csv.reader(lines)
    next(reader, None)
    for row in reader:
        if not row:
            continue
        if len(row) < 2 or not row[0].strip() or not clean(row[1]):
            bad.append(Skipped("malformed_item_line", reader.line_num, ",".join(row)))
            continue
        items[row[0].strip()] = (clean(row[1]), "")
    return items, bad


def _rating(user: str, item: str, ts: str, items: Items, number: int, raw: str) -> Play | Skipped:
    item = item.strip()
    if user.strip() and item not in items:
        return Skipped("unknown_item", number, raw)
    title, released = items.get(item, ("", ""))
    return make_play(
        user,
        title,
        title,
        from_epoch(ts),
        None,
        line=number,
        raw=raw,
        release_date=released,
        track_ref=f"ml_{item}",
        artist_ref=f"mla_{item}",
    )


def parse_udata(lines: Iterable[str], items: Items) -> Iterator[Play | Skipped]:
    """``u.data`` lines -> plays (numbered from 1; empty lines ignored)."""
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != 4:
            yield Skipped("malformed_line", number, text)
            continue
        yield _rating(fields[0], fields[1], fields[3], items, number, text)


def parse_ratings_csv(lines: Iterable[str], items: Items) -> Iterator[Play | Skipped]:
    """``ratings.csv`` lines (header ``userId,movieId,rating,timestamp``) -> plays."""
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if number == 1 or not text.strip():
            continue
        fields = text.split(",")
        if len(fields) != 4:
            yield Skipped("malformed_line", number, text)
            continue
        yield _rating(fields[0], fields[1], fields[3], items, number, text)
