"""The generated sections of ``docs/measurements.md``, rendered from the JSON files the commands write.

* ``offline-eval``: the offline evaluation of a week (``make evaluate``, i.e.
  ``python -m jobs.evaluate --week W --out docs/evaluation.json``): every ranking beside the
  naive references with 95% bootstrap intervals, and the paired interval of the blend minus
  each (bold where it excludes 0).

Reads ``--evaluation`` (default ``docs/evaluation.json``), rewrites the section between its
``BEGIN``/``END`` markers in ``--md`` (default ``docs/measurements.md``) and leaves the
hand-written text around it. Run alone::

    python -m studies.measurements
    python -m studies.measurements --check     # exit 1 when the page differs from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobs.config import PROJECT_ROOT
from jobs.evaluation.systems import replace_section

DOCS = PROJECT_ROOT / "docs"
METRICS = ("precision@30", "recall@30", "ndcg@30")
LABELS = {
    "blend": "**blend**",
    "als": "ALS alone",
    "blend_without_sequence": "blend without `sequence`",
    "blend_no_clusters": "blend without the cluster allotment",
    "audio": "audio alone",
    "culture": "culture alone",
    "sequence": "`sequence` alone",
    "most_popular": "most popular (all history)",
    "most_popular_recent": "most popular (last 4 weeks)",
}


def _interval(v: Mapping[str, float], signed: bool = False) -> str:
    f = "{:+.4f}" if signed else "{:.4f}"
    text = f"{f.format(v['mean'])} [{f.format(v['low'])}, {f.format(v['high'])}]"
    return f"**{text}**" if signed and (v["low"] > 0 or v["high"] < 0) else text


def offline_eval(result: Mapping[str, Any]) -> str:
    """The two tables of one week's offline evaluation (``jobs.evaluate``'s output)."""
    refs, results = result["references"], result["results"]
    systems = [name for name in LABELS if name in refs["systems"]]
    lines = [
        f"Week {result['week']}, scored by `python -m jobs.evaluate --week {result['week']}`: "
        f"{result['truth_pairs']:,} first-time plays of {result['listeners_with_truth']:,} listeners "
        f"({result['cold_truth_pairs']:,} on tracks nobody had played before), {refs['groups']:,} listeners "
        "with a personal list and truth; 95% bootstrap intervals over listeners.",
        "",
        "| ranking | precision@30 | recall@30 | NDCG@30 | mean percentile rank | catalog coverage "
        "| new-release share | cold-start hit rate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in systems:
        s, r = refs["systems"][name], results[name]
        cells = [_interval(s[m]) for m in METRICS]
        cells += [
            f"{r['mean_percentile_rank']:.3f}",
            f"{r['catalog_coverage']:.3f}",
            f"{r['new_release_share']:.3f}",
            f"{r['cold_start_hit_rate']:.3f}",
        ]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"| the blend minus (paired, {refs['groups']:,} listeners) | precision@30 | recall@30 | NDCG@30 "
        "| mean percentile rank (lower is better) |",
        "|---|---|---|---|---|",
    ]
    for name in systems:
        paired = refs["paired"].get(f"blend - {name}")
        if paired is None:
            continue
        cells = [_interval(paired[m], signed=True) for m in METRICS]
        cells.append(f"{paired['mean_percentile_rank']['mean']:+.3f}")
        lines.append(f"| {LABELS[name].strip('*')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(md: Path, evaluation: Path) -> None:
    replace_section(md, "offline-eval", offline_eval(json.loads(evaluation.read_text())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.measurements", description=__doc__.splitlines()[0])
    parser.add_argument("--md", type=Path, default=DOCS / "measurements.md")
    parser.add_argument("--evaluation", type=Path, default=DOCS / "evaluation.json")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the page differs")
    args = parser.parse_args(argv)
    if args.check:
        before = args.md.read_text()
        scratch = args.md.with_name(f".{args.md.name}.check")
        scratch.write_text(before)
        try:
            render(scratch, args.evaluation)
            same = scratch.read_text() == before
        finally:
            scratch.unlink()
        print(
            f"{args.md}: "
            + ("matches the JSON" if same else "differs from the JSON; run python -m studies.measurements")
        )
        return 0 if same else 1
    render(args.md, args.evaluation)
    print(f"wrote {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
