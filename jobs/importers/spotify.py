"""Spotify account-data exports -> plays (format ``spotify``).

Files read (names matched case-insensitively, anywhere under SRC): ``StreamingHistory*.json``
(the basic "Account data" export) and ``Streaming_History_*.json`` / ``endsong*.json`` (the
"Extended streaming history"). Each entry is recognised by its keys, whatever its file:

* basic ``{endTime: "2024-01-31 23:59", artistName, trackName, msPlayed}``: ``endTime`` is UTC
  to the minute and marks the END, so the play started at ``endTime - msPlayed``; entries of
  ``StreamingHistory_podcast_*`` (``podcastName``/``episodeName``) are skipped as ``podcast``;
* extended ``{ts, ms_played, master_metadata_track_name, master_metadata_album_artist_name,
  master_metadata_album_album_name, spotify_track_uri, ...}``: ``ts`` is the END too, so the
  start is ``ts - ms_played``; the track id is ``sp_`` + the id of ``spotify:track:<id>``.
  Podcast entries (``episode_name`` / ``spotify_episode_uri``) are skipped as ``podcast``,
  audiobook entries (``audiobook_title`` / ``audiobook_uri`` / ``audiobook_chapter_*``) as
  ``audiobook``. Where the play came from and whether it was skipped become the contract's
  ``context`` (:func:`play_context`): ``spotify.<reason_start>`` (``spotify.clickrow``,
  ``spotify.trackdone``), with ``.skipped`` appended when the listener skipped it (``skipped``
  is true, or ``reason_end`` is ``fwdbtn`` or ``backbtn``): ``spotify.clickrow.skipped``;
  ``spotify.skipped`` for a skip without ``reason_start``, none (null) for neither. ALS counts
  a ``.skipped`` play as a skip whatever its ``ms_played``. ``shuffle`` is not kept.

The basic history says nothing of where a play came from: its plays have no context.

Listeners. SRC is one person's export, or a folder of several people's export folders. The
listener of a file is the first folder on its path below SRC that is not one of Spotify's
own folder names (``MyData``, ``my_spotify_data``, ``Spotify Account Data``, ``Spotify
Extended Streaming History``, ``Spotify Technical Log Information``); when there is none,
it is SRC's own name. The id is that name NFKC-normalised, case-folded, every run of
characters other than letters, digits, ``.`` and ``-`` turned into ``_``
(``Alice Smith`` -> ``alice_smith``); two folders whose names give the same id are one
listener. ``--user`` names the listener of a single export instead.

One person's export may hold both histories; they overlap. The extended files are read
first, and a basic entry is skipped as ``covered_by_extended`` (the extended history has it,
with its real track id) only where the extended history covers its time: when the extended
plays include one that ended on the same UTC day, and the entry ended within the extended
history's span (from the minute of its first play's end to its last play's end). So a basic
entry before the extended data begins, after it ends, or on a day it has no play of (a
partial extended history) is kept.

A file is read as one JSON array, entry by entry (:func:`~jobs.importers.records.json_array`):
when it is truncated or damaged, the entries before the damage are imported and the rest is
counted as lost (``truncated_json``, ``malformed_json``, ``nested_too_deeply``, with the
character offset), the file naming it in the import report and the summary.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from jobs.importers.records import Play, Skipped, from_iso, int_value, json_array, make_play
from schemas.columns import MS_PLAYED
from schemas.vocab import SKIPPED_CONTEXT_SUFFIX

HISTORY_FILE = re.compile(r"^(streaminghistory.*|streaming_history_.*|endsong.*)\.json$", re.IGNORECASE)
EXTENDED_FILE = re.compile(r"^(streaming_history_|endsong)", re.IGNORECASE)
EXPORT_FOLDERS = frozenset(
    {
        "mydata",
        "my_spotify_data",
        "spotify account data",
        "spotify extended streaming history",
        "spotify technical log information",
    }
)
TRACK_URI = re.compile(r"^spotify:track:([0-9A-Za-z]{22})$")
PODCAST_KEYS = ("episode_name", "spotify_episode_uri", "episode_show_name")
AUDIOBOOK_KEYS = ("audiobook_title", "audiobook_uri", "audiobook_chapter_uri", "audiobook_chapter_title")
ENTRY_KEYS = ('"endTime"', '"ts"')  # one of them in every entry: counts the entries a damaged file lost
CONTEXT_PREFIX = "spotify"
SKIP_REASONS_END = frozenset({"fwdbtn", "backbtn"})  # reason_end of a play the listener skipped
# a reason in a context: lower-case letters, digits, _ : - (a run of anything else, the dot included,
# is one _, so no value can fake the .skipped suffix); cut so that the whole context stays within the
# contract's 64 characters (jobs.warehouse.quarantine.CONTEXT_PATTERN)
NOT_REASON = re.compile(r"[^a-z0-9_:-]+")
MAX_REASON = 64 - len(CONTEXT_PREFIX) - 1 - len(SKIPPED_CONTEXT_SUFFIX)


def is_history_file(name: str) -> bool:
    return bool(HISTORY_FILE.match(name))


def is_extended_file(name: str) -> bool:
    return bool(EXTENDED_FILE.match(name.rsplit("/", 1)[-1]))


def listener_id(name: str) -> str:
    """``Alice Smith`` -> ``alice_smith`` (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "listener"


def listener_of(rel_path: str, src_name: str) -> str:
    """The listener id of a file at ``rel_path`` (``/``-separated, relative to SRC)."""
    for folder in rel_path.split("/")[:-1]:
        if folder.casefold() not in EXPORT_FOLDERS:
            return listener_id(folder)
    return listener_id(src_name)


def plan(rel_paths: Iterable[str], src_name: str) -> list[tuple[str, list[str]]]:
    """History files by listener: listeners sorted; each one's extended files first, then basic."""
    by_listener: dict[str, list[str]] = {}
    for rel in rel_paths:
        if is_history_file(rel.rsplit("/", 1)[-1]):
            by_listener.setdefault(listener_of(rel, src_name), []).append(rel)
    return [
        (user, sorted(files, key=lambda r: (not is_extended_file(r), r))) for user, files in sorted(by_listener.items())
    ]


def reason_token(value: Any) -> str:
    """A ``reason_start`` / ``reason_end`` value as a context part: ``clickRow`` -> ``clickrow``,
    ``click row!`` -> ``click_row``; empty for none (not a string, or nothing left)."""
    if not isinstance(value, str):
        return ""
    return NOT_REASON.sub("_", value.strip().lower()).strip("_")[:MAX_REASON].rstrip("_")


def play_context(entry: dict[str, Any]) -> str:
    """The context of an extended-history entry (see the module docstring); empty for none."""
    reason = reason_token(entry.get("reason_start"))
    skipped = entry.get("skipped") is True or reason_token(entry.get("reason_end")) in SKIP_REASONS_END
    if not reason and not skipped:
        return ""
    return CONTEXT_PREFIX + (f".{reason}" if reason else "") + (SKIPPED_CONTEXT_SUFFIX if skipped else "")


def track_ref(uri: Any) -> str:
    """``sp_<id>`` for ``spotify:track:<id>``, else empty."""
    match = TRACK_URI.match(uri) if isinstance(uri, str) else None
    return "sp_" + match.group(1) if match else ""


class Coverage:
    """The time one listener's extended history covers: the UTC days it has plays on, and its span."""

    def __init__(self) -> None:
        self.days: set[dt.date] = set()
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None

    def add(self, end: dt.datetime) -> None:
        """Count an extended play that ended at ``end``."""
        self.days.add(end.date())
        self.first = end if self.first is None else min(self.first, end)
        self.last = end if self.last is None else max(self.last, end)

    def covers(self, end: dt.datetime) -> bool:
        """Does the extended history hold the time of a basic entry that ended at ``end`` (to the minute)?"""
        if self.first is None or self.last is None or end.date() not in self.days:
            return False
        return self.first.replace(second=0, microsecond=0) <= end <= self.last


def parse_entry(entry: Any, number: int, user: str, coverage: Coverage | None = None) -> Play | Skipped:
    """One history entry -> a play (or why it is skipped)."""
    if not isinstance(entry, dict):
        return Skipped("not_an_object", number, entry, "entry")
    if "ts" in entry:
        if any(entry.get(k) for k in PODCAST_KEYS):
            return Skipped("podcast", number, entry, "entry")
        if any(entry.get(k) for k in AUDIOBOOK_KEYS):
            return Skipped("audiobook", number, entry, "entry")
        end, ms = from_iso(entry["ts"]), int_value(entry.get(MS_PLAYED))
        artist, title = entry.get("master_metadata_album_artist_name"), entry.get("master_metadata_track_name")
        album, ref = entry.get("master_metadata_album_album_name"), track_ref(entry.get("spotify_track_uri"))
        context = play_context(entry)
    elif "endTime" in entry:
        if "podcastName" in entry or "episodeName" in entry:
            return Skipped("podcast", number, entry, "entry")
        end, ms = from_iso(entry["endTime"]), int_value(entry.get("msPlayed"))
        artist, title, album, ref, context = entry.get("artistName"), entry.get("trackName"), "", "", ""
        if end is not None and coverage is not None and coverage.covers(end):
            return Skipped("covered_by_extended", number, entry, "entry")
    else:
        return Skipped("unknown_entry", number, entry, "entry")
    if end is None:
        return Skipped("bad_timestamp", number, entry, "entry")
    if ms is None:
        return Skipped("bad_ms_played", number, entry, "entry")
    start = end - dt.timedelta(milliseconds=ms)
    return make_play(
        user,
        artist,
        title,
        start,
        ms,
        line=number,
        raw=entry,
        where="entry",
        album=album,
        track_ref=ref,
        context=context,
    )


def parse_file(text: str, user: str, coverage: Coverage | None = None) -> Iterator[Play | Skipped]:
    """A history file's text (a JSON array of entries) -> its plays and skipped entries, and its damage."""
    for got in json_array(text, ENTRY_KEYS):
        if isinstance(got, Skipped):
            yield got
        else:
            yield parse_entry(got[1], got[0], user, coverage)


def parse_export(user: str, files: Iterable[tuple[str, str]]) -> Iterator[tuple[str, list[Play | Skipped]]]:
    """One listener's ``(path, text)`` files, extended first (see :func:`plan`) -> items per file.

    Basic entries whose time the extended files cover (:class:`Coverage`) are skipped as covered.
    """
    coverage = Coverage()
    for rel, text in files:
        extended = is_extended_file(rel)
        items = list(parse_file(text, user, None if extended else coverage))
        if extended:
            for p in items:
                if isinstance(p, Play):
                    coverage.add(p.played_at + dt.timedelta(milliseconds=p.ms_played))
        yield rel, items
