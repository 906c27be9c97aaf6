"""Report: one self-contained HTML page per published week, next to the table.

Reads what the run itself wrote for week ``W``: ``run_metrics/week=W/*.json`` (stage
timings, ingest reasons, ALS and cold-start metrics, merge counts), ``als_metrics``,
``offline_eval`` (the latest evaluated week up to ``W``, when one exists), the published
``discover_weekly`` partition, ``item_factors`` (popularity) and the catalog; and writes
``<warehouse>/reports/week=W/report.html`` with every plot embedded as a PNG (no file or
network needed to view it): every headline metric beside its naive references with 95%
intervals and the paired interval of the difference (the ``references`` blocks of the ALS,
culture, audio CNN and offline-evaluation metrics, :func:`jobs.evaluation.stats.compare`),
metrics beside baselines, score distributions by source,
catalog coverage, popularity of what was recommended, stage timings, quarantined rows
by reason, the steps that skipped for want of input (``"skipped"`` in their metrics,
e.g. no audio or no web seeds) with the merge's notes, the taste clusters (intra-list
diversity, top-3 cluster coverage and, from the offline evaluation, recall@30, each with and
without the allotment, with intervals), and a few example playlists with their reasons.

Run alone::

    python -m jobs.report --week 2026-W47      # prints the report's path
    make report
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.config import Config, load_config
from jobs.runtime.cli import one_line_errors
from jobs.warehouse.atomic import write_text_atomic
from jobs.warehouse.catalog import read_catalog
from jobs.warehouse.store import Warehouse
from schemas.columns import ARTIST_ID, POSITION, REASON, SCORE, SOURCE, TRACK_ID, USER_ID


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def latest_evaluated_week(wh: Warehouse, week: str) -> str | None:
    """The latest week up to ``week`` that has an offline evaluation."""
    weeks = wh.weeks("offline_eval", until=week)
    return weeks[-1] if weeks else None


def bar(values: dict[str, float], title: str, xlabel: str = "") -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.4 * len(values) + 1))
    ax.barh(list(values), list(values.values()), color="#4c72b0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    return _png(fig)


def per_metric(frame: pd.DataFrame, title: str) -> str:
    """One small bar chart per metric (rows), models (columns) as bars, each on its own scale:
    a percentile rank near 0.3 and a precision near 0.004 never share an axis."""
    import matplotlib.pyplot as plt

    metrics = list(frame.index)
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.4 * len(metrics) + 0.5, 2.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        values = frame.loc[metric]
        ax.bar(range(len(values)), values.to_numpy(dtype=float), color="#4c72b0")
        ax.set_xticks(range(len(values)), [str(c) for c in values.index], rotation=45, ha="right", fontsize=7)
        lower = "percentile" in str(metric)
        ax.set_title(f"{metric}{' (lower is better)' if lower else ''}", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def audience_section(accounting: dict[str, Any] | None, personal: dict[str, Any] | None) -> list[str]:
    """Who got a playlist (every listener in the data accounted for) and how personal the lists are,
    beside most popular's for the same listeners."""
    parts = []
    if accounting:
        rest = accounting.get("without_playlist") or {}
        rows = [
            ("listeners in the data", accounting["in_data"]),
            ("active in the window (owed a playlist)", accounting["active"]),
            ("personal playlists", accounting["personal"]),
            ("fallback playlists", accounting["fallback"]),
            *((f"without a playlist: {reason}", n) for reason, n in rest.items()),
        ]
        parts += [
            "<h2>Who got a playlist</h2>",
            pd.DataFrame(rows, columns=["listeners", "count"]).to_html(index=False),
        ]
    if personal and personal.get("playlists", {}).get("rows"):
        frame = pd.DataFrame(personal).T
        parts += [
            "<h2>How personal the playlists are</h2>",
            "<p>Distinct tracks over rows, and how many tracks two listeners' lists share on average (over "
            "every pair), beside most popular's lists (by listeners, unheard, the same diversity rules) for the "
            "same listeners.</p>",
            frame.to_html(),
        ]
    return parts


def skips(runs: dict[str, Any]) -> dict[str, str]:
    """Job -> why it skipped (``"skipped"`` in its run metrics), in run-metrics order."""
    return {name: str(m["skipped"]) for name, m in runs.items() if isinstance(m, dict) and m.get("skipped")}


