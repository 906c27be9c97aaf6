"""Scoring shared by the real-data evaluations: per-listener metrics, bootstrap tables, the doc's sections.

:mod:`studies.rolling_eval` (MovieLens, by week) and :mod:`studies.lastfm_als` (Last.fm 2k, a random
split) both score each system on each listener (or listener-week) with the project's metric
definitions (:mod:`jobs.evaluation.metrics`): precision@k, recall@k (hits over ``min(k, truth)``),
binary NDCG@k, and the mean percentile rank of the listener's truth among every catalog
track they had not played (0 = top; tracks a system cannot rank share the bottom places,
ties counting half). Means come with 95% bootstrap intervals that resample listeners
(:mod:`jobs.evaluation.stats`), and differences between two systems with paired intervals.
:func:`replace_section` rewrites one generated block of ``docs/real-data.md`` and leaves the
hand-written text around it. Reads and writes only what its callers pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.evaluation.metrics import ndcg_at_k, percentile_ranks, precision_at_k, recall_at_k
from jobs.evaluation.stats import DEFAULT_RESAMPLES, bootstrap_mean, paired_difference
from jobs.recsys.baselines import Ranking
from schemas.columns import USER_ID


def metric_names(k: int) -> list[str]:
    return [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", "mean_percentile_rank"]


class Catalog:
    """The tracks a listener could be recommended, in a fixed order (sorted ids)."""

    def __init__(self, track_ids: Iterable[str]) -> None:
        self.ids = np.array(sorted({str(t) for t in track_ids}), dtype=object)
        self.pos = pd.Series(np.arange(len(self.ids)), index=self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, track_ids: Iterable[str]) -> np.ndarray:
        """Catalog positions of ``track_ids`` (unknown ids are an error: every truth must be rankable)."""
        ids = [str(t) for t in track_ids]
        missing = [t for t in ids if t not in self.pos.index]
        if missing:
            raise KeyError(f"{len(missing)} tracks not in the catalog, e.g. {missing[:3]}")
        return self.pos[ids].to_numpy(dtype=np.int64) if ids else np.zeros(0, dtype=np.int64)


def ranking_scorer(ranking: Ranking, catalog: Catalog) -> Callable[[str], np.ndarray]:
    """``user_id -> scores over the catalog`` from a :class:`Ranking` (-inf where it has no score)."""
    keep = pd.Index(ranking.items).isin(catalog.pos.index)
    cols = catalog.index(ranking.items[keep])
    rows = pd.Series(np.arange(len(ranking.users)), index=ranking.users)

    def scorer(uid: str) -> np.ndarray:
        out = np.full(len(catalog), -np.inf)
        if uid in rows.index:
            out[cols] = ranking.scores[rows[uid], keep]
        return out

    return scorer


def listener_metrics(
    recs: np.ndarray, scores: np.ndarray, heard: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, float]:
    """One listener's metrics: ``recs`` (catalog positions, best first), ``scores`` over the catalog,
    ``heard`` (positions never to recommend, not candidates), ``truth`` (positions played for the first time)."""
    rel = set(truth.tolist())
    candidates = np.ones(len(scores), dtype=bool)
    candidates[heard] = False
    finite = np.where(np.isfinite(scores), scores, -1e18)
    return {
        f"precision@{k}": precision_at_k([recs], [rel], k),
        f"recall@{k}": recall_at_k([recs], [rel], k),
        f"ndcg@{k}": ndcg_at_k([recs], [rel], k),
        "mean_percentile_rank": float(np.mean(percentile_ranks(finite, candidates, sorted(rel)))),
    }


def score_system(
    system: str,
    lists: Mapping[str, Sequence[str]],
    scorer: Callable[[str], np.ndarray],
    truth: Mapping[str, Iterable[str]],
    heard: Mapping[str, Iterable[str]],
    catalog: Catalog,
    k: int,
    unit: str = "",
) -> list[dict[str, Any]]:
    """Rows ``(unit, user_id, system, metrics...)`` for every listener in ``truth``; a listener the
    system made no list for scores zero hits."""
    rows = []
    for uid in sorted(truth):
        recs = catalog.index(lists.get(uid, []))[:k]
        m = listener_metrics(recs, scorer(uid), catalog.index(heard.get(uid, ())), catalog.index(truth[uid]), k)
        rows.append({"unit": f"{unit}{uid}", USER_ID: uid, "system": system, **m})
    return rows


def summarise(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    paired_metrics: Sequence[str],
    subject: str,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean and 95% interval of each metric per system, and ``subject - other`` paired intervals.

    ``rows`` has one row per (unit, system) with ``user_id`` (the resampled listener) and the
    metrics; every system must have the same units.
    """
    systems = list(dict.fromkeys(rows["system"]))
    wide = {s: rows[rows["system"] == s].set_index("unit").sort_index() for s in systems}
    units = wide[systems[0]].index
    for s in systems:
        if not wide[s].index.equals(units):
            raise ValueError(f"{s} was scored on other listener-weeks than {systems[0]}")
    groups = wide[systems[0]][USER_ID].to_numpy()
    out: dict[str, Any] = {
        "units": len(units),
        "listeners": len(set(groups)),
        "systems": {
            s: {m: bootstrap_mean(wide[s][m], groups, n_resamples, seed).as_dict() for m in metrics} for s in systems
        },
        "paired": {},
    }
    for s in systems:
        if s != subject and subject in wide:
            out["paired"][f"{subject} - {s}"] = {
                m: paired_difference(wide[subject][m], wide[s][m], groups, n_resamples, seed).as_dict()
                for m in paired_metrics
            }
    return out


def _cell(iv: Mapping[str, float], signed: bool = False) -> str:
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return f"{fmt.format(iv['mean'])} [{fmt.format(iv['low'])}, {fmt.format(iv['high'])}]"


def markdown_tables(summary: Mapping[str, Any], metrics: Sequence[str], labels: Mapping[str, str]) -> str:
    """The summary as two markdown tables: systems (``labels``) x metrics, then the paired differences."""
    lines = ["| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for s, vals in summary["systems"].items():
        lines.append(f"| {labels.get(s, s)} | " + " | ".join(_cell(vals[m]) for m in metrics) + " |")
    if summary["paired"]:
        paired = next(iter(summary["paired"].values()))
        lines += ["", "| difference (paired) | " + " | ".join(paired) + " |", "|---" * (len(paired) + 1) + "|"]
        for name, vals in summary["paired"].items():
            lines.append(
                f"| {name.replace(' - ', ' minus ')} | "
                + " | ".join(_cell(vals[m], signed=True) for m in paired)
                + " |"
            )
    return "\n".join(lines)


def replace_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path`` (appended when absent)."""
    begin, end = f"<!-- BEGIN {name} (generated) -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text)
