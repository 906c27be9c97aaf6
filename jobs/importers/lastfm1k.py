"""Last.fm 1K scrobbles -> plays (format ``lastfm1k``).

The data set of Ò. Celma (992 listeners, 2005-2009) is one tab-separated file without a
header, ``userid-timestamp-artid-artname-traid-traname.tsv``::

    user_000001 \\t 2009-05-04T23:08:57Z \\t <artist mbid> \\t <artist name> \\t <track mbid> \\t <track name>

SRC is that file, or a folder: every ``*.tsv`` (optionally ``.gz``) in it whose name does not
contain ``profile`` (``userid-profile.tsv`` describes the listeners, not their plays).

* The timestamp is when the scrobbled track started: it is ``played_at``.
* The user id is kept as it is (``user_000001``).
* Track id ``mb_<track mbid>`` and artist id ``mb_<artist mbid>`` when the mbid is there (a
  UUID; often empty), else derived from the names (see :mod:`jobs.importers`).
* A scrobble has no duration, and the data set gives no track lengths: ``ms_played`` is
  :data:`~jobs.importers.records.ASSUMED_MS_PLAYED` (180 000 ms, 3 minutes), comfortably above
  the pipeline's 30 s skip threshold, as Last.fm scrobbles only plays past 30 s (and half the
  track or 4 minutes). Catalog ``duration_ms`` stays empty.

Lines skipped: ``malformed_line`` (not six tab-separated fields), ``missing_user``,
``missing_artist_name``, ``missing_track_name``, ``bad_timestamp``. Empty lines are ignored.
A file that is not UTF-8 (or UTF-16 with a byte-order mark) refuses the import, naming the
byte offset (see :mod:`jobs.importers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from jobs.importers.records import Play, Skipped, from_iso, make_play, mbid_ref


def wanted(name: str) -> bool:
    """Is a file of this name (in a SRC folder) a scrobble log?"""
    lower = name.lower()
    return lower.endswith((".tsv", ".tsv.gz")) and "profile" not in lower


def parse_line(line: str, number: int) -> Play | Skipped | None:
    """One TSV line -> a play, the reason it is skipped, or None for an empty line."""
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    fields = text.split("\t")
    if len(fields) != 6:
        return Skipped("malformed_line", number, text)
    user, ts, artist_mbid, artist, track_mbid, title = fields
    return make_play(
        user,
        artist,
        title,
        from_iso(ts),
        None,
        line=number,
        raw=text,
        track_ref=mbid_ref(track_mbid),
        artist_ref=mbid_ref(artist_mbid),
    )


def parse_lines(lines: Iterable[str]) -> Iterator[Play | Skipped]:
    """A scrobble file's lines -> its plays and skipped lines (numbered from 1)."""
    for number, line in enumerate(lines, start=1):
        item = parse_line(line, number)
        if item is not None:
            yield item
