"""How personal a published week is, and a hand-made export with one heavy repeater to check it on.

* ``python -m studies.personal world DEST``: writes a small input contract (``DEST/raw/plays``,
  ``DEST/catalog``): 30 listeners in three taste groups, 300 tracks by 60 artists, 60 plays each
  over the 8 weeks before 2026-W47, and one listener who plays one more track, ``h-solo``,
  500 times (nobody else plays it). Seeded; the same files every time.
* ``python -m studies.personal figures WAREHOUSE WEEK``: the published week's figures as JSON:
  playlists, distinct tracks over rows, the mean overlap between two listeners' lists
  (:func:`jobs.evaluation.audience.personalisation`), rows by source, reasons by kind, rows of
  tracks that only one listener played (counted plays before the week; they can only reach
  another listener's list by popularity if popularity counts plays), and the most repeated
  tracks. Reads ``discover_weekly/week=W`` and ``plays``; writes nothing.

Measured with ``make run DATA=DEST WAREHOUSE=... WEEK=2026-W47`` (or the ingest, als, merge and
validate jobs alone): docs/measurements.md, "How personal".
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jobs.evaluation.audience import personalisation
from schemas.columns import MS_PLAYED, REASON, SOURCE, TRACK_ID, USER_ID

START = datetime(2026, 9, 21, tzinfo=UTC)  # 8 weeks before 2026-W47's Monday
_REASON_KIND = re.compile(r"^(Because you play|More from|Sounds like|New release that sounds like|Fans describe it as|"
                          r"Because you've been listening to)\b.*")  # fmt: skip


def write_world(dest: Path, seed: int = 7) -> int:
    """The hand-made export; returns its number of plays."""
    rng = random.Random(seed)
    (dest / "raw" / "plays").mkdir(parents=True)
    (dest / "catalog").mkdir(parents=True)
    artists = [f"a{i:02d}" for i in range(60)]
    tracks = [(f"t{a[1:]}{j}", f"Song {a}-{j}", a) for a in artists for j in range(5)] + [("h-solo", "The Loop", "a00")]
    with open(dest / "catalog" / "tracks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["track_id", "title", "artist_id", "album", "release_date", "duration_ms", "audio_path"])
        w.writerows([t, title, a, "", "2020-01-01", 200000, ""] for t, title, a in tracks)
    with open(dest / "catalog" / "artists.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["artist_id", "name"])
        w.writerows([a, f"Artist {a}"] for a in artists)
    rows = []
    for u in range(30):
        mine = [t for t, _, a in tracks if t != "h-solo" and int(a[1:]) // 20 == u % 3]
        for _ in range(60):
            rows.append((f"u{u:02d}", rng.choice(mine), START + timedelta(minutes=rng.randrange(8 * 7 * 24 * 60))))
    rows += [("u00", "h-solo", START + timedelta(days=49, minutes=10 * i)) for i in range(500)]
    with open(dest / "raw" / "plays" / "plays.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "track_id", "played_at", "ms_played"])
        w.writerows([u, t, at.strftime("%Y-%m-%dT%H:%M:%SZ"), 200000] for u, t, at in sorted(rows, key=lambda r: r[2]))
    return len(rows)


def figures(warehouse: Path, week: str, k: int = 30, min_ms: int = 30_000) -> dict[str, Any]:
    """The published week's figures (see the module docstring)."""
    from jobs.warehouse.store import Warehouse
    from jobs.warehouse.weeks import cutoff

    wh = Warehouse(warehouse)
    table = wh.read("discover_weekly", week)
    plays = wh.plays_before(cutoff(week), columns=(USER_ID, TRACK_ID, MS_PLAYED))
    listeners = plays[plays[MS_PLAYED] >= min_ms].groupby(TRACK_ID)[USER_ID].nunique()
    lists = {u: g.tolist() for u, g in table.groupby(USER_ID)[TRACK_ID]}
    kinds = table[REASON].str.replace(_REASON_KIND, r"\1 ...", regex=True)
    return {
        "week": week,
        **personalisation(lists, k),
        "sources": {str(s): int(n) for s, n in table[SOURCE].value_counts().items()},
        "reasons": {str(r): int(n) for r, n in kinds.value_counts().head(8).items()},
        "rows_of_one_listener_tracks": int(table[TRACK_ID].isin(set(listeners[listeners == 1].index)).sum()),
        "most_repeated": {str(t): int(n) for t, n in table[TRACK_ID].value_counts().head(3).items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.personal", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("world", help="write the hand-made export with one heavy repeater")
    w.add_argument("dest", type=Path)
    f = sub.add_parser("figures", help="how personal a published week is")
    f.add_argument("warehouse", type=Path)
    f.add_argument("week")
    args = parser.parse_args(argv)
    if args.command == "world":
        if args.dest.exists() and any(args.dest.iterdir()):
            print(f"error: {args.dest} is not empty", file=sys.stderr)
            return 2
        print(f"{write_world(args.dest)} plays -> {args.dest}")
    else:
        print(json.dumps(figures(args.warehouse, args.week), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
