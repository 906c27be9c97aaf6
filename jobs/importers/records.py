"""What a format module hands to the contract writer, and the value rules they share.

* :class:`Play`: one listen as its source tells it (names, times, any real ids);
* :class:`Skipped`: a line or entry that is not imported, with its reason;
* :func:`make_play`: checks the fields every play needs and settles ``ms_played``;
* :func:`json_array`: a JSON array's entries one at a time, keeping those before any damage;
* the id rule (:func:`derived_track_id`, :func:`derived_artist_id`, :func:`mbid_ref`) and
  the parsers of times and numbers every format uses.

Everything here is pure: no file is read or written.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from schemas.columns import SOURCE

ASSUMED_MS_PLAYED = 180_000  # a listen of unknown length: 3 minutes, well above the 30 s skip threshold
MAX_MS_PLAYED = 86_400_000  # ingest.max_ms_played: a longer play (or track) is absurd
_MBID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EPOCH_MAX = 4_102_444_800  # 2100-01-01, in seconds
_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Play:
    """One listen as a source tells it; strings already cleaned (see :func:`clean`)."""

    user: str
    artist: str
    title: str
    played_at: dt.datetime  # start of the play, aware UTC
    ms_played: int
    ms_source: str = SOURCE  # "source", "duration" (the track's length) or "assumed" (ASSUMED_MS_PLAYED)
    album: str = ""
    duration_ms: int | None = None
    release_date: str = ""  # ISO date or empty
    track_ref: str = ""  # a real id ("sp_...", "mb_...", "ml_..."); empty: derived from the names
    artist_ref: str = ""
    context: str = ""  # the contract's optional context (a short lower-case token); empty: none (null)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line or entry that is not imported; ``raw`` is kept only for the report's first examples.

    ``where="offset"`` marks damage that ends a file's reading (:func:`json_array`): ``line`` is
    then its character offset, ``raw`` says where and what, and ``count`` is the entries lost.
    ``where=""``: a whole file not read (``line`` unused).
    """

    reason: str
    line: int  # 1-based line, or entry number in a JSON array (where == "entry"), or offset (where == "offset")
    raw: Any = None
    where: str = "line"
    count: int = 1  # entries this stands for


# ----------------------------------------------------------------------------- values


def clean(value: Any) -> str:
    """Display text: NFC, whitespace runs (newlines too) collapsed to one space, trimmed."""
    if isinstance(value, str):
        text = " ".join(value.split())
        return text if text.isascii() else unicodedata.normalize("NFC", text)
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return clean(str(value))


def norm(value: str) -> str:
    """The key text of a name: cleaned and case-folded."""
    return clean(value).casefold()


