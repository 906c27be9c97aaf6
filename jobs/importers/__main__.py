"""Command line of the importers (the only part that reads files); see :mod:`jobs.importers`.

    python -m jobs.importers FORMAT SRC DEST [--force] [--user NAME]

Reads SRC in FORMAT (spotify, lastfm1k, listenbrainz, movielens), writes the input contract
into DEST and prints a summary. Exit codes: 0 imported; 1 nothing to import (every line
skipped: nothing is written, the reasons are printed); 2 refused, with one line saying why
(SRC missing or without files of the format, DEST not empty without ``--force``, DEST and
SRC overlapping, a bad argument).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from jobs.importers import FORMATS, lastfm1k, listenbrainz, movielens, spotify
from jobs.importers.contract import ImportRefusedError, NothingImportedError, Sources, check_paths, write_contract
from jobs.importers.records import ASSUMED_MS_PLAYED
from schemas.columns import MS_PLAYED


def _open_text(path: Path, encoding: str) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, errors="replace", newline="")
    return path.open(encoding=encoding, errors="replace", newline="")


def _lines(path: Path, encoding: str = "utf-8-sig") -> Iterator[str]:
    """A text file's lines, opened only when first read (undecodable bytes become U+FFFD)."""
    with _open_text(path, encoding) as fh:
        yield from fh


def _files(src: Path, wanted: Callable[[str], bool]) -> tuple[Path, list[str]]:
    """``(base, paths relative to base)``: SRC itself when a file, else its wanted files, sorted."""
    if src.is_file():
        return src.parent, [src.name]
    rels = []
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.is_file() and wanted(path.name) and not any(p.startswith(".") for p in rel.parts):
            rels.append(rel.as_posix())
    return src, sorted(rels)


def _spotify(src: Path, user: str | None) -> Sources:
    base, rels = _files(src, spotify.is_history_file)
    plan = [(spotify.listener_id(base.name), rels)] if src.is_file() else spotify.plan(rels, base.name)
    if not plan:
        raise ImportRefusedError(
            f"{src}: no Spotify history (StreamingHistory*.json, Streaming_History_*.json, endsong*.json)"
        )
    if user:
        if len(plan) > 1:
            raise ImportRefusedError(f"--user names one listener, but {src} holds {len(plan)} exports")
        plan = [(user, plan[0][1])]

    def sources() -> Sources:
        for listener, files in plan:
            texts = ((rel, (base / rel).read_text(encoding="utf-8-sig", errors="replace")) for rel in files)
            yield from spotify.parse_export(listener, texts)

    return sources()


def _lastfm1k(src: Path, user: str | None) -> Sources:
    base, rels = _files(src, lastfm1k.wanted)
    if not rels:
        raise ImportRefusedError(f"{src}: no Last.fm 1K scrobble file (*.tsv)")
    return ((rel, lastfm1k.parse_lines(_lines(base / rel))) for rel in rels)


def _listenbrainz(src: Path, user: str | None) -> Sources:
    base, rels = _files(src, listenbrainz.wanted)
    if not rels:
        raise ImportRefusedError(f"{src}: no ListenBrainz export (*.json, *.jsonl)")
    return (
        (rel, listenbrainz.parse_lines(_lines(base / rel), user or listenbrainz.user_from_filename(rel)))
        for rel in rels
    )


def _movielens(src: Path, user: str | None) -> Sources:
    if src.is_file():
        base, ratings = src.parent, src.name
        item_file = "movies.csv" if src.suffix == ".csv" else "u.item"
        if not (base / item_file).is_file():
            raise ImportRefusedError(f"{src} needs {item_file} beside it (the titles)")
    else:
        base = src
        try:
            ratings, item_file = movielens.choose(p.name for p in src.iterdir() if p.is_file())
        except ValueError as exc:
            raise ImportRefusedError(f"{src}: {exc}") from None

    def sources() -> Sources:
        if item_file == "u.item":
            items, bad = movielens.parse_uitem(_lines(base / item_file, "latin-1"))
            parse = movielens.parse_udata
        else:
            items, bad = movielens.parse_movies_csv(_lines(base / item_file))
            parse = movielens.parse_ratings_csv
        if bad:
            yield item_file, bad
        yield ratings, parse(_lines(base / ratings), items)

    return sources()


READERS: dict[str, Callable[[Path, str | None], Sources]] = {
    "spotify": _spotify,
    "lastfm1k": _lastfm1k,
    "listenbrainz": _listenbrainz,
    "movielens": _movielens,
}


def service_start() -> dt.date:
    """``ingest.service_start`` as the pipeline will see it (conf/pipeline.yaml, DW_CONF, DW__INGEST__...)."""
    from jobs.config import load_config

    return dt.date.fromisoformat(load_config().ingest.service_start)


def _skipped(report: dict[str, Any]) -> str:
    return ", ".join(f"{r}={n}" for r, n in report["skipped"].items()) or "nothing"


def summary(report: dict[str, Any], dest: str, seconds: float) -> str:
    """The lines printed after an import."""
    ms, start, week = report[MS_PLAYED], report["service_start"], report["publish_week"]
    lines = [
        f"imported {report['format']} {report['source']} -> {dest} in {seconds:.2f} s",
        f"  {report['listeners']} listeners, {report['plays']} plays, {report['tracks']} tracks, "
        f"{report['artists']} artists",
        f"  plays from {report['first_play']} to {report['last_play']}",
        f"  skipped: {_skipped(report)} (examples in {dest}/import_report.json)",
    ]
    if ms["duration"]:
        lines.append(f"  ms_played: the track's length for {ms['duration']} plays (the source gives no play length)")
    if ms["assumed"]:
        lines.append(f"  ms_played: {ASSUMED_MS_PLAYED} ms assumed for {ms['assumed']} plays (no length known)")
    prefix = ""
    if start["plays_before"]:
        lines.append(
            f"  note: the data starts on {report['first_play'][:10]}, before ingest.service_start "
            f"{start['configured']}: ingest would quarantine {start['plays_before']} plays as "
            f"played_before_service_start; pass {start['setting']}"
        )
        prefix = start["setting"] + " "
    lines.append(f"  next: {prefix}make run DATA={dest} WEEK={week}  (world.json: publish_week {week})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.importers", description="Turn a listening-data export into the input contract."
    )
    parser.add_argument("format", choices=FORMATS)
    parser.add_argument("src", help="the export: a file or a folder")
    parser.add_argument("dest", help="the data folder to write (then: make run DATA=DEST)")
    parser.add_argument("--force", action="store_true", help="replace DEST even when it is not empty")
    parser.add_argument(
        "--user", help="listener id for a single Spotify export, or for ListenBrainz files without user_name"
    )
    args = parser.parse_args(argv)
    src, dest = Path(args.src), Path(args.dest)
    from jobs.config import ConfigError

    t0 = time.perf_counter()
    try:
        if args.user and args.format not in ("spotify", "listenbrainz"):
            raise ImportRefusedError(f"--user applies to spotify and listenbrainz, not {args.format}")
        check_paths(src, dest, args.force)
        sources = READERS[args.format](src, args.user)
        report = write_contract(
            dest, sources, fmt=args.format, source=args.src, service_start=service_start(), force=args.force
        )
    except (ImportRefusedError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NothingImportedError as exc:
        print(f"error: no plays found in {args.src}; skipped: {_skipped(exc.report)}; nothing written", file=sys.stderr)
        return 1
    print(summary(report, args.dest, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
