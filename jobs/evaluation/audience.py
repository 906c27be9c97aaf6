"""Who got what: how personal a week's playlists are, and every listener accounted for. Pure.

* :func:`personalisation`: distinct tracks over rows, and the mean overlap between two
  listeners' lists (how many tracks two lists share, over every pair of listeners; from
  each track's number of lists, so it costs one pass, not one per pair), with
  ``personalisation@k = 1 - mean overlap / k`` (1: no two lists share a track).
* :func:`account_listeners`: the listeners in the data, those active in the window, those
  with a personal playlist or a fallback, and why the rest have none, by reason with counts.

Used by the merge (``merge.json``: its playlists beside most popular's for the same
listeners) and the validate job (``validate.json``); reads and writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from schemas import vocab
from schemas.columns import SOURCE, USER_ID

NOT_ACTIVE = "no_play_in_window"


def personalisation(lists: Mapping[str, Iterable[Any]], k: int) -> dict[str, Any]:
    """``lists``: listener -> the items of their list. Rows, listeners, distinct items over rows,
    the mean number of items two listeners' lists share and ``personalisation@k``."""
    per_item: Counter = Counter()
    rows = 0
    for items in lists.values():
        mine = set(items)
        per_item.update(mine)
        rows += len(mine)
    n = len(lists)
    pairs = n * (n - 1) / 2
    shared = sum(c * (c - 1) / 2 for c in per_item.values())
    overlap = shared / pairs if pairs else 0.0
    return {
        "listeners": n,
        "rows": rows,
        "distinct_over_rows": round(len(per_item) / rows, 4) if rows else None,
        "mean_overlap": round(overlap, 3),
        f"personalisation@{k}": round(1.0 - overlap / k, 4) if pairs else None,
    }


def account_listeners(
    in_data: set[str], active: set[str], table: pd.DataFrame, excluded: Mapping[str, str]
) -> dict[str, Any]:
    """Every listener in the data (with a play before the week) accounted for.

    ``active``: those with a play (skips included) in the ALS window, who are owed a list;
    the others are counted under ``no_play_in_window``. ``table`` holds the week's rows
    (``user_id``, ``source``); ``excluded`` the active listeners left out, with why.
    """
    fallback = set(table.loc[table[SOURCE] == vocab.FALLBACK, USER_ID])
    listed = set(table[USER_ID])
    why = Counter(excluded.values())
    why[NOT_ACTIVE] = len(in_data - active)
    missing = active - listed - set(excluded)
    if missing:
        why["unaccounted"] = len(missing)
    return {
        "in_data": len(in_data),
        "active": len(active),
        "personal": len(listed - fallback),
        "fallback": len(fallback & listed),
        "without_playlist": {r: n for r, n in sorted(why.items()) if n},
    }
