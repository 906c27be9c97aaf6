"""Diversity rules of a playlist: at most ``cap`` songs per artist, one version of a song,
at most ``cold_slots`` never-played tracks (:func:`pick_diverse`). Pure.
"""

from __future__ import annotations

import numpy as np


def pick_diverse(
    order: np.ndarray,
    artist_idx: np.ndarray,
    song_key: np.ndarray,
    k: int,
    cap: int,
    taken: list[int] | None = None,
    cold: np.ndarray | None = None,
    cold_slots: int | None = None,
) -> list[int]:
    """Walk ``order`` (best first) and keep items until ``k``: at most ``cap`` per artist, one per song,
    and at most ``cold_slots`` items flagged in ``cold``. ``taken`` items count against the caps."""
    chosen = list(taken or [])
    per_artist: dict[int, int] = {}
    songs: set[int] = set()
    n_cold = 0
    for i in chosen:
        per_artist[artist_idx[i]] = per_artist.get(artist_idx[i], 0) + 1
        songs.add(song_key[i])
        n_cold += int(cold is not None and cold[i])
    for i in order:
        if len(chosen) >= k:
            break
        a = artist_idx[i]
        if per_artist.get(a, 0) >= cap or song_key[i] in songs or i in chosen:
            continue
        is_cold = cold is not None and cold[i]
        if is_cold and cold_slots is not None and n_cold >= cold_slots:
            continue
        chosen.append(int(i))
        per_artist[a] = per_artist.get(a, 0) + 1
        songs.add(song_key[i])
        n_cold += int(is_cold)
    return chosen
