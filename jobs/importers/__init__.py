"""Importers: real listening-data exports -> the pipeline's input contract.

Run::

    python -m jobs.importers FORMAT SRC DEST [--force] [--user NAME] [--follow-links]
    make import FORMAT=... SRC=... DEST=... [FORCE=1]
    make run DATA=DEST WEEK=<the week the import suggests>

DEST receives ``raw/plays/plays-NNNNN.csv`` (``user_id, track_id, played_at, ms_played``, and for Spotify
``context``: where the play came from and whether it was skipped),
``catalog/tracks.csv``, ``catalog/artists.csv``, ``world.json`` (``publish_week``: the ISO
week after the last play), ``import_report.json`` (counts, skipped lines by reason with
the first examples and their file and line, the damaged files) and
``_import_manifest.json`` (the files the import wrote). It is written whole into a staging
folder beside DEST and renamed into place, so a failed import leaves nothing behind; a
non-empty DEST is refused (exit 2) unless ``--force``, and even then when it holds a file
the manifest does not list (someone else's), naming it. Bad lines never stop an import:
they are counted by reason. A truncated or damaged JSON file keeps the entries before the
damage; the rest is counted as lost, with the file and the offset, in the report and the
summary (a file damaged before anything could be read refuses the import). Files are read
as UTF-8 or UTF-16 (MovieLens's ``u.item``: Latin-1); any other byte refuses the import,
naming the file and its offset. Links under SRC that lead outside it are not followed
unless ``--follow-links``. The command prints a summary: the plays' dates and the week to
publish with its ``make run``, the entries damaged files lost, and, when the data starts
before ``ingest.service_start`` (ingest would quarantine those plays), which
``DW__INGEST__SERVICE_START=<date>`` to pass.

Formats (details in each module's docstring):

* ``spotify`` (:mod:`.spotify`): Spotify account-data exports, basic ``StreamingHistory*.json``
  and extended ``Streaming_History_Audio_*.json`` / ``endsong_*.json``; one export folder, or a
  folder of several people's (one listener per export folder, named after it); podcasts and
  audiobooks are skipped and counted.
* ``lastfm1k`` (:mod:`.lastfm1k`): the Last.fm 1K scrobbles TSV.
* ``listenbrainz`` (:mod:`.listenbrainz`): a ListenBrainz listens export (JSON lines or array).
* ``movielens`` (:mod:`.movielens`): MovieLens ``u.data`` + ``u.item`` or ``ratings.csv`` +
  ``movies.csv``; a rating is one play, each movie its own artist.

Id rule (:mod:`.records`). A real id wins when the source has one: ``sp_<id>`` for a Spotify
track URI/URL, ``mb_<mbid>`` for a MusicBrainz recording or artist id, ``ml_<id>`` /
``mla_<id>`` for a MovieLens movie and its artist. Otherwise ids come from the names, each
normalised as NFC, whitespace runs collapsed to one space, trimmed and case-folded::

    track_id  = "t_" + sha1(norm(artist) + "\\x1f" + norm(title)).hexdigest()[:16]
    artist_id = "a_" + sha1(norm(artist)).hexdigest()[:16]

so the same song gets the same id in every import, from every source that lacks real ids.
(A song seen both with and without a real id gets two ids.) Same input, same output bytes:
files are read sorted by path, plays are written in the source's order, catalog rows sorted
by id, and nothing depends on the clock or the machine.

Duration rule. ``ms_played`` is the source's own figure when it has one (Spotify). Sources
that only say a track was played (Last.fm scrobbles, ListenBrainz listens, MovieLens
ratings) get the track's length when the source gives it (ListenBrainz ``duration_ms``),
else the constant :data:`~.records.ASSUMED_MS_PLAYED` = 180 000 ms (3 minutes), above the
pipeline's 30 s skip threshold, so each counts as one play. Catalog ``duration_ms`` is the
length when the source gives it, else empty (the contract allows it; nothing in the pipeline
needs it). ``release_date`` is empty unless the source has it (MovieLens ``u.item``);
``audio_path`` is always empty (no audio: such tracks get no audio vector).
"""

FORMATS = ("spotify", "lastfm1k", "listenbrainz", "movielens")
