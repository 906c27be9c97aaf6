"""ListenBrainz listens export -> plays (format ``listenbrainz``).

SRC is an export file or a folder of them (every ``*.json`` / ``*.jsonl``, optionally
``.gz``, at any depth, sorted by path; the export's ``user.json``, ``feedback*`` and
``pinned_recording*`` files are not listens and are not read). A file is JSON lines, one
listen a line, or (when its first character is ``[``) one JSON array of listens. A listen::

    {"listened_at": 1700000000, "user_name": "alice",
     "track_metadata": {"artist_name": ..., "track_name": ..., "release_name": ...,
                        "additional_info": {"duration_ms": ..., "recording_mbid": ...,
                                            "artist_mbids": [...], "spotify_id": ...}}}

* ``listened_at`` (epoch seconds) is when the listen started: it is ``played_at``.
* The listener is ``user_name`` when the listen has one, else ``--user`` when given, else the
  file name without its extension and without a ``_lb-...`` suffix (``alice_lb-2024-01-01.json``
  -> ``alice``).
* Track id ``mb_<recording mbid>`` (``additional_info.recording_mbid``, else
  ``mbid_mapping.recording_mbid``), else ``sp_<id>`` of a Spotify track URL in ``spotify_id``,
  else derived from the names. Artist id ``mb_<mbid>`` when ``artist_mbids`` names exactly one
  artist (a credit of several keeps its name-derived id), else derived from the name.
* ``release_name`` is the album. ``duration_ms`` (or ``duration`` in seconds) is the track's
  length in the catalog; a listen has no length of its own, so ``ms_played`` is the track's
  length when known, else :data:`~jobs.importers.records.ASSUMED_MS_PLAYED` (3 minutes).

Skipped: ``malformed_json``, ``nested_too_deeply`` (a line nested deeper than Python reads),
``not_an_object``, ``missing_track_metadata``, ``bad_timestamp``, ``missing_user``,
``missing_artist_name``, ``missing_track_name``. A JSON array is read listen by listen
(:func:`~jobs.importers.records.json_array`): when it is truncated or damaged, the listens
before the damage are imported and the rest is counted as lost (``truncated_json``,
``malformed_json``, ``nested_too_deeply``, with the character offset).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from jobs.importers.records import (
    Play,
    Skipped,
    duration_value,
    from_epoch,
    int_value,
    json_array,
    make_play,
    mbid_ref,
)

NOT_LISTENS = ("user.json", "feedback", "pinned_recording")
LISTEN_KEYS = ('"listened_at"',)  # in every listen: counts the listens a damaged array lost
SPOTIFY_TRACK = re.compile(r"(?:open\.spotify\.com/track/|spotify:track:)([0-9A-Za-z]{22})")


def wanted(name: str) -> bool:
    """Is a file of this name (in a SRC folder) a listens file? The export's other files are not."""
    lower = name.lower()
    if lower.startswith(NOT_LISTENS):
        return False
    return lower.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz"))


def user_from_filename(name: str) -> str:
    """``alice_lb-2024-01-01.json`` -> ``alice``; ``listens.jsonl`` -> ``listens``."""
    stem = name.rsplit("/", 1)[-1]
    for ext in (".gz", ".jsonl", ".json"):
        stem = stem.removesuffix(ext)
    return re.split(r"_lb-", stem, maxsplit=1)[0]


def _refs(meta: dict[str, Any], info: dict[str, Any]) -> tuple[str, str]:
    mapping = meta.get("mbid_mapping") if isinstance(meta.get("mbid_mapping"), dict) else {}
    track = mbid_ref(info.get("recording_mbid")) or mbid_ref(mapping.get("recording_mbid"))
    if not track:
        match = SPOTIFY_TRACK.search(info.get("spotify_id") or "") if isinstance(info.get("spotify_id"), str) else None
        track = "sp_" + match.group(1) if match else ""
    artist = ""
    for mbids in (info.get("artist_mbids"), mapping.get("artist_mbids")):
        if isinstance(mbids, list) and len(mbids) == 1 and mbid_ref(mbids[0]):
            artist = mbid_ref(mbids[0])
            break
    return track, artist


def parse_listen(obj: Any, number: int, default_user: str, where: str = "line") -> Play | Skipped:
    """One listen -> a play (or why it is skipped)."""
    if not isinstance(obj, dict):
        return Skipped("not_an_object", number, obj, where)
    meta = obj.get("track_metadata")
    if not isinstance(meta, dict):
        return Skipped("missing_track_metadata", number, obj, where)
    info = meta.get("additional_info") if isinstance(meta.get("additional_info"), dict) else {}
    duration = duration_value(info.get("duration_ms"))
    if duration is None and int_value(info.get("duration")) is not None:
        duration = duration_value(int_value(info.get("duration")) * 1000)
    track_ref, artist_ref = _refs(meta, info)
    return make_play(
        obj.get("user_name") or default_user,
        meta.get("artist_name"),
        meta.get("track_name"),
        from_epoch(obj.get("listened_at")),
        None,
        line=number,
        raw=obj,
        where=where,
        album=meta.get("release_name"),
        duration_ms=duration,
        track_ref=track_ref,
        artist_ref=artist_ref,
    )


def parse_lines(lines: Iterable[str], default_user: str) -> Iterator[Play | Skipped]:
    """An export file's lines (JSON lines, or one JSON array) -> its plays and skipped listens."""
    it = iter(lines)
    head: list[str] = []
    for line in it:
        head.append(line)
        if line.strip():
            break
    if head and head[-1].lstrip().startswith("["):
        for got in json_array("".join([*head, *it]), LISTEN_KEYS):
            yield got if isinstance(got, Skipped) else parse_listen(got[1], got[0], default_user, "entry")
        return
    for number, line in enumerate(itertools.chain(head, it), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            yield Skipped("malformed_json", number, line)
            continue
        except RecursionError:
            yield Skipped("nested_too_deeply", number, line)
            continue
        yield parse_listen(obj, number, default_user)