def _hex16(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@functools.lru_cache(maxsize=1 << 16)
def derived_artist_id(artist: str) -> str:
    """``a_`` + 16 hex of sha1 of the normalised artist name."""
    return "a_" + _hex16(norm(artist))


@functools.lru_cache(maxsize=1 << 18)
def derived_track_id(artist: str, title: str) -> str:
    """``t_`` + 16 hex of sha1 of ``artist \\x1f title``, both normalised."""
    return "t_" + _hex16(norm(artist) + "\x1f" + norm(title))


def mbid_ref(value: Any) -> str:
    """``mb_<mbid>`` for a MusicBrainz id (a UUID), else empty."""
    if not value or not isinstance(value, str):
        return ""
    text = value.strip().lower()
    return "mb_" + text if _MBID.match(text) else ""


def int_value(value: Any) -> int | None:
    """A non-negative integer from an int, an integral float or a digit string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def duration_value(value: Any) -> int | None:
    """A usable track length in ms (1 ms to 24 h); else None (unknown)."""
    ms = int_value(value)
    return ms if ms is not None and 0 < ms <= MAX_MS_PLAYED else None


def from_epoch(value: Any) -> dt.datetime | None:
    """UTC time of epoch seconds (int, integral float or digit string) before 2100."""
    seconds = int_value(value)
    if seconds is None or seconds >= _EPOCH_MAX:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def from_iso(value: Any) -> dt.datetime | None:
    """UTC time of an ISO-8601 text (``Z`` or an offset; none means UTC); else None."""
    if not isinstance(value, str):
        return None
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def make_play(
    user: Any,
    artist: Any,
    title: Any,
    played_at: dt.datetime | None,
    ms_played: int | None,
    *,
    line: int,
    raw: Any,
    where: str = "line",
    album: Any = "",
    duration_ms: int | None = None,
    release_date: str = "",
    track_ref: str = "",
    artist_ref: str = "",
    context: str = "",
) -> Play | Skipped:
    """A :class:`Play`, or the :class:`Skipped` naming the first thing wrong.

    ``ms_played=None`` means the source does not say how long: the track's ``duration_ms``
    when known, else :data:`ASSUMED_MS_PLAYED`.
    """
    user, artist, title = clean(user), clean(artist), clean(title)
    reason = None
    if not user:
        reason = "missing_user"
    elif not artist:
        reason = "missing_artist_name"
    elif not title:
        reason = "missing_track_name"
    elif played_at is None or not _EARLIEST <= played_at < _LATEST:
        reason = "bad_timestamp"
    elif ms_played is not None and ms_played > MAX_MS_PLAYED:
        reason = "absurd_ms_played"
    if reason:
        return Skipped(reason, line, raw, where)
    source = SOURCE
    if ms_played is None:
        ms_played, source = (duration_ms, "duration") if duration_ms else (ASSUMED_MS_PLAYED, "assumed")
    return Play(
        user,
        artist,
        title,
        played_at,
        ms_played,
        source,
        clean(album),
        duration_ms,
        release_date,
        track_ref,
        artist_ref,
        context,
    )


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def json_array(text: str, markers: tuple[str, ...] = ()) -> Iterator[tuple[int, Any] | Skipped]:
    """A JSON array's entries read one at a time: ``(number, value)``, numbered from 1.

    Damage ends the reading. Every entry before it is given, then one :class:`Skipped` with
    ``where="offset"`` and ``line`` the character offset (from 0, after any byte-order mark)
    where the damage is: ``truncated_json`` when the text ends inside the array,
    ``nested_too_deeply`` for an entry nested deeper than Python's recursion limit, else
    ``malformed_json`` (anything else, text after the array's end included). Its ``count``
    is the entries lost: how many of ``markers`` (a key every entry has, quoted, like
    ``'"endTime"'``) the text holds from the damaged entry on, at least one. A text that
    is not an array is damaged at its first character.
    """

    def damage(at: int, start: int, number: int, problem: str, reason: str = "") -> Skipped:
        if not reason:
            ends_inside = not text[at:].strip() or problem.startswith("Unterminated string")
            reason = "truncated_json" if ends_inside else "malformed_json"
        lost = max(1, sum(text.count(m, start) for m in markers))
        line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        where = f"character {at} (line {line}, column {column})"
        return Skipped(reason, at, f"{reason} at {where}: {problem}; lost from entry {number} on", "offset", lost)

    pos = _SPACE.match(text).end()
    if not text.startswith("[", pos):
        yield damage(pos, pos, 1, "expecting '[' (a JSON array)")
        return
    pos = _SPACE.match(text, pos + 1).end()
    number = 0
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            number += 1
            start = pos
            try:
                value, pos = _DECODER.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                yield damage(exc.pos, start, number, exc.msg)
                return
            except RecursionError:
                yield damage(start, start, number, "nested too deeply to read", "nested_too_deeply")
                return
            yield number, value
            pos = _SPACE.match(text, pos).end()
            if text.startswith(",", pos):
                pos = _SPACE.match(text, pos + 1).end()
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                yield damage(pos, pos, number + 1, "expecting ',' or ']'")
                return
    pos = _SPACE.match(text, pos).end()
    if pos < len(text):
        yield damage(pos, pos, number + 1, "text after the array's end")


def format_time(t: dt.datetime) -> str:
    """``2024-01-31T23:56:00Z`` for a UTC time: whole seconds (the fraction is dropped)."""
    return t.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
