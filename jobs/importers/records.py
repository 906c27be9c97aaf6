"""What a format module hands to the contract writer, and the value rules they share.

* :class:`Play`: one listen as its source tells it (names, times, any real ids);
* :class:`Skipped`: a line or entry that is not imported, with its reason;
* :func:`make_play`: checks the fields every play needs and settles ``ms_played``;
* the id rule (:func:`derived_track_id`, :func:`derived_artist_id`, :func:`mbid_ref`) and
  the parsers of times and numbers every format uses.

Everything here is pure: no file is read or written.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import unicodedata
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


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line or entry that is not imported; ``raw`` is kept only for the report's first examples."""

    reason: str
    line: int  # 1-based line, or entry number in a JSON array (where == "entry")
    raw: Any = None
    where: str = "line"


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
    )


def format_time(t: dt.datetime) -> str:
    """``2024-01-31T23:56:00Z`` for a UTC time: whole seconds (the fraction is dropped)."""
    return t.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
