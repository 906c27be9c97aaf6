"""Playlists the sample world's listeners made: ordered lists of tracks drawn from their owner's scenes.

About one listener in six owns one to three playlists. Each playlist is about one or two of
the owner's scenes (drawn from their taste in the last week) and holds 8 to 30 distinct
tracks of the played catalog (fewer when its scenes favour few tracks), each drawn by that scene's affinity times the track's
popularity in the last week (so never a new release); its order is the order drawn.
Written as ``raw/playlists/playlists.csv`` with columns ``playlist_id, owner, position,
track_id`` (position from 1). Ingest reads only ``raw/plays/``.

No I/O: ``build_playlists`` draws from the world's one random stream.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.common.config import WorldConf
from jobs.tools.world.catalog import Catalog
from jobs.tools.world.listeners import Listeners, cumulative, draw_rows, scene_affinity
from jobs.tools.world.scenes import Scenes
from jobs.tools.world.sessions import week_weights

COLUMNS = ["playlist_id", "owner", "position", "track_id"]


def build_playlists(
    conf: WorldConf, rng: np.random.Generator, catalog: Catalog, scenes: Scenes, listeners: Listeners
) -> pd.DataFrame:
    """The listeners' playlists, one row per (playlist, position)."""
    weights = week_weights(catalog, conf, conf.weeks - 1)
    cum = cumulative(scene_affinity(scenes, catalog.track_latent[: conf.tracks]) * weights)
    taste = cumulative(listeners.taste(conf.weeks - 1, conf.weeks))
    track_ids = catalog.tracks["track_id"].to_numpy()
    n_users = len(listeners.user_ids)
    owners = np.flatnonzero(rng.random(n_users) < 1 / 6)
    rows: list[tuple[str, str, int, str]] = []
    count = 0
    for owner in owners:
        for _ in range(int(rng.integers(1, 4))):
            scene = draw_rows(taste, np.full(int(rng.integers(1, 3)), owner), rng)
            size = int(rng.integers(8, 31))
            chosen: dict[int, None] = {}
            for _ in range(20):  # distinct tracks; a narrow scene may give a shorter list
                chosen.update(dict.fromkeys(draw_rows(cum, rng.choice(scene, size), rng).tolist()))
                if len(chosen) >= size:
                    break
            count += 1
            for position, track in enumerate(list(chosen)[:size], start=1):
                rows.append((f"pl{count:06d}", listeners.user_ids[owner], position, str(track_ids[track])))
    return pd.DataFrame(rows, columns=COLUMNS)
