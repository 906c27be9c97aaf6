"""The input contract's writer, shared by every importer.

Takes ``(file label, items)`` pairs, where the items are the :class:`~jobs.importers.records.Play`
and :class:`~jobs.importers.records.Skipped` a format module made of that file. Gives each
play its ids (a real id when the source has one, else one derived from the names; the rule
is in :mod:`jobs.importers`), gathers the catalog from what was seen, and writes, into a
staging folder beside ``DEST`` that is renamed into place only once everything is written::

    DEST/raw/plays/plays-00001.csv   user_id, track_id, played_at, ms_played [, context] (1,000,000 rows a file)
    DEST/catalog/tracks.csv          track_id, title, artist_id, album, release_date, duration_ms, audio_path
    DEST/catalog/artists.csv         artist_id, name
    DEST/import_report.json          counts, skipped lines by reason with the first examples, per file,
                                     and the damaged files (where the damage is, entries lost)
    DEST/world.json                  {"publish_week": the ISO week after the last play, ...}
    DEST/_import_manifest.json       {"files": every file above, by its path in DEST}

``played_at`` is the play's start, UTC, to the second (``2024-01-31T23:56:00Z``). The plays
files of a format whose plays may say where they came from (:data:`CONTEXT_FORMATS`: ``spotify``)
have the contract's optional ``context`` column too, in every file of the import, empty for a play
without one (ingest reads an empty context as null); the other formats' files have the four
columns. Plays keep
the source's order (files sorted by path, lines in order); catalog rows are sorted by id; so
the same input gives the same bytes. A track's catalog row (title, artist) comes from its
first sighting; album, release date and duration left empty there are filled from later
sightings. Only artists of catalog tracks are listed.

Damage (a :class:`~jobs.importers.records.Skipped` with ``where="offset"``) counts the entries
it lost under its reason and is listed in the report's ``damaged_files``; a file damaged
before anything in it could be read refuses the import (:class:`ImportRefusedError`, naming
the file and where), since the whole file would be lost.

The manifest is what ``--force`` goes by: a non-empty DEST is replaced only when every file
in it is one the manifest lists (or the manifest itself), i.e. DEST is a previous import
untouched but for edits; a file of anyone else's refuses the import, naming it. Its name
starts with ``_``, which every reader of a data folder skips (it is not under ``raw/plays``
or ``catalog`` either).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jobs.importers.records import Play, Skipped, derived_artist_id, derived_track_id, format_time
from jobs.warehouse.atomic import LockTimeoutError, exclusive_lock, staged, sweep_dead_writers
from jobs.warehouse.weeks import shift, week_of
from schemas.columns import ARTIST_ID, AUDIO_PATH, CONTEXT, MS_PLAYED, PLAYED_AT, REASON, SOURCE, TRACK_ID, USER_ID

PLAYS_PER_FILE = 1_000_000
EXAMPLES_PER_REASON = 5
MANIFEST = "_import_manifest.json"
FOREIGN_NAMED = 3  # foreign files named when --force is refused
PLAY_COLUMNS = (USER_ID, TRACK_ID, PLAYED_AT, MS_PLAYED)
# formats whose plays may carry a context (records.Play.context): their plays files get the column
CONTEXT_FORMATS = frozenset({"spotify"})
TRACK_COLUMNS = (TRACK_ID, "title", ARTIST_ID, "album", "release_date", "duration_ms", AUDIO_PATH)
ARTIST_COLUMNS = (ARTIST_ID, "name")
# never copied into the report's examples (Spotify's extended history carries them)
PRIVATE_KEYS = frozenset(
    {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username", "conn_country", "platform"}
)

Sources = Iterable[tuple[str, Iterable[Play | Skipped]]]


class ImportRefusedError(Exception):
    """The import cannot start or must not write (exit 2); the message says what to do."""


class NothingImportedError(Exception):
    """Every line was skipped, so nothing is written (exit 1); ``report`` holds the counts."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__("no plays found")
        self.report = report


