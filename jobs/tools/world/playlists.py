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

from jobs.config import WorldConf
from jobs.tools.world.catalog import Catalog
from jobs.tools.world.listeners import Listeners, RowSampler, cumulative, draw_rows, scene_affinity
from jobs.tools.world.scenes import Scenes
from jobs.tools.world.sessions import week_weights
from schemas.columns import PLAYLIST_ID, POSITION, TRACK_ID

COLUMNS = [PLAYLIST_ID, "owner", POSITION, TRACK_ID]


def build_playlists(
    conf: WorldConf, rng: np.random.Generator, catalog: Catalog, scenes: Scenes, listeners: Listeners
) -> pd.DataFrame:
    """The listeners' playlists, one row per (playlist, position)."""
    weights = week_weights(catalog, conf, conf.weeks - 1)
    tracks_of = RowSampler(cumulative(scene_affinity(scenes, catalog.track_latent[: conf.tracks]) * weights))
    taste = cumulative(listeners.taste(conf.weeks - 1, conf.weeks))
    track_ids = catalog.tracks[TRACK_ID].to_numpy()
    owners = np.flatnonzero(rng.random(len(listeners.user_ids)) < 1 / 6)
    lists_per_owner = rng.integers(1, 4, len(owners))
    owner = np.repeat(owners, lists_per_owner)
    n_lists = len(owner)
    size = rng.integers(8, 31, n_lists)
    # each list's one or two scenes, drawn from its owner's taste; then 4x its size in candidates
    scenes_of = draw_rows(taste, np.repeat(owner, 2), rng).reshape(n_lists, 2)
    scenes_of[:, 1] = np.where(rng.random(n_lists) < 0.5, scenes_of[:, 0], scenes_of[:, 1])
    which = np.repeat(np.arange(n_lists), 4 * size)
    picks = tracks_of.draw(scenes_of[which, rng.integers(0, 2, len(which))], rng)
    frame = pd.DataFrame({"list": which, "track": picks}).drop_duplicates(["list", "track"])  # keeps the draw order
    frame = frame[frame.groupby("list").cumcount() < size[frame["list"].to_numpy()]]
    return pd.DataFrame(
        {
            PLAYLIST_ID: [f"pl{i + 1:06d}" for i in frame["list"]],
            "owner": np.array(listeners.user_ids, dtype=object)[owner[frame["list"].to_numpy()]],
            POSITION: frame.groupby("list").cumcount().to_numpy() + 1,
            TRACK_ID: track_ids[frame["track"].to_numpy()],
        },
        columns=COLUMNS,
    )