def _cell(iv: dict[str, Any], signed: bool = False) -> str:
    fmt = "{:+.4f}" if signed else "{:.4f}"
    return f"{fmt.format(iv['mean'])} [{fmt.format(iv['low'])}, {fmt.format(iv['high'])}]"


def verdict(diff: dict[str, Any], lower_is_better: bool = False) -> str:
    """What a paired interval of ``subject - reference`` says at its level."""
    low, high = (-diff["high"], -diff["low"]) if lower_is_better else (diff["low"], diff["high"])
    if low > 0:
        return "beats it"
    if high < 0:
        return "LOSES to it"
    return "no difference shown"


def reference_table(block: dict[str, Any]) -> str:
    """A ``references`` block as HTML: every system's metrics with intervals, then subject minus each."""
    subject = block["subject"]
    metrics = list(block["systems"][subject])
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    rows = []
    for system, vals in block["systems"].items():
        name = f"<b>{html.escape(system)}</b>" if system == subject else html.escape(system)
        cells = "".join(f"<td>{_cell(vals[m])}</td>" if m in vals else "<td></td>" for m in metrics)
        rows.append(f"<tr><td>{name}</td>{cells}</tr>")
    for pair, vals in block["paired"].items():
        cells = "".join(
            f"<td>{_cell(vals[m], signed=True)} ({verdict(vals[m], 'percentile' in m)})</td>"
            if m in vals
            else "<td></td>"
            for m in metrics
        )
        rows.append(f"<tr><td>{html.escape(pair.replace(' - ', ' minus '))}</td>{cells}</tr>")
    level = f"{block.get('level', 0.95):.0%}"
    note = (
        f"<p>{block['units']} {html.escape(block['unit'])}s ({block['groups']} resampled); mean "
        f"[{level} bootstrap interval, {block.get('resamples')} resamples]; the paired rows are {html.escape(subject)} "
        "minus the reference on the same units (lower is better for a percentile rank).</p>"
    )
    return f"<table><tr><th>system</th>{head}</tr>{''.join(rows)}</table>{note}"


def headline_rows(blocks: list[tuple[str, dict[str, Any] | None, tuple[str, ...]]]) -> list[tuple[str, ...]]:
    """One row per (headline metric, reference): the headline's value, the reference's and their paired
    difference. ``blocks`` holds (label, references block or None, prefixes of the headline metrics)."""
    out = []
    for label, block, prefixes in blocks:
        if not block:
            continue
        subject = block["subject"]
        for prefix in prefixes:
            metric = next((m for m in block["systems"][subject] if m.startswith(prefix)), None)
            if metric is None:
                continue
            for pair, vals in block["paired"].items():
                ref = pair.split(" - ", 1)[1]
                if metric in vals and metric in block["systems"][ref]:
                    out.append(
                        (
                            f"{label} ({subject})",
                            metric,
                            _cell(block["systems"][subject][metric]),
                            f"{ref}: {_cell(block['systems'][ref][metric])}",
                            _cell(vals[metric], signed=True),
                            verdict(vals[metric]),
                        )
                    )
    return out


def cluster_section(
    merge: dict[str, Any], clusters: dict[str, Any], evaluation: dict[str, Any] | None, eval_week: str | None = None
) -> list[str]:
    """Taste clusters: k per listener, and the playlists with allotment beside the same listeners' without it."""
    figures = {"merge": merge.get("taste_clusters") or {}, f"evaluation of {eval_week}": evaluation or {}}
    rows = []
    for where, found in figures.items():
        for metric, d in found.items():
            if isinstance(d, dict) and "with" in d:
                rows.append(
                    {
                        "metric": metric,
                        "from": where,
                        "listeners": d["listeners"],
                        "with allotment": _cell(d["with"]),
                        "without (reference)": _cell(d["without"]),
                        "difference (paired)": _cell(d["difference"], signed=True),
                    }
                )
    if not rows and not clusters.get("clusters_per_listener"):
        return []  # the step skipped: the skipped steps say so in one line
    parts = ["<h2>Taste clusters</h2>"]
    if clusters.get("clusters_per_listener"):
        parts.append(
            f"<p>{clusters.get('listeners')} listeners' recent tracks clustered by their audio vectors; listeners by "
            f"number of clusters: {html.escape(str(clusters['clusters_per_listener']))}.</p>"
        )
    if rows:
        share = figures["merge"].get("cluster_allotment")
        parts += [
            f"<p>Places allotted to clusters by share of listening: merge.cluster_allotment = {share}. "
            "Means with 95% intervals (listeners resampled); recall and NDCG from the latest offline evaluation.</p>",
            pd.DataFrame(rows).to_html(index=False),
        ]
    return parts