class Collector:
    """Ids, catalog and counts of the plays seen so far; :meth:`add` gives each play's row."""

    def __init__(self, service_start: dt.date) -> None:
        self.service_start = dt.datetime.combine(service_start, dt.time(0), tzinfo=dt.UTC)
        self.tracks: dict[str, list[Any]] = {}  # id -> [title, artist_id, album, release_date, duration_ms]
        self.artists: dict[str, str] = {}
        self.users: set[str] = set()
        self.plays = 0
        self.before_service_start = 0
        self.ms_sources: Counter[str] = Counter()
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None
        self.skipped: Counter[str] = Counter()
        self.examples: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.damaged: list[dict[str, Any]] = []

    def add(self, file: str, item: Play | Skipped) -> tuple[str, str, str, int, str] | None:
        """Count ``item``; a play also updates the catalog and returns its ``raw/plays`` row
        (:data:`PLAY_COLUMNS` and its context, empty for none)."""
        stats = self.files.get(file)
        if stats is None:
            if isinstance(item, Skipped) and item.where == "offset":
                raise ImportRefusedError(
                    f"{file}: {example_text(item.raw)}: nothing before it could be read, so the whole file "
                    "would be lost; repair it or move it out of SRC"
                )
            stats = self.files[file] = {"plays": 0, "skipped": Counter()}
        if isinstance(item, Skipped):
            self.skipped[item.reason] += item.count
            stats["skipped"][item.reason] += item.count
            example = {"file": file, "text": example_text(item.raw)}
            if item.where:
                example[item.where] = item.line
            if item.where == "offset":
                example["entries_lost"] = item.count
                self.damaged.append({REASON: item.reason, **example})
            shown = self.examples.setdefault(item.reason, [])
            if len(shown) < EXAMPLES_PER_REASON:
                shown.append(example)
            return None
        artist_id = item.artist_ref or derived_artist_id(item.artist)
        track_id = item.track_ref or derived_track_id(item.artist, item.title)
        row = self.tracks.get(track_id)
        if row is None:
            self.tracks[track_id] = [item.title, artist_id, item.album, item.release_date, item.duration_ms]
            self.artists.setdefault(artist_id, item.artist)
        else:  # the first sighting names the track and its artist; fill in what it did not know
            row[2] = row[2] or item.album
            row[3] = row[3] or item.release_date
            row[4] = row[4] or item.duration_ms
        self.users.add(item.user)
        self.plays += 1
        stats["plays"] += 1
        self.ms_sources[item.ms_source] += 1
        t = item.played_at
        if self.first is None or t < self.first:
            self.first = t
        if self.last is None or t > self.last:
            self.last = t
        if t < self.service_start:
            self.before_service_start += 1
        return item.user, track_id, format_time(t), item.ms_played, item.context

    def track_rows(self) -> list[list[Any]]:
        return [
            [tid, title, aid, album, release, "" if dur is None else dur, ""]
            for tid, (title, aid, album, release, dur) in sorted(self.tracks.items())
        ]

    def artist_rows(self) -> list[list[str]]:
        return [[aid, name] for aid, name in sorted(self.artists.items())]

    def report(self, fmt: str, source: str) -> dict[str, Any]:
        """What ``import_report.json`` holds (nothing machine- or time-dependent)."""
        start = self.service_start.date().isoformat()
        out: dict[str, Any] = {
            "format": fmt,
            SOURCE: source,
            "listeners": len(self.users),
            "plays": self.plays,
            "tracks": len(self.tracks),
            "artists": len(self.artists),
            "first_play": format_time(self.first) if self.first else None,
            "last_play": format_time(self.last) if self.last else None,
            "publish_week": shift(week_of(self.last), 1) if self.last else None,
            MS_PLAYED: {k: self.ms_sources[k] for k in (SOURCE, "duration", "assumed")},
            "skipped": dict(sorted(self.skipped.items())),
            "examples": dict(sorted(self.examples.items())),
            "files": {
                f: {"plays": s["plays"], "skipped": dict(sorted(s["skipped"].items()))}
                for f, s in sorted(self.files.items())
            },
            "damaged_files": self.damaged,
            "service_start": {"configured": start, "plays_before": self.before_service_start},
        }
        if self.before_service_start:
            first_day = self.first.date().isoformat()
            out["service_start"]["setting"] = f"DW__INGEST__SERVICE_START={first_day}"
        return out


def example_text(raw: Any, limit: int = 300) -> str:
    """A short text of a skipped line or entry for the report (private Spotify keys left out)."""
    try:
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in PRIVATE_KEYS}
            raw = json.dumps(raw, ensure_ascii=False, sort_keys=True)
        elif not isinstance(raw, str):
            raw = json.dumps(raw, ensure_ascii=False, default=str)
    except RecursionError:
        raw = "(nested too deeply to show)"
    raw = raw.rstrip("\r\n")
    return raw if len(raw) <= limit else raw[:limit] + "..."


def check_paths(src: Path, dest: Path, force: bool) -> None:
    """Refuse a missing SRC, a DEST that overlaps SRC, and a non-empty DEST without ``force``."""
    if not src.exists():
        raise ImportRefusedError(f"{src} does not exist")
    s, d = src.resolve(), dest.resolve()
    if s == d or s.is_relative_to(d) or d.is_relative_to(s):
        raise ImportRefusedError(f"DEST {dest} must lie outside SRC {src} (and not hold it)")
    if dest.is_symlink():
        raise ImportRefusedError(f"DEST {dest} is a symbolic link; give the folder itself ({dest.resolve()})")
    if dest.exists() and not dest.is_dir():
        raise ImportRefusedError(f"DEST {dest} exists and is not a folder")
    check_dest(dest, force)


