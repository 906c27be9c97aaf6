"""``merge.workers``: the local engine's blocks of listeners on forked processes give the merge's own picks,
bit for bit, for any number of workers and blocks; one block runs in the merge's process; a dead worker
is a clear error."""

import os

import numpy as np
import pandas as pd
import pytest

from jobs.config import MergeConf
from jobs.recsys import pool
from jobs.recsys.inputs import Inputs
from jobs.recsys.playlists import playlists
from jobs.recsys.pool import WorkerDiedError, pooled_playlists, workers_of
from schemas.columns import USER_ID, VECTOR
from tests.unit.recsys.test_merge_ranking import _world


def _inputs() -> Inputs:
    items, users, heard, tops, shares = _world(n_items=900, seed=11)
    ids = [f"u{i:03d}" for i in range(len(users))]
    rng = np.random.default_rng(5)
    top_played = {u: rng.choice(len(items.track_ids), 12, replace=False) for u in ids}
    return Inputs(
        items=items,
        users=pd.DataFrame({USER_ID: ids, VECTOR: list(users)}),
        active=set(ids),
        heard=pd.DataFrame(columns=[USER_ID, "track_id"]),
        heard_by_user=dict(zip(ids, heard, strict=True)),
        top_by_user=top_played,
        top_artists=dict(zip(ids, tops, strict=True)),
        shares=dict(zip(ids, shares, strict=True)),
        tracks=pd.DataFrame(),
        notes=[],
        top_confidence={u: 1.0 + rng.random(12) * 4 for u in ids},
    )


BLEND = MergeConf(w_culture=0.2, w_popularity=2.0)


@pytest.mark.parametrize("workers, block", [(2, 4), (3, 7), (2, 24)])
@pytest.mark.parametrize("share", [None, 0.5])
def test_the_pool_gives_the_merge_process_picks_bit_for_bit(workers, block, share):
    inputs = _inputs()
    mine = playlists(inputs, BLEND, options_share=share, block=block)
    pooled = pooled_playlists(inputs, BLEND, options_share=share, workers=workers, block=block)
    assert list(pooled) == list(mine) and len(mine) == 25
    assert pooled == mine  # every pick: item, score, source, reason (and with share its parts and options)
    assert all(len(picks) == BLEND.k for picks in mine.values())
    some = ["u003", "u017", "u009"]
    assert pooled_playlists(inputs, BLEND, some, workers=workers, block=1) == playlists(inputs, BLEND, some, block=1)


def test_one_block_or_one_worker_stays_in_the_merge_process(monkeypatch):
    inputs = _inputs()

    def no_pool(*_args, **_kwargs):
        raise AssertionError("no process pool for one block or one worker")

    monkeypatch.setattr(pool, "ProcessPoolExecutor", no_pool)
    assert pooled_playlists(inputs, BLEND, workers=2, block=25) == playlists(inputs, BLEND)  # one block
    assert pooled_playlists(inputs, BLEND, workers=1, block=4) == playlists(inputs, BLEND, block=4)  # one worker


def _die(_bounds):
    os._exit(3)


def _pids(bounds):
    return [[os.getpid()]] * (bounds[1] - bounds[0])


def test_the_blocks_run_in_other_processes(monkeypatch):
    monkeypatch.setattr(pool, "_block", _pids)
    ran_in = {picks[0] for picks in pooled_playlists(_inputs(), BLEND, workers=2, block=4).values()}
    assert ran_in and os.getpid() not in ran_in and len(ran_in) <= 2


def test_a_dead_worker_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(pool, "_block", _die)
    with pytest.raises(WorkerDiedError, match=r"merge\.workers: 1"):
        pooled_playlists(_inputs(), BLEND, workers=2, block=4)
    assert pool._WORK is None  # the inputs are not held after the pool


def test_zero_workers_means_every_core_this_process_may_use():
    assert workers_of(0, 8) == 8 and workers_of(3, 8) == 3 and workers_of(0, 0) == 1
    assert workers_of(0) == len(os.sched_getaffinity(0))