def listener_section(models: dict[str, Any], agent: dict[str, Any]) -> list[str]:
    """The user model's holdout metrics beside the per-track rate, the content model's per-listener AUC by
    history length, and the agent's judgement in the world model."""
    parts: list[str] = []
    user = (models.get("user_model") or {}).get("holdout") or {}
    rows = []
    for surface in ("discover_weekly", "organic"):
        for response in ("skip", "listen", "complete"):
            m = (user.get(surface) or {}).get(response)
            if m:
                rows.append(
                    (
                        surface,
                        response,
                        user[surface]["rows"],
                        m["rate"],
                        m["log_loss"],
                        m["baseline_log_loss"],
                        m["auc"],
                        m["baseline_auc"],
                    )
                )
    leaky = (models.get("user_model") or {}).get("leaky_rows", 0)
    leak = (
        f" {leaky} rows' ALS features come from a fit that saw them (no older fit in the warehouse): "
        "these figures are optimistic."
        if leaky
        else ""
    )
    if rows:
        cols = ["rows", "response", "n", "rate", "log loss", "per-track rate's log loss", "AUC", "per-track rate's AUC"]
        parts += [
            f"<h2>User model on {html.escape(user['week'])} (trained on the weeks before)</h2>",
            "<p>p(skip, listen, complete) of each Discover Weekly place and organic play, beside each track's own "
            "rate of the response in the training rows (shrunk towards the overall rate)." + leak + "</p>",
            pd.DataFrame(rows, columns=cols).to_html(index=False, float_format="%.4f"),
        ]
    content = models.get("content_model") or {}
    held = content.get("holdout")
    if held:
        table = [
            (
                bucket,
                b.get("listeners", 0),
                b.get("auc"),
                b.get("auc_ci95"),
                b.get("baseline_auc"),
                b.get("difference_ci95"),
            )
            for bucket, b in {"all": held["all"], **held["by_history"]}.items()
        ]
        cols = [
            "labelled tracks to learn from",
            "listeners",
            "AUC",
            "95% CI",
            "per-track rate's AUC",
            "difference 95% CI",
        ]
        parts += [
            f"<h2>Per-listener content model on {html.escape(held['week'])}</h2>",
            "<p>Each listener's AUC of liked (completed or saved) against only skipped tracks first played that "
            "week, from the tracks' sound alone, by how many labelled tracks the listener had before.</p>",
            pd.DataFrame(table, columns=cols).to_html(index=False, float_format="%.4f"),
        ]
    elif content.get("skipped"):
        parts += ["<h2>Per-listener content model</h2>", f"<p>Skipped: {html.escape(content['skipped'])}</p>"]
    world = agent.get("world_model")
    if world:
        table = [
            (name, world[name]["reward_per_place"], world[name]["listen_per_place"])
            for name in ("ahdqn", "greedy", "random")
        ]
        diff = world["ahdqn_minus_greedy"]["listen"]
        parts += [
            "<h2>The AH-DQN in its world model</h2>",
            f"<p>{world['listeners']} listeners; expected reward and listens per place as the world model (the user "
            f"model) predicts them; AH-DQN minus greedy listens per place {diff['difference']:+.4f} "
            f"{diff['ci95']}. The simulator, not this, judges the agent.</p>",
            pd.DataFrame(table, columns=["order", "reward per place", "listens per place"]).to_html(
                index=False, float_format="%.4f"
            ),
        ]
    return parts


