"""Command line of the importers (the only part that reads files); see :mod:`jobs.importers`.

    python -m jobs.importers FORMAT SRC DEST [--force] [--user NAME] [--follow-links]

Reads SRC in FORMAT (spotify, lastfm1k, listenbrainz, movielens), writes the input contract
into DEST and prints a summary: the counts, the plays' dates and the week to publish with
the ``make run`` that builds it, then the entries damaged files lost (by file, reason and
offset), the links not followed, the skipped lines by reason. Exit codes: 0 imported; 1
nothing to import (every line skipped: nothing is written, the reasons are printed); 2
refused, with one line saying why (SRC missing or without files of the format, DEST not
empty without ``--force``, or with ``--force`` holding files the last import did not write,
DEST and SRC overlapping, a file that is not UTF-8 or UTF-16, a file damaged before anything
in it could be read, a bad argument).

Text. Every file is decoded by :func:`_lines`: UTF-8 (with or without a byte-order mark) or
UTF-16 with one (LE or BE); MovieLens's ``u.item`` is Latin-1 by the data set's definition.
A byte that is not valid there refuses the import naming the file and the byte offset:
nothing is ever replaced by U+FFFD.

Links. A symbolic link under SRC that leads outside it (a file, or a folder) is not followed:
it is counted as ``link_outside_src`` by its name (never its content) unless
``--follow-links``; then the report quotes nothing of the files it reads there. Links to
folders inside SRC are not followed (their files are read where they are).
"""

from __future__ import annotations

import argparse
import codecs
import dataclasses
import datetime as dt
import gzip
import io
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from jobs.importers import FORMATS, lastfm1k, listenbrainz, movielens, spotify
from jobs.importers.contract import ImportRefusedError, NothingImportedError, Sources, check_paths, write_contract
from jobs.importers.records import ASSUMED_MS_PLAYED, Play, Skipped
from schemas.columns import MS_PLAYED

BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
LINK_OUTSIDE = "link_outside_src"
NAMED_IN_SUMMARY = 5


