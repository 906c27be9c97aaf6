"""The feature rows the user model, the content model and the Q-network read. Pure.

A row of the user model (and of the Q-network, whose action head is the candidate's part of
it) is ``context + item + pair + session`` (:func:`row_names`):

* **context**, the listener at the week: their ALS vector, ``log1p`` of the tracks they have
  heard and of their plays of the last 28 days, their smoothed listen and skip rates on earlier
  Discover Weekly exposures and ``log1p`` of how many there were;
* **item**, the track: ``log1p`` of its listeners in the last 28 days, never played, its audio
  attributes (:func:`audio_columns`; zeros and ``has_audio = 0`` when it has none), the content
  model's score for this listener (0.5 and ``has_content = 0`` without one) and the kind of
  explanation it is shown with (:data:`jobs.feedback.bandit.KINDS`; all zero for an organic play);
* **pair**: the element-wise product of the listener's and the track's ALS vectors, their dot
  product and cosine, and the cosine between the listener's taste vector and the song vector
  (``has_taste`` says whether both exist);
* **session**: ``log`` of the place, the shares of listens and skips at the earlier places,
  and whether the row is a Discover Weekly place (1) or an organic play (0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.feedback.bandit import KINDS
from schemas.columns import TRACK_ID

CONTEXT_STATS = ("log_heard", "log_recent_plays", "dw_listen_rate", "dw_skip_rate", "log_dw_exposures")
AUDIO_NAMES = ("has_audio", "tempo", "key_sin", "key_cos", "major", "loudness", "triple_meter")
ITEM_STATS = ("log_popularity", "never_played", *AUDIO_NAMES, "content_score", "has_content")
KIND_NAMES = tuple(f"kind_{k}" for k in KINDS)
PAIR_STATS = ("dot", "cos", "taste_cos", "has_taste")
SESSION_NAMES = ("log_place", "prev_listen", "prev_skip", "discover_weekly")
PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
PRIOR_LISTEN, PRIOR_SKIP, PRIOR_N = 0.2, 0.1, 5.0  # the smoothing of a listener's Discover Weekly rates


def row_names(rank: int) -> tuple[str, ...]:
    """The names of a row's columns for ALS vectors of length ``rank``."""
    return (
        *[f"u{i}" for i in range(rank)],
        *CONTEXT_STATS,
        *ITEM_STATS,
        *KIND_NAMES,
        *[f"uv{i}" for i in range(rank)],
        *PAIR_STATS,
        *SESSION_NAMES,
    )


def static_width(rank: int) -> int:
    """Columns before the session part."""
    return len(row_names(rank)) - len(SESSION_NAMES)


def audio_columns(attributes: pd.DataFrame | None, track_ids: pd.Series) -> np.ndarray:
    """``(n, len(AUDIO_NAMES))`` audio attributes of ``track_ids`` from an ``audio_attributes`` table, scaled to
    about unit range: tempo / 200, the key on the circle of pitch classes, major 1, loudness / 30 LUFS,
    triple meter 1; all zero (``has_audio = 0``) for a track without attributes."""
    n = len(track_ids)
    out = np.zeros((n, len(AUDIO_NAMES)), dtype=np.float32)
    if attributes is None or not len(attributes):
        return out
    a = attributes.drop_duplicates(TRACK_ID).set_index(TRACK_ID).reindex(track_ids.to_numpy())
    has = a["tempo_bpm"].notna().to_numpy()
    pitch = a["key"].map({p: i for i, p in enumerate(PITCHES)}).to_numpy(dtype=np.float64)
    angle = np.nan_to_num(pitch) * 2 * np.pi / 12
    out[:, 0] = has
    out[:, 1] = np.nan_to_num(a["tempo_bpm"].to_numpy(dtype=np.float64)) / 200.0
    out[:, 2] = np.where(has, np.sin(angle), 0.0)
    out[:, 3] = np.where(has, np.cos(angle), 0.0)
    out[:, 4] = (a["mode"] == "major").to_numpy() & has
    out[:, 5] = np.nan_to_num(a["loudness_lufs"].to_numpy(dtype=np.float64)) / 30.0
    out[:, 6] = (a["time_signature"] == 3).to_numpy() & has
    return out


def kind_onehot(kinds: list[str | None]) -> np.ndarray:
    """One column per :data:`KINDS`; a ``None`` kind (an organic play) is all zero."""
    out = np.zeros((len(kinds), len(KINDS)), dtype=np.float32)
    for r, k in enumerate(kinds):
        if k is not None:
            out[r, KINDS.index(k)] = 1.0
    return out


def context_stats(
    heard: np.ndarray, recent: np.ndarray, dw_n: np.ndarray, dw_listen: np.ndarray, dw_skip: np.ndarray
) -> np.ndarray:
    """``(n, len(CONTEXT_STATS))`` from counts: tracks heard, recent plays, Discover Weekly exposures with
    their listens and skips (rates smoothed towards :data:`PRIOR_LISTEN`, :data:`PRIOR_SKIP`)."""
    n = np.asarray(dw_n, dtype=np.float64)
    return np.column_stack(
        [
            np.log1p(heard) / 5.0,
            np.log1p(recent) / 5.0,
            (np.asarray(dw_listen) + PRIOR_LISTEN * PRIOR_N) / (n + PRIOR_N),
            (np.asarray(dw_skip) + PRIOR_SKIP * PRIOR_N) / (n + PRIOR_N),
            np.log1p(n) / 5.0,
        ]
    ).astype(np.float32)


def static_rows(
    u: np.ndarray,
    context: np.ndarray,
    item: np.ndarray,
    kinds: np.ndarray,
    v: np.ndarray,
    taste_cos: np.ndarray,
    has_taste: np.ndarray,
) -> np.ndarray:
    """``(n, static_width)``: ``u``/``v`` the ALS vectors (rows), ``context`` :func:`context_stats`, ``item``
    the :data:`ITEM_STATS` columns, ``kinds`` :func:`kind_onehot`."""
    u = np.asarray(u, dtype=np.float32)
    v = np.asarray(v, dtype=np.float32)
    dot = np.einsum("ij,ij->i", u, v)
    norm = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    cos = np.where(norm > 0, dot / np.where(norm > 0, norm, 1.0), 0.0)
    pair = np.column_stack([u * v, dot, cos, np.asarray(taste_cos), np.asarray(has_taste)])
    return np.hstack([u, context, item, kinds, pair]).astype(np.float32)


def session_columns(
    place: np.ndarray, prev_listen: np.ndarray, prev_skip: np.ndarray, discover_weekly: float | np.ndarray
) -> np.ndarray:
    """``(n, len(SESSION_NAMES))``."""
    place = np.asarray(place, dtype=np.float64)
    dw = np.broadcast_to(np.asarray(discover_weekly, dtype=np.float64), place.shape)
    return np.column_stack([np.log(np.maximum(place, 1.0)), prev_listen, prev_skip, dw]).astype(np.float32)