def build(config: Config, week: str) -> str:
    """The report's HTML text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wh = Warehouse(config.paths.warehouse)
    table = wh.read_optional("discover_weekly", week)
    if table is None:
        raise SystemExit(f"error: {wh.partition('discover_weekly', week)} is not published; run the DAG first")
    runs = wh.read_metrics(week)
    tracks, artists = read_catalog(config.paths.data)
    parts = [
        f"<h1>Discover Weekly {html.escape(week)}</h1>",
        f"<p>{table['user_id'].nunique()} playlists, {len(table)} rows, "
        f"{table['track_id'].nunique()} distinct tracks of {len(tracks)} in the catalog.</p>",
    ]
    skipped = skips(runs)
    if skipped:
        notes = runs.get("merge", {}).get("notes") or []
        parts += [
            "<h2>Skipped steps</h2>",
            "<p>Too little input for these steps this week; the merge ran on what exists.</p>",
            "<ul>"
            + "".join(f"<li><b>{html.escape(job)}</b>: {html.escape(why)}</li>" for job, why in skipped.items())
            + "".join(f"<li>merge: {html.escape(note)}</li>" for note in notes)
            + "</ul>",
        ]

    parts += audience_section(runs.get("validate", {}).get("accounting"), runs.get("merge", {}).get("personalisation"))
    eval_week = latest_evaluated_week(wh, week)
    eval_refs = wh.read_metrics(eval_week).get("offline_eval", {}).get("references") if eval_week else None
    cold_start = runs.get("audio_eval", {})  # the CNN's cold-start evaluation (jobs.audio_cnn evaluate)
    blocks = [
        ("ALS holdout", runs.get("als", {}).get("references"), ("recall@", "ndcg@")),
        (f"offline evaluation of {eval_week}", eval_refs, ("recall@", "ndcg@", "precision@")),
        ("audio cold start, whole catalog", cold_start.get("whole_catalog"), ("auc", "recall@")),
        ("cultural neighbours' genre", runs.get("culture", {}).get("references"), ("precision@",)),
    ]
    rows = headline_rows(blocks)
    if rows:
        cols = ["headline", "metric", "value [95% CI]", "reference [95% CI]", "headline minus reference", "verdict"]
        parts += [
            "<h2>Headlines beside their naive references</h2>",
            "<p>Each headline metric of this run beside what a naive system scores on the same units; the "
            "difference is the paired bootstrap interval (a claim that the headline beats a reference rests on "
            "it excluding 0).</p>",
            pd.DataFrame(rows, columns=cols).to_html(index=False, escape=True),
        ]
    als = wh.read_optional("als_metrics", week)
    if als is not None and len(als):
        pivot = als.pivot(index="metric", columns="model", values="value")
        pivot = pivot.drop(index=[m for m in ("users", "holdout_pairs") if m in pivot.index])
        parts += [
            "<h2>ALS against most-popular (holdout: last week's first-time plays)</h2>",
            per_metric(pivot, "ALS vs most popular (each metric on its own scale)"),
            reference_table(blocks[0][1]) if blocks[0][1] else pivot.to_html(float_format="%.4f"),
        ]
    if eval_week:
        ev = wh.read_optional("offline_eval", eval_week)
        pivot = ev.pivot(index="metric", columns="model", values="value")
        shown = [m for m in pivot.index if m.startswith(("precision", "recall", "ndcg"))]
        parts += [
            f"<h2>Offline evaluation of {html.escape(eval_week)}: blend against each source</h2>",
            per_metric(pivot.loc[shown], f"Playlists for {eval_week} vs first-time plays in {eval_week}"),
        ]
        if eval_refs:
            parts.append(reference_table(eval_refs))
        rest = [c for c in pivot.columns if not eval_refs or c not in eval_refs["systems"]]
        if rest:  # the systems the table above does not hold, each shown once
            parts.append(pivot[rest].to_html(float_format="%.4f"))
    evaluated = wh.read_metrics(eval_week).get("offline_eval", {}).get("taste_clusters") if eval_week else None
    parts += cluster_section(runs.get("merge", {}), runs.get("taste_clusters", {}), evaluated, eval_week)
    cold = cold_start.get("metrics")
    if cold:
        parts += [
            "<h2>Audio cold start (15% of played tracks held out)</h2>",
            "<p>Held-out pool: each listener ranks the held-out tracks only.</p>",
            pd.DataFrame(cold).T.to_html(float_format="%.4f"),
        ]
        if cold_start.get("whole_catalog"):
            parts += [
                "<p>Whole catalog: each listener ranks every track with audio they have not played.</p>",
                reference_table(cold_start["whole_catalog"]),
            ]
    if blocks[3][1]:
        parts += ["<h2>Cultural neighbours sharing the artist's genre</h2>", reference_table(blocks[3][1])]
    parts += listener_section(runs.get("listener_models", {}), runs.get("ahdqn", {}))

    fig, ax = plt.subplots(figsize=(7, 3))
    blended = table[table[SOURCE].isin(["als", "audio", "culture", "sequence"])]
    for source, g in blended.groupby(SOURCE):
        ax.hist(g[SCORE], bins=40, alpha=0.6, label=f"{source} ({len(g)})")
    ax.set_title("Blended scores by source (fallback and popular fills are scored by popularity)")
    ax.legend(fontsize=8)
    parts += ["<h2>Score distributions</h2>", _png(fig)]

    counts = wh.read_optional("play_counts", week, [USER_ID, TRACK_ID])
    if counts is not None:
        listeners = counts.groupby(TRACK_ID).size().rename("listeners").reset_index()
        rank = listeners.sort_values(["listeners", TRACK_ID], ascending=[False, True]).reset_index(drop=True)
        rank = pd.Series(range(1, len(rank) + 1), index=rank[TRACK_ID])
        rec_rank = table[TRACK_ID].map(rank).dropna()
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.hist(rec_rank, bins=50, color="#55a868")
        ax.set_title(
            f"Popularity rank of recommended tracks (1 = most listeners in the window; "
            f"{table['track_id'].isin(rank.index).mean():.0%} have plays)"
        )
        parts += ["<h2>Popularity of what was recommended</h2>", _png(fig)]
    coverage = table.groupby(SOURCE)[TRACK_ID].nunique().to_dict()
    coverage["all sources"] = table[TRACK_ID].nunique()
    parts += [
        "<h2>Catalog coverage</h2>",
        bar({k: v / len(tracks) for k, v in coverage.items()}, "Share of the catalog recommended to someone"),
    ]
    timings = {name: m["seconds"] for name, m in runs.items() if isinstance(m, dict) and "seconds" in m}
    if timings:
        parts += ["<h2>Stage timings</h2>", bar(timings, "Seconds per job", "s")]
    reasons = runs.get("ingest", {}).get("reasons")
    if reasons:
        parts += ["<h2>Quarantined input rows</h2>", bar(reasons, "Rows by reason")]

    names = artists.set_index(ARTIST_ID)["name"]
    titles = tracks.set_index(TRACK_ID)["title"]
    parts.append("<h2>Example playlists</h2>")
    examples = sorted(table[USER_ID].unique())[:3]
    for user in examples:
        rows = table[table[USER_ID] == user].sort_values(POSITION)
        show = pd.DataFrame(
            {
                "#": rows[POSITION],
                "title": rows[TRACK_ID].map(titles),
                "artist": rows[ARTIST_ID].map(names),
                SOURCE: rows[SOURCE],
                REASON: rows[REASON],
            }
        )
        parts += [f"<h3>{html.escape(user)}</h3>", show.to_html(index=False)]
    style = (
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Discover Weekly {html.escape(week)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def report_path(config: Config, week: str) -> Path:
    return Warehouse(config.paths.warehouse).partition("reports", week) / "report.html"


def run(config: Config, week: str) -> Path:
    path = report_path(config, week)
    write_text_atomic(path, build(config, week))
    return path


@one_line_errors(ValueError)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the week's HTML report and print its path.")
    parser.add_argument("--week", help="ISO week (default: the latest published)")
    parser.add_argument("--conf", help="configuration file (default conf/pipeline.yaml)")
    parser.add_argument("--path-only", action="store_true", help="print the existing report's path, build nothing")
    args = parser.parse_args(argv)
    config = load_config(args.conf)
    week = args.week
    if not week:
        weeks = Warehouse(config.paths.warehouse).weeks("discover_weekly")
        if not weeks:
            print("error: no published week; run `make run` first", file=sys.stderr)
            return 2
        week = weeks[-1]
    path = report_path(config, week) if args.path_only else run(config, week)
    if not path.exists():
        print(f"error: {path} does not exist; run `python -m jobs.report --week {week}`", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
