"""Generate the embedded sample world: listeners, catalog, play logs, audio and a small web.

``generate`` writes the world built by ``model.build_world`` to a folder, atomically, with
the manifest ``world.json``; ``main`` is the command line (``python -m jobs.tools.world``):
sizes come from the ``world`` section of ``conf/pipeline.yaml`` and can be overridden by
flags. ``--if-missing`` leaves a world written by this generator version in place, and the
generator never replaces a folder it did not write (no ``world.json`` with a
``generator_version``) unless given ``--force``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from jobs.config import WorldConf, build_config, load_config
from jobs.runtime.cli import one_line_errors
from jobs.tools.world.audio import write_audio
from jobs.tools.world.genres import GENRES
from jobs.tools.world.model import build_world
from jobs.tools.world.plays import corrupt_rows, write_raw_plays
from jobs.tools.world.web import write_web
from jobs.warehouse.atomic import staged
from jobs.warehouse.weeks import week_of
from schemas.columns import PLAYLIST_ID

log = logging.getLogger("world")

GENERATOR_VERSION = 4  # bump when the world's content changes: `--if-missing` then regenerates


def generate(conf: WorldConf, out: Path, with_audio: bool = True, with_web: bool = True) -> dict[str, object]:
    """Write the whole world to ``out`` atomically (a half-written world is never left behind)."""
    t0 = time.perf_counter()
    world = build_world(conf)
    rng = np.random.default_rng(conf.seed + 99)
    with staged(out) as stage:
        (stage / "catalog").mkdir()
        world.artists.to_csv(stage / "catalog" / "artists.csv", index=False, lineterminator="\n")
        world.tracks.to_csv(stage / "catalog" / "tracks.csv", index=False, lineterminator="\n")
        raw, bad = corrupt_rows(world.plays, conf.bad_row_share, rng)
        files = write_raw_plays(raw, stage / "raw" / "plays")
        (stage / "raw" / "playlists").mkdir()
        world.playlists.to_csv(stage / "raw" / "playlists" / "playlists.csv", index=False, lineterminator="\n")
        (stage / "truth").mkdir()
        for name, frame in world.truth.items():
            frame.to_csv(stage / "truth" / f"{name}.csv", index=False, lineterminator="\n")
        bad.to_csv(stage / "truth" / "injected_bad_rows.csv", index=False, lineterminator="\n")
        clips = write_audio(world, conf, stage / "audio", conf.seed) if with_audio else 0
        pages = write_web(world, stage / "web", conf.seed, conf.web_artists) if with_web else 0
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "seed": conf.seed,
            "sizes": {
                "users": conf.users,
                "artists": conf.artists,
                "tracks": conf.tracks,
                "new_releases": conf.new_releases,
                "weeks": conf.weeks,
                "audio_tracks": conf.audio_tracks,
                "web_artists": conf.web_artists,
            },
            "play_events": len(world.plays),
            "raw_rows": len(raw),
            "injected_bad_rows": bad["kind"].value_counts().sort_index().to_dict(),
            "raw_files": len(files),
            "playlists": int(world.playlists[PLAYLIST_ID].nunique()),
            "playlist_rows": len(world.playlists),
            "audio_clips": clips,
            "web_pages": pages,
            "first_day": world.start.isoformat(),
            "end": conf.end,
            "publish_week": week_of(world.end),
            "genres": [g.name for g in GENRES],
            "scenes": len(world.scenes.names),
        }
        (stage / "world.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    manifest["seconds"] = round(time.perf_counter() - t0, 1)
    return manifest


TINY = {  # the small world the tests use (`--tiny`)
    "users": 80,
    "artists": 24,
    "tracks": 240,
    "new_releases": 12,
    "weeks": 8,
    "plays_per_user_week": 12.0,
    "clip_seconds": 3.0,
}


def generator_version_of(folder: Path) -> int | None:
    """The generator version recorded in ``folder/world.json``; None when this generator did not write it."""
    manifest = folder / "world.json"
    try:
        version = json.loads(manifest.read_text()).get("generator_version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, int) else None


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code (2: refused to replace data this generator did not write)."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.tools.world",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--conf", help="configuration file (default conf/pipeline.yaml)")
    parser.add_argument("--out", type=Path, help="where to write the world (default paths.data)")
    parser.add_argument("--tiny", action="store_true", help="the small world the tests use")
    for name in ("seed", "users", "artists", "tracks", "new_releases", "weeks", "audio_tracks", "web_artists"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, dest=name)
    parser.add_argument("--plays-per-user-week", type=float, dest="plays_per_user_week")
    parser.add_argument("--clip-seconds", type=float, dest="clip_seconds")
    parser.add_argument("--end", help="a Monday; plays stop before it")
    parser.add_argument("--no-audio", action="store_true")
    parser.add_argument("--no-web", action="store_true")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the world already exists")
    parser.add_argument(
        "--force", action="store_true", help="replace the folder even when it holds data this generator did not write"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    config = load_config(args.conf)
    out = args.out or config.paths.data
    version = generator_version_of(out)
    if args.if_missing and version == GENERATOR_VERSION:
        log.info("world already at %s; leaving it", out)
        return 0
    if version is None and out.exists() and any(out.iterdir()) and not args.force:
        log.error(
            "refusing to replace %s: it holds data this generator did not write (no world.json with a "
            "generator_version); pass --force to replace it, or --out an empty folder",
            out,
        )
        return 2
    if version is not None and version != GENERATOR_VERSION:
        log.info("world at %s was made by generator version %s; regenerating", out, version)
    values = {**config.world.__dict__, **(TINY if args.tiny else {})}
    values.update({k: v for k, v in vars(args).items() if k in values and v is not None})
    conf = build_config({"world": values}).world
    manifest = generate(conf, out, with_audio=not args.no_audio, with_web=not args.no_web)
    log.info("world written to %s: %s", out, json.dumps(manifest))
    return 0