@contextmanager
def one_import_at_a_time(dest: Path) -> Iterator[None]:
    """Hold the import lock of ``dest`` (a lock file in the system's temporary folder, keyed by DEST's
    absolute path, so DEST's own folder gets no lock file), or refuse at once while another import
    into the same DEST runs."""
    key = hashlib.sha256(str(Path(dest).resolve()).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / "dw-import-locks" / f"{key}.lock"
    try:
        with exclusive_lock(lock, 0.0, f"DEST {dest}"):
            yield
    except LockTimeoutError as exc:
        raise ImportRefusedError(str(exc).replace("another run", "another import")) from None


def foreign_files(dest: Path) -> list[str]:
    """DEST's files (links too, not followed) that its manifest does not list, by path in DEST, sorted."""
    try:
        listed = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))["files"]
        ours = {f for f in listed if isinstance(f, str)} if isinstance(listed, list) else set()
    except (OSError, ValueError, KeyError, TypeError):
        ours = set()
    found = []
    for folder, dirs, files in os.walk(dest):
        here = Path(folder)
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            rel = (here / name).relative_to(dest).as_posix()
            if rel != MANIFEST and rel not in ours:
                found.append(rel)
    return sorted(found)


def check_dest(dest: Path, force: bool) -> None:
    """A non-empty DEST needs ``force``, and then may hold only what the last import wrote (its manifest)."""
    if not (dest.is_dir() and any(dest.iterdir())):
        return
    if not force:
        raise ImportRefusedError(f"DEST {dest} is not empty; pass --force to replace it (FORCE=1 with make import)")
    foreign = foreign_files(dest)
    if foreign:
        named = ", ".join(foreign[:FOREIGN_NAMED]) + (
            f" and {len(foreign) - FOREIGN_NAMED} more" if len(foreign) > FOREIGN_NAMED else ""
        )
        raise ImportRefusedError(
            f"DEST {dest} holds files no import wrote ({named}); --force replaces only a folder an import "
            f"wrote ({MANIFEST}): move them away or choose another DEST"
        )


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[Iterable[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def write_contract(
    dest: Path, sources: Sources, *, fmt: str, source: str, service_start: dt.date, force: bool = False
) -> dict[str, Any]:
    """Import ``sources`` into ``dest`` (whole or not at all); returns the report.

    One import into a DEST at a time (:func:`one_import_at_a_time`; DEST is checked again under
    it); after publishing, what killed imports into DEST left beside it is removed.
    """
    dest = Path(dest)
    with one_import_at_a_time(dest):
        check_dest(dest, force)
        report = _write(dest, sources, fmt=fmt, source=source, service_start=service_start)
        sweep_dead_writers(dest)  # we hold DEST's import lock: any other staging folder of DEST is a dead one's
    return report


def _write(dest: Path, sources: Sources, *, fmt: str, source: str, service_start: dt.date) -> dict[str, Any]:
    collector = Collector(service_start)
    columns = (*PLAY_COLUMNS, CONTEXT) if fmt in CONTEXT_FORMATS else PLAY_COLUMNS
    with staged(dest, lock=False) as stage:  # DEST is the user's: no lock file beside it
        plays_dir = stage / "raw" / "plays"
        plays_dir.mkdir(parents=True)
        fh, out, number, in_file = None, None, 0, PLAYS_PER_FILE
        try:
            for file, items in sources:
                for item in items:
                    row = collector.add(file, item)
                    if row is None:
                        continue
                    if in_file == PLAYS_PER_FILE:
                        if fh:
                            fh.close()
                        number += 1
                        fh = (plays_dir / f"plays-{number:05d}.csv").open("w", encoding="utf-8", newline="")
                        out = csv.writer(fh, lineterminator="\n")
                        out.writerow(columns)
                        in_file = 0
                    if row[4] and fmt not in CONTEXT_FORMATS:
                        raise ValueError(f"{file}: a {fmt} play has a context, but {fmt} is not in CONTEXT_FORMATS")
                    out.writerow(row[: len(columns)])
                    in_file += 1
        finally:
            if fh:
                fh.close()
        report = collector.report(fmt, source)
        if collector.plays == 0:
            raise NothingImportedError(report)
        _write_csv(stage / "catalog" / "tracks.csv", TRACK_COLUMNS, collector.track_rows())
        _write_csv(stage / "catalog" / "artists.csv", ARTIST_COLUMNS, collector.artist_rows())
        _write_json(stage / "import_report.json", report)
        world = {
            "publish_week": report["publish_week"],
            "imported_from": fmt,
            "first_play": report["first_play"],
            "last_play": report["last_play"],
        }
        _write_json(stage / "world.json", world)
        written = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        _write_json(stage / MANIFEST, {"files": written, "written_by": "python -m jobs.importers"})
    return report