def _open_bytes(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # type: ignore[return-value]


def _lines(path: Path, encoding: str | None = None) -> Iterator[str]:
    """A text file's lines (newlines kept), opened only when first read.

    Decoded as ``encoding`` when given, else by the byte-order mark: UTF-16 LE or BE, else
    UTF-8 (the mark is dropped). A byte that is not valid raises :class:`ImportRefusedError`
    naming the file and the byte's offset, and so does a file whose first two bytes look like
    UTF-16 without the mark (one of them 0x00).
    """
    raw = _open_bytes(path)
    start = 0
    try:
        try:
            raw.peek(1) if hasattr(raw, "peek") else None  # a file that is not gzip fails here
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ImportRefusedError(f"{path}: not a whole gzip file ({exc}); export it again") from None
        if encoding is None:
            head = raw.peek(4)[:4]  # type: ignore[attr-defined]
            bom, encoding = next(((b, e) for b, e in BOMS if head.startswith(b)), (b"", "utf-8"))
            start = len(raw.read(len(bom)))
            if not bom and len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
                raise ImportRefusedError(
                    f"{path}: byte 0x00 at byte offset {head.index(0)}: UTF-16 without a byte-order mark? "
                    "(the importers read UTF-8, with or without one, and UTF-16 with one); re-save the file as UTF-8"
                )
        text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
    except BaseException:
        raw.close()
        raise
    with text:
        try:
            yield from text
        except UnicodeDecodeError:
            raise ImportRefusedError(_undecodable(path, encoding, start)) from None
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ImportRefusedError(f"{path}: not a whole gzip file ({exc}); export it again") from None


def _undecodable(path: Path, encoding: str, start: int) -> str:
    """Why ``path`` cannot be read as ``encoding`` (its text starting at byte ``start``): the first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    name = "UTF-16" if encoding.startswith("utf-16") else encoding.upper()
    where = " of its decompressed bytes" if path.suffix == ".gz" else ""
    with _open_bytes(path) as raw:
        fed = len(raw.read(start))
        while True:
            chunk = raw.read(1 << 16)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                offset, byte = fed - pending + exc.start, exc.object[exc.start]
                return (
                    f"{path}: byte 0x{byte:02X} at byte offset {offset}{where} is not {name} (the importers read "
                    "UTF-8, with or without a byte-order mark, and UTF-16 with one); re-save the file as UTF-8"
                )
            if not chunk:
                return f"{path}: not {name}"
            fed += len(chunk)


def _read_text(path: Path) -> str:
    """A whole text file, decoded as :func:`_lines` does."""
    return "".join(_lines(path))


class Tree:
    """SRC as the readers see it: which files to read, and the links leading outside it left unread."""

    def __init__(self, src: Path, follow_links: bool = False) -> None:
        self.src, self.follow_links = src, follow_links
        self.root = src.resolve()
        self.links_skipped: list[str] = []  # links to outside SRC, by path below it (a folder ends in "/")
        self.outside_read: set[str] = set()  # files read through such a link (--follow-links)

    def _outside(self, path: Path) -> bool:
        return not path.resolve().is_relative_to(self.root)

    def files(self, wanted: Callable[[str], bool], recursive: bool = True) -> tuple[Path, list[str]]:
        """``(base, paths relative to base)``: SRC itself when a file, else its wanted files, sorted.

        Names starting with ``.`` are not read, at any depth.
        """
        if self.src.is_file():
            return self.src.parent, [self.src.name]
        rels: list[str] = []
        seen: set[Path] = set()
        found: list[tuple[str, Path]] = []  # (path below SRC, the file it resolves to)
        for folder, dirs, names in os.walk(self.src, followlinks=True):
            here = Path(folder)
            real = here.resolve()
            if real in seen:  # a loop of links
                dirs[:] = []
                continue
            seen.add(real)
            keep = []
            for d in sorted(dirs) if recursive else ():
                path = here / d
                if d.startswith("."):
                    continue
                if not path.is_symlink():
                    keep.append(d)
                elif self._outside(path):
                    if self.follow_links:
                        keep.append(d)
                    else:
                        self.links_skipped.append(path.relative_to(self.src).as_posix() + "/")
                # a link to a folder inside SRC is not followed: its files are read where they are
            dirs[:] = keep
            for name in names:
                path = here / name
                if name.startswith(".") or not wanted(name) or not path.is_file():
                    continue
                rel = path.relative_to(self.src).as_posix()
                if self._outside(path):
                    if not self.follow_links:
                        self.links_skipped.append(rel)
                        continue
                    self.outside_read.add(rel)
                found.append((rel, path.resolve()))
        read: set[Path] = set()  # a file reached by two paths (a link to it) is read once, by the first path
        for rel, real in sorted(found):
            if real not in read:
                read.add(real)
                rels.append(rel)
        self.links_skipped.sort()
        return self.src, sorted(rels)

    def sources(self, sources: Sources) -> Sources:
        """The links left unread (one skip each), then ``sources``, unquoted for files outside SRC."""
        for rel in self.links_skipped:
            note = "a link to outside SRC: not read (--follow-links reads it)"
            yield rel, [Skipped(LINK_OUTSIDE, 0, note, where="")]
        for rel, items in sources:
            yield rel, (_unquoted(items) if rel in self.outside_read else items)


def _unquoted(items: Iterable[Play | Skipped]) -> Iterator[Play | Skipped]:
    note = "(not quoted: the file lies outside SRC)"
    for item in items:
        quoted = isinstance(item, Skipped) and item.where != "offset"  # damage says where, not what
        yield dataclasses.replace(item, raw=note) if quoted else item


def _spotify(tree: Tree, user: str | None) -> Sources:
    src = tree.src
    base, rels = tree.files(spotify.is_history_file)
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
            yield from spotify.parse_export(listener, ((rel, _read_text(base / rel)) for rel in files))

    return sources()


def _lastfm1k(tree: Tree, user: str | None) -> Sources:
    base, rels = tree.files(lastfm1k.wanted)
    if not rels:
        raise ImportRefusedError(f"{tree.src}: no Last.fm 1K scrobble file (*.tsv)")
    return ((rel, lastfm1k.parse_lines(_lines(base / rel))) for rel in rels)


def _listenbrainz(tree: Tree, user: str | None) -> Sources:
    base, rels = tree.files(listenbrainz.wanted)
    if not rels:
        raise ImportRefusedError(f"{tree.src}: no ListenBrainz export (*.json, *.jsonl)")
    return (
        (rel, listenbrainz.parse_lines(_lines(base / rel), user or listenbrainz.user_from_filename(rel)))
        for rel in rels
    )


def _movielens(tree: Tree, user: str | None) -> Sources:
    src = tree.src
    if src.is_file():
        base, ratings = src.parent, src.name
        item_file = "movies.csv" if src.suffix == ".csv" else "u.item"
        if not (base / item_file).is_file():
            raise ImportRefusedError(f"{src} needs {item_file} beside it (the titles)")
    else:
        base, names = tree.files(movielens.FILES.__contains__, recursive=False)
        try:
            ratings, item_file = movielens.choose(names)
        except ValueError as exc:
            raise ImportRefusedError(f"{src}: {exc}") from None

    def sources() -> Sources:
        items_text = _lines(base / item_file, movielens.ITEM_ENCODING.get(item_file))
        if item_file == "u.item":
            items, bad = movielens.parse_uitem(items_text)
            parse = movielens.parse_udata
        else:
            items, bad = movielens.parse_movies_csv(items_text)
            parse = movielens.parse_ratings_csv
        if bad:
            yield item_file, bad
        yield ratings, parse(_lines(base / ratings), items)

    return sources()


READERS: dict[str, Callable[[Tree, str | None], Sources]] = {
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


def _named(names: list[str]) -> str:
    more = len(names) - NAMED_IN_SUMMARY
    return ", ".join(names[:NAMED_IN_SUMMARY]) + (f" and {more} more" if more > 0 else "")


def summary(report: dict[str, Any], dest: str, seconds: float) -> str:
    """The lines printed after an import."""
    ms, start, week = report[MS_PLAYED], report["service_start"], report["publish_week"]
    prefix = start["setting"] + " " if start["plays_before"] else ""
    lines = [
        f"imported {report['format']} {report['source']} -> {dest} in {seconds:.2f} s",
        f"  {report['listeners']} listeners, {report['plays']} plays, {report['tracks']} tracks, "
        f"{report['artists']} artists",
        f"  plays {report['first_play'][:10]} .. {report['last_play'][:10]} UTC; the latest week to publish: "
        f"{week} ({prefix}make run DATA={dest} WEEK={week})",
    ]
    damaged = report["damaged_files"]
    for d in damaged[:NAMED_IN_SUMMARY]:
        n = d["entries_lost"]
        lines.append(
            f"  lost: {n} {'entry' if n == 1 else 'entries'} of {d['file']} ({d['text']}); "
            "the plays and the week above come from the entries before it"
        )
    if len(damaged) > NAMED_IN_SUMMARY:
        lines.append(f"  lost: and in {len(damaged) - NAMED_IN_SUMMARY} more files (import_report.json: damaged_files)")
    links = [f for f, s in report["files"].items() if LINK_OUTSIDE in s["skipped"]]
    if links:
        n = len(links)
        lines.append(
            f"  not read: {n} link{'s' * (n != 1)} to outside SRC: {_named(links)} (--follow-links reads them)"
        )
    lines.append(f"  skipped: {_skipped(report)} (examples in {dest}/import_report.json)")
    if ms["duration"]:
        lines.append(f"  ms_played: the track's length for {ms['duration']} plays (the source gives no play length)")
    if ms["assumed"]:
        lines.append(f"  ms_played: {ASSUMED_MS_PLAYED} ms assumed for {ms['assumed']} plays (no length known)")
    if start["plays_before"]:
        lines.append(
            f"  note: the data starts on {report['first_play'][:10]}, before ingest.service_start "
            f"{start['configured']}: ingest would quarantine {start['plays_before']} plays as "
            f"played_before_service_start; pass {start['setting']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.importers", description="Turn a listening-data export into the input contract."
    )
    parser.add_argument("format", choices=FORMATS)
    parser.add_argument("src", help="the export: a file or a folder")
    parser.add_argument("dest", help="the data folder to write (then: make run DATA=DEST)")
    parser.add_argument(
        "--force", action="store_true", help="replace DEST when it is not empty (only a folder an import wrote)"
    )
    parser.add_argument(
        "--user", help="listener id for a single Spotify export, or for ListenBrainz files without user_name"
    )
    parser.add_argument(
        "--follow-links", action="store_true", help="also read files that links under SRC lead to outside SRC"
    )
    args = parser.parse_args(argv)
    src, dest = Path(args.src), Path(args.dest)
    from jobs.config import ConfigError

    t0 = time.perf_counter()
    tree = Tree(src, args.follow_links)
    try:
        if args.user and args.format not in ("spotify", "listenbrainz"):
            raise ImportRefusedError(f"--user applies to spotify and listenbrainz, not {args.format}")
        check_paths(src, dest, args.force)
        try:
            sources = READERS[args.format](tree, args.user)
        except ImportRefusedError as exc:
            if tree.links_skipped:
                raise ImportRefusedError(
                    f"{exc} (links to outside SRC not followed: {_named(tree.links_skipped)}; "
                    "--follow-links follows them)"
                ) from None
            raise
        report = write_contract(
            dest,
            tree.sources(sources),
            fmt=args.format,
            source=args.src,
            service_start=service_start(),
            force=args.force,
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
