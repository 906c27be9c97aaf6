"""Closed vocabularies: every value a coded column of the warehouse may take, with its meaning.

One place for the words the jobs write and the checks and docs read: the ``source`` of a
playlist row, why an active listener has no playlist, why an audio file was rejected,
what happened to a crawled URL, where a play came from (``plays.context``) and why an
ingested row (a play or a save) was quarantined. A value that
carries a detail has a prefix form (``failed:<error>``); :func:`is_known` accepts both.

The lists in ARCHITECTURE.md are generated from here (``python -m schemas.vocab --write
ARCHITECTURE.md``) and a test fails when they drift.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# --- discover_weekly.source ---------------------------------------------------------------
ALS = "als"
AUDIO = "audio"
CULTURE = "culture"
POPULAR = "popular"
FALLBACK = "fallback"
SEQUENCE = "sequence"

# The parts of the blend's score, in the order the merge codes them (0, 1, 2, 3, 4): a row's
# source is the part that contributed most to its score (4: the popularity prior).
BLEND_SOURCES: tuple[str, ...] = (ALS, AUDIO, CULTURE, SEQUENCE, POPULAR)

PLAYLIST_SOURCES: dict[str, str] = {
    ALS: "collaborative filtering: the listener's ALS vector times the track's",
    AUDIO: "a track nobody has played yet, placed by the audio CNN's vector",
    CULTURE: "an artist the culture job finds similar to the listener's most played ones",
    SEQUENCE: "a song near the listener's taste vector: the RNN's guess at their next songs (word2vec space)",
    POPULAR: "popular with listeners this week: the popularity prior (merge.w_popularity) was the largest part "
    "of its score, or it fills a list the sources left short (score 0)",
    FALLBACK: "a flagged starter list for a listener with too little history (merge.thin_history = fallback)",
}

# --- why an active listener has no playlist (the pending folder's excluded.parquet) -------
THIN_HISTORY = "thin_history"
TOO_FEW_UNHEARD = "too_few_unheard_tracks"

EXCLUSION_REASONS: dict[str, str] = {
    THIN_HISTORY: "fewer than merge.min_plays counted plays and merge.thin_history = skip",
    TOO_FEW_UNHEARD: "the catalog holds fewer than merge.k tracks the listener has not played",
}

# --- audio_rejects.reason -------------------------------------------------------------------
NO_AUDIO = "no_audio"
OUTSIDE_DATA_ROOT = "outside_data_root"
MISSING_FILE = "missing_file"
EMPTY_FILE = "empty_file"
UNREADABLE = "unreadable"
CORRUPT = "corrupt"
CORRUPT_NON_FINITE = "corrupt:non_finite_samples"
TOO_SHORT = "too_short"
SILENT = "silent"
CRASHED_WORKER = "crashed_worker"
TIMED_OUT = "timed_out"
FAILED = "failed:"

AUDIO_REJECT_REASONS: dict[str, str] = {
    NO_AUDIO: "the catalog has no audio path for the track",
    OUTSIDE_DATA_ROOT: "the audio path is absolute or climbs out of the data folder with ..; never read",
    MISSING_FILE: "the path names no file",
    EMPTY_FILE: "0 bytes or 0 frames",
    UNREADABLE: "not an audio format the decoder knows",
    CORRUPT: "the header parses but decoding fails or stops short",
    CORRUPT_NON_FINITE: "NaN or infinite samples",
    TOO_SHORT: "shorter than audio.min_seconds",
    SILENT: "quieter than -70 dBFS",
    CRASHED_WORKER: "decoding it killed the worker process twice",
    TIMED_OUT: "over audio.clip_timeout_seconds, twice",
    FAILED + "<error>": "anything else, with the exception's name",
}

# --- pages.outcome --------------------------------------------------------------------------
# A hop the crawler is following: its own state, never written to ``pages``.
REDIRECT_HOP = "redirect"

# Pages whose text the culture job reads (and the next crawl revalidates).
USABLE_PAGE_OUTCOMES: tuple[str, ...] = ("ok", "not_modified")

CRAWL_OUTCOMES: dict[str, str] = {
    "ok": "fetched, HTML, main text extracted",
    "not_modified": "unchanged since last week (304); last week's text is kept",
    "duplicate_content": "the same main text as an earlier page of this run; kept without text",
    "robots_disallowed": "robots.txt forbids the path (a 5xx robots.txt forbids the host)",
    "not_allowed_host": "the host is outside the seeds' hosts",
    "private_address": "the name resolves to a non-global address, off its seed's own origin",
    "dns_error": "the name does not resolve",
    "unsupported_scheme": "neither http(s) nor file under a seed folder",
    "page_limit": "crawl.max_pages reached before this URL",
    "http_4xx": "a client error status (4xx)",
    "http_5xx": "a server error status (5xx), after crawl.max_retries retries",
    "timeout": "no complete response within the read deadline",
    "connection_error": "the connection failed or broke",
    "too_large": "over crawl.max_bytes",
    "not_html": "a content type other than HTML",
    "binary_content": "the body is not text whatever its header says",
    "redirect_loop": "a redirect back to a URL of the same chain",
    "too_many_redirects": "over crawl.max_redirects hops",
    "bad_redirect": "a redirect without a usable Location",
    "redirect_<outcome>": "a redirect hop refused by one of the rules above, e.g. redirect_robots_disallowed",
}

# --- plays.context ---------------------------------------------------------------------------
# Where a play came from, when the log says so (an optional raw column; null when it does not).
# Any short lower-case token is kept (the rule is jobs.warehouse.quarantine's); these are the ones
# the pipeline reads.
DISCOVER_WEEKLY_CONTEXT = "discover_weekly"
# a context ending so says the listener skipped the play (e.g. the Spotify importer's spotify.fwdbtn.skipped)
SKIPPED_CONTEXT_SUFFIX = ".skipped"

PLAY_CONTEXTS: dict[str, str] = {
    DISCOVER_WEEKLY_CONTEXT: "a play of a track shown in that week's Discover Weekly playlist",
    f"<context>{SKIPPED_CONTEXT_SUFFIX}": "a play the listener skipped, whatever its ms_played (e.g. "
    "spotify.clickrow.skipped from the Spotify importer, whose contexts are spotify.<reason_start>): ALS counts "
    "it as a skip, never as a play",
}

# --- quarantine.reason ------------------------------------------------------------------------
MALFORMED_CSV = "malformed_csv"
MALFORMED_JSON = "malformed_json"
BAD_ENCODING = "bad_encoding"
MISSING_USER_ID = "missing_user_id"
MISSING_TRACK_ID = "missing_track_id"
BAD_PLAYED_AT = "bad_played_at"
PLAYED_BEFORE_SERVICE_START = "played_before_service_start"
BAD_MS_PLAYED = "bad_ms_played"
NEGATIVE_MS_PLAYED = "negative_ms_played"
ABSURD_MS_PLAYED = "absurd_ms_played"
UNKNOWN_TRACK_ID = "unknown_track_id"
PLAYED_IN_FUTURE = "played_in_future"
BAD_POSITION = "bad_position"  # a playlist row (raw/playlists), set aside by the song_vectors job
BAD_CONTEXT = "bad_context"  # a play's optional context that is not a short lower-case token
# raw/saves rows (the same quarantine table; ids, encoding and parse errors share the plays' reasons)
BAD_SAVED_AT = "bad_saved_at"
SAVED_BEFORE_SERVICE_START = "saved_before_service_start"
SAVED_IN_FUTURE = "saved_in_future"
# prefixes: the reason is '<prefix>:<detail>' (the columns, the names, the error)
AMBIGUOUS_COLUMNS = "ambiguous_columns"
NON_SCALAR_VALUE = "non_scalar_value"
MISSING_COLUMNS = "missing_columns"
NON_SCALAR_COLUMN = "non_scalar_column"
UNREADABLE_PARQUET = "unreadable_parquet"
# not a quarantine reason: a row on or after the run's cutoff waits for a later week
AFTER_CUTOFF = "after_cutoff"
QUARANTINE_REASONS: dict[str, str] = {
    MALFORMED_CSV: "a CSV line that does not parse into the header's columns",
    MALFORMED_JSON: "a JSON line that is not an object",
    BAD_ENCODING: "the line is not valid in the file's encoding",
    MISSING_USER_ID: "no user id: empty, or NULL, None, NaN, N/A, -, \\N or undefined (any case)",
    MISSING_TRACK_ID: "no track id: empty, or NULL, None, NaN, N/A, -, \\N or undefined (any case)",
    BAD_PLAYED_AT: "played_at is neither epoch milliseconds nor an ISO-8601 time",
    PLAYED_BEFORE_SERVICE_START: "played before ingest.service_start",
    BAD_MS_PLAYED: "ms_played is not a whole number",
    NEGATIVE_MS_PLAYED: "ms_played below 0",
    ABSURD_MS_PLAYED: "ms_played above ingest.max_ms_played",
    UNKNOWN_TRACK_ID: "the track is not in the catalog",
    PLAYED_IN_FUTURE: "more than ingest.max_future_days after the run's cutoff",
    BAD_CONTEXT: "a play's context that is not a short lower-case token after trimming (a letter, then up to 63 "
    "of a-z 0-9 _ : . -), e.g. Discover Weekly or DISCOVER_WEEKLY; an empty one, or NULL, None, NaN, N/A, -, \\N, "
    "undefined (any case), is no context (null)",
    BAD_SAVED_AT: "a save (raw/saves) whose saved_at is neither epoch milliseconds nor an ISO-8601 time",
    SAVED_BEFORE_SERVICE_START: "a save before ingest.service_start",
    SAVED_IN_FUTURE: "a save more than ingest.max_future_days after the run's cutoff",
    BAD_POSITION: "a playlist row whose position is not a whole number from 1 to 1,000,000 (e.g. x, 0, 1.5, inf, "
    "1e30); counted in song_vectors' metrics with its file and line",
    f"{AMBIGUOUS_COLUMNS}:<names>": "a file (a JSON line) with two columns (keys) of a field whose names differ only "
    "in case, e.g. ms_played+MS_PLAYED; a Parquet file with any such pair",
    f"{NON_SCALAR_VALUE}:<cols>": "a JSON line whose field holds an array or an object",
    f"{MISSING_COLUMNS}:<cols>": "a whole file without a required column",
    f"{NON_SCALAR_COLUMN}:<cols>": "a whole Parquet file whose field is a list, struct or map column",
    f"{UNREADABLE_PARQUET}:<error>": "a whole Parquet file that cannot be read; the error is the innermost Java "
    "(or pyarrow) exception's class, e.g. ArrowInvalid for a file that is not Parquet",
}

VOCABULARIES: dict[str, tuple[str, dict[str, str]]] = {
    "playlist_sources": ("`discover_weekly.source`", PLAYLIST_SOURCES),
    "exclusion_reasons": (
        "why an active listener has no playlist (`excluded.parquet` of the pending week)",
        EXCLUSION_REASONS,
    ),
    "audio_reject_reasons": ("`audio_rejects.reason`", AUDIO_REJECT_REASONS),
    "crawl_outcomes": ("`pages.outcome`", CRAWL_OUTCOMES),
    "play_contexts": (
        "`plays.context` (known values; any other short lower-case token is kept as it is)",
        PLAY_CONTEXTS,
    ),
    "quarantine_reasons": ("`quarantine.reason`", QUARANTINE_REASONS),
}


def _pattern(value: str) -> re.Pattern[str]:
    """``http_<status>`` -> ``http_.+``; plain values match themselves."""
    parts = re.split(r"<[^>]+>", value)
    return re.compile(".+".join(re.escape(p) for p in parts) + "$")


def is_known(vocabulary: dict[str, str], value: str) -> bool:
    """Whether ``value`` is one of ``vocabulary``'s words, detail forms included."""
    return value in vocabulary or any(_pattern(v).match(value) for v in vocabulary if "<" in v)


BEGIN, END = "<!-- vocab:begin (python -m schemas.vocab --write ARCHITECTURE.md) -->", "<!-- vocab:end -->"


def markdown() -> str:
    """Every vocabulary as Markdown lists."""
    out = []
    for title, values in VOCABULARIES.values():
        out.append(f"**{title[0].upper()}{title[1:]}**\n")
        out += [f"- `{value}`: {meaning}" for value, meaning in values.items()]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_into(text: str) -> str:
    """``text`` with the block between the vocab markers replaced by :func:`markdown`."""
    head, sep, rest = text.partition(BEGIN)
    if not sep or END not in rest:
        raise ValueError(f"markers {BEGIN!r} ... {END!r} not found")
    return head + BEGIN + "\n" + markdown() + END + rest.split(END, 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the vocabularies, or rewrite their block in a Markdown file.")
    parser.add_argument("--write", type=Path, help="Markdown file holding the vocab markers")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(render_into(args.write.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
