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
  ``audiobook``. ``reason_end``, ``skipped`` and ``shuffle`` are not in the contract: how
  long a play lasted (``ms_played``) already tells a skip (under 30 s) from a play.

Listeners. SRC is one person's export, or a folder of several people's export folders. The
listener of a file is the first folder on its path below SRC that is not one of Spotify's
own folder names (``MyData``, ``my_spotify_data``, ``Spotify Account Data``, ``Spotify
Extended Streaming History``, ``Spotify Technical Log Information``); when there is none,
it is SRC's own name. The id is that name NFKC-normalised, case-folded, every run of
characters other than letters, digits, ``.`` and ``-`` turned into ``_``
(``Alice Smith`` -> ``alice_smith``); two folders whose names give the same id are one
listener. ``--user`` names the listener of a single export instead.

One person's export may hold both histories; they overlap. The extended files are read
first, and a basic entry that ended at or before the last extended play's end is skipped
as ``covered_by_extended`` (the extended history has it, with its real track id).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from jobs.importers.records import Play, Skipped, from_iso, int_value, make_play
from schemas.columns import MS_PLAYED

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


def track_ref(uri: Any) -> str:
    """``sp_<id>`` for ``spotify:track:<id>``, else empty."""
    match = TRACK_URI.match(uri) if isinstance(uri, str) else None
    return "sp_" + match.group(1) if match else ""


def parse_entry(entry: Any, number: int, user: str, covered_until: dt.datetime | None = None) -> Play | Skipped:
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
    elif "endTime" in entry:
        if "podcastName" in entry or "episodeName" in entry:
            return Skipped("podcast", number, entry, "entry")
        end, ms = from_iso(entry["endTime"]), int_value(entry.get("msPlayed"))
        artist, title, album, ref = entry.get("artistName"), entry.get("trackName"), "", ""
        if end is not None and covered_until is not None and end <= covered_until:
            return Skipped("covered_by_extended", number, entry, "entry")
    else:
        return Skipped("unknown_entry", number, entry, "entry")
    if end is None:
        return Skipped("bad_timestamp", number, entry, "entry")
    if ms is None:
        return Skipped("bad_ms_played", number, entry, "entry")
    start = end - dt.timedelta(milliseconds=ms)
    return make_play(user, artist, title, start, ms, line=number, raw=entry, where="entry", album=album, track_ref=ref)


def parse_file(text: str, user: str, covered_until: dt.datetime | None = None) -> Iterator[Play | Skipped]:
    """A history file's text (a JSON array of entries) -> its plays and skipped entries."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.splitlines()
        yield Skipped("malformed_json", exc.lineno, lines[exc.lineno - 1] if exc.lineno <= len(lines) else "")
        return
    if not isinstance(entries, list):
        yield Skipped("not_a_history_array", 1, text[:100])
        return
    for number, entry in enumerate(entries, start=1):
        yield parse_entry(entry, number, user, covered_until)


def parse_export(user: str, files: Iterable[tuple[str, str]]) -> Iterator[tuple[str, list[Play | Skipped]]]:
    """One listener's ``(path, text)`` files, extended first (see :func:`plan`) -> items per file.

    Basic entries that ended by the last extended play's end are skipped as covered.
    """
    covered: dt.datetime | None = None
    for rel, text in files:
        extended = is_extended_file(rel)
        items = list(parse_file(text, user, None if extended else covered))
        if extended:
            ends = [p.played_at + dt.timedelta(milliseconds=p.ms_played) for p in items if isinstance(p, Play)]
            covered = max([*ends, covered] if covered else ends, default=None)
        yield rel, items
