"""Why a track was picked, in the listener's words (:func:`explain`): from the source that
chose it and the listener's own most-played track it is closest to. Pure.
"""

from __future__ import annotations

import numpy as np

from jobs.recsys.items import Items


def explain(picked: np.ndarray, sources: list[str], anchors: np.ndarray, items: Items) -> list[str]:
    """A reason in a listener's words for each picked item, from the listener's own most-played tracks
    (the anchor whose vector is closest to the item's)."""
    if len(anchors) and len(picked):
        closest = anchors[np.argmax(items.normed[anchors] @ items.normed[picked].T, axis=0)]
    else:
        closest = np.full(len(picked), -1)
    reasons = []
    for item, source, anchor in zip(picked, sources, closest, strict=True):
        artist = items.artist_idx[item]
        if source == "culture" and items.artist_terms is not None and items.artist_terms[artist]:
            reasons.append(f"Fans describe it as {items.artist_terms[artist]}")
            continue
        if anchor < 0:
            reasons.append("Picked for your taste")
            continue
        name = items.artist_names[items.artist_idx[anchor]]
        if source in ("audio", "culture") and items.titles is not None:
            new = items.is_new is not None and items.is_new[item]
            reasons.append(
                f"{'New release that sounds like' if new else 'Sounds like'} {items.titles[anchor]} by {name}"
            )
        elif items.artist_idx[anchor] == artist:
            reasons.append(f"More from {name}, whom you play")
        else:
            reasons.append(f"Because you play {name}")
    return reasons
