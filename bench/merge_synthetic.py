"""The merge's core (``recommend_block``) on a synthetic catalog the size of the 10M world.

100,000 tracks by 8,000 artists (500 of them never played), rank-32 vectors, ten culture
neighbours per artist, listeners with 50 heard tracks and five top artists, the blend's
default weights; blocks sized as the merge sizes them. Prints milliseconds per listener
and a digest of the chosen tracks, so two versions of the merge can be compared on the
same input (``--module`` loads ``Items``, ``Blend`` and ``recommend_block`` from one file
instead, e.g. an older commit's single-file ``jobs/merge.py``)::

    python -m bench.merge_synthetic --listeners 300
    git show d900519:jobs/merge.py > /tmp/merge_old.py
    python -m bench.merge_synthetic --listeners 300 --module /tmp/merge_old.py
    python -m bench.merge_synthetic --listeners 1000 --profile     # cProfile, top functions
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib.util
import inspect
import pstats
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np


def load(path: Path | None) -> SimpleNamespace:
    """``Items``, ``Blend`` and ``recommend_block``: the current library's, or those of one file."""
    if path is None:
        from jobs.config import MergeConf as Blend
        from jobs.recsys.items import Items
        from jobs.recsys.playlists import recommend_block

        return SimpleNamespace(Items=Items, Blend=Blend, recommend_block=recommend_block)
    spec = importlib.util.spec_from_file_location("merge_under_test", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["merge_under_test"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return SimpleNamespace(Items=module.Items, Blend=module.Blend, recommend_block=module.recommend_block)


def recommend(m: SimpleNamespace, *args: Any, blend: Any, tops: Any, shares: Any) -> list:
    """``m.recommend_block`` called as its version takes ``k`` and the artist cap (older ones: positionally)."""
    if "k" in inspect.signature(m.recommend_block).parameters:
        return m.recommend_block(*args, blend.k, blend.artist_cap, tops, shares, blend)
    return m.recommend_block(*args, blend, tops, shares)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=300)
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--module", type=Path, help="a file with Items, Blend, recommend_block (an old jobs/merge.py)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    m = load(args.module)
    rng = np.random.default_rng(0)
    n, n_artists, rank, nu = args.tracks, 8_000, 32, args.listeners
    artist = rng.integers(0, n_artists, n)
    cold = np.zeros(n, bool)
    cold[rng.choice(n, 500, replace=False)] = True
    items = m.Items(
        track_ids=np.array([f"t{i}" for i in range(n)], dtype=object),
        artist_idx=artist,
        song_key=np.arange(n),
        vectors=(rng.normal(size=(n, rank)) * 0.3).astype(np.float32),
        popularity=rng.integers(0, 100, n).astype(float),
        artist_names=np.array([f"A{a}" for a in range(n_artists)], dtype=object),
        titles=np.array([f"S{i}" for i in range(n)], dtype=object),
        is_cold=cold,
        is_new=cold.copy(),
        artist_terms=np.array(["x"] * n_artists, dtype=object),
        artist_neighbours={a: (rng.choice(n_artists, 10, replace=False), rng.random(10)) for a in range(n_artists)},
    )
    users = rng.normal(size=(nu, rank)).astype(np.float32)
    heard = [np.sort(rng.choice(n, 50, replace=False)) for _ in range(nu)]
    tops = [rng.choice(n_artists, 5, replace=False) for _ in range(nu)]
    shares = [np.full(5, 0.2) for _ in range(nu)]
    blend = m.Blend(k=30, artist_cap=2)
    block = max(16, min(2048, (1 << 24) // n))
    profiler = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    out = []
    for s in range(0, nu, block):
        sl = slice(s, s + block)
        out += recommend(
            m, users[sl], heard[sl], [h[:20] for h in heard[sl]], items, blend=blend, tops=tops[sl], shares=shares[sl]
        )
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - t0
    digest = hashlib.md5(str([[r[0] for r in p] for p in out]).encode()).hexdigest()[:12]
    print(f"{nu} listeners x {n:,} tracks: {seconds:.2f} s, {1000 * seconds / nu:.2f} ms per listener, digest {digest}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    sys.exit(main())
