"""The Markdown page of `make bench` (docs/BENCHMARKS.md) and the check of its targets.

Reads the result dict that :mod:`bench.run` builds (and saves as docs/bench.json); writes
nothing itself. ``python -m bench.run --render`` re-renders the page from the JSON.
"""

from __future__ import annotations

from typing import Any

TARGETS = {
    "10m_week_minutes": 10.0,  # a week costs what is new (was 30)
    "10m_week_peak_gib": 12.0,
    "als_fit_vs_implicit": 3.0,
    "top_k_speedup": 5.0,
}


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` (`python -m bench.run{' --smoke' if result['smoke'] else ''}`) on {m['date']}: "
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, Spark {m['spark']} "
        f"(`local[2]`), {m['java']}. Times are medians of {result['repeats']} run(s) unless a row says otherwise; "
        "whole-DAG runs are single runs. The raw numbers are in `docs/bench.json`; what they mean, "
        "and what was changed because of them, is in docs/measurements.md (Performance at scale).",
        "",
    ]
    scale = result.get("scale")
    if scale:
        lines += [
            "## Scale: one whole week through Airflow (`airflow dags test`)",
            "",
            "| world | play events | listeners | tracks | DAG wall | peak RSS (tree) | ingest | ALS (fit) | merge | "
            "validate | audio feat. | CNN | crawl | culture | implicit fit cg / cholesky | measured |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in scale:
            s = r["stage_seconds"]
            imp = r.get("implicit", {})

            def sec(name: str, stages: dict[str, Any] = s) -> str:
                v = stages.get(name)
                return "-" if v is None else f"{v:.0f} s" if v >= 10 else f"{v:.1f} s"

            lines.append(
                f"| {r['size']} | {r['play_events']:,} | {r['world']['users']:,} | {r['world']['tracks']:,} | "
                f"{r['dag_wall_seconds'] / 60:.1f} min | {r['peak_tree_rss_gib']:.2f} GiB | {sec('ingest')} | "
                f"{sec('als')} ({r['als_fit_seconds']:.0f} s) | {sec('merge')} | {sec('validate')} | "
                f"{sec('audio_features')} | {sec('audio_cnn')} | {sec('crawl')} | {sec('culture')} | "
                f"{imp.get('implicit_cg_seconds', '-')} s / {imp.get('implicit_cholesky_seconds', '-')} s | "
                f"{r.get('measured', m['date'])[:10]} |"
            )
        lines += [""]
        engines = [r for r in scale if (r.get("merge_engines") or {}).get("local")]
        if engines:
            lines += [
                "## The merge on each engine (`merge.engine`, the same warehouse, after the week's run)",
                "",
                "| world | listeners | local: job / process | Spark `local[2]`: job / process | Spark / local | "
                "same rows (scores to 1e-5) |",
                "|---|---|---|---|---|---|",
            ]
            for r in engines:
                e = r["merge_engines"]
                lo, sp = e["local"], e["spark"]
                lines.append(
                    f"| {r['size']} | {r['listeners_published']:,} | {lo['job_seconds']:.1f} s / "
                    f"{lo['wall_seconds']:.1f} s | {sp['job_seconds']:.1f} s / {sp['wall_seconds']:.1f} s | "
                    f"{sp['job_seconds'] / max(lo['job_seconds'], 1e-9):.2f}x | {'yes' if e['same_rows'] else 'NO'} |"
                )
            lines += [""]
    for key, title in (("als_vs_implicit", "Spark ALS against implicit (same matrix, settings and split)"),):
        if result.get(key):
            lines += [
                f"## {title}",
                "",
                "| data | pairs | rank / iters / reg / alpha | Spark fit | implicit cg | implicit cholesky | "
                "Spark / cg | Spark / cholesky | p@10 Spark | p@10 implicit cg | p@10 implicit chol. | p@10 popular |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for name, r in result[key].items():
                st, f, p = r["settings"], r["fit_seconds_median"], r["precision@10"]
                lines.append(
                    f"| {name} | {r['train_pairs']:,} | {st['rank']} / {st['iterations']} / {st['reg_param']} / "
                    f"{st['alpha']} | {f['spark']:.2f} s | {f['implicit_cg']:.2f} s | {f['implicit_cholesky']:.2f} s | "
                    f"{r['spark_over_implicit_cg']}x | {r['spark_over_implicit_cholesky']}x | {p['spark']:.4f} | "
                    f"{p['implicit_cg']:.4f} | {p['implicit_cholesky']:.4f} | {p['most_popular']:.4f} |"
                )
            lines += [""]
    if result.get("annoy"):
        a = result["annoy"]
        lines += [
            "## Annoy against exact search (`bench/annoy_recall.py`)",
            "",
            "Angular index as the `sequence` source builds it (`sequence.n_trees` trees, one thread); exact = cosine "
            "by a float32 matrix product. Queries near the items (a taste vector is not a song)."
            + (
                f" Measured {a['measured']['date']}, load average {a['measured']['load_average_1min']} on this "
                "machine's cores (shared): times are slower than on an idle machine."
                if a.get("measured")
                else ""
            ),
            "",
            "| vectors | items | dim | trees | recall@10 | build | Annoy query | exact query |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in a.items():
            if name in ("audio_candidates", "measured"):
                continue
            lines.append(
                f"| {name} | {r['items']:,} | {r['dimension']} | {r['n_trees']} | {r['recall_at_k']:.3f} | "
                f"{r['build_seconds']:.2f} s | {r['annoy_query_ms']:.3f} ms | {r['exact_query_ms']:.3f} ms |"
            )
        if a.get("audio_candidates"):
            lines += [
                "",
                "The merge's audio candidates above `merge.annoy_min_cold` never-played tracks: Annoy by inner "
                "product (300 per listener) against scoring them all.",
                "",
                "| never-played tracks | exact per listener | Annoy per listener | Annoy build | recall of the best 300 "
                "| recall of the final 30 |",
                "|---|---|---|---|---|---|",
            ]
            for r in a["audio_candidates"]:
                final = r.get("recall_final_30")
                lines.append(
                    f"| {r['cold_tracks']:,} | {r['exact_ms_per_listener']:.2f} ms | {r['annoy_ms_per_listener']:.2f} ms "
                    f"| {r['annoy_build_seconds']:.1f} s | {r['recall']:.3f} | "
                    f"{'-' if final is None else f'{final:.3f}'} |"
                )
        lines += [""]
    if result.get("als_tuning"):
        t = result["als_tuning"]
        base = t["variants"]["project settings"]["seconds_median"]
        lines += [
            f"## Spark ALS knobs, one at a time ({t['data']}, {t['pairs']:,} pairs; native BLAS found: "
            f"{'yes' if t['native_blas'] else 'no, Java BLAS'})",
            "",
            "| variant | fit | vs project settings |",
            "|---|---|---|",
        ]
        for name, v in t["variants"].items():
            lines.append(f"| {name} | {v['seconds_median']:.2f} s | {v['seconds_median'] / base:.2f}x |")
        lines += [""]
    if result.get("als_profile"):
        p = result["als_profile"]
        lines += [
            f"## Where a Spark ALS fit spends its time ({p['data']}, Spark event log, one fit)",
            "",
            f"Fit wall {p['fit_wall_seconds']:.1f} s on 2 cores = {2 * p['fit_wall_seconds']:.1f} core-seconds; "
            f"tasks ran {p['task_run_seconds']:.1f} s ({p['task_cpu_seconds']:.1f} s on CPU, {p['gc_seconds']:.1f} s "
            f"in GC) in {p['jobs']} jobs. The rest is the driver planning and scheduling jobs and stages.",
            "",
            "| stage | stages | tasks | wall | task run | task CPU | GC | shuffle |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for st in p["stages"][:8]:
            lines.append(
                f"| `{st['stage']}` | {st.get('stages', 0):.0f} | {st.get('tasks', 0):.0f} | {st.get('wall_s', 0):.1f} s | "
                f"{st.get('run_s', 0):.1f} s | {st.get('cpu_s', 0):.1f} s | {st.get('gc_s', 0):.1f} s | "
                f"{st.get('shuffle_mb', 0):.0f} MB |"
            )
        lines += [""]
    if result.get("top_k"):
        lines += [
            "## Top-K for every listener: `recommendForAllUsers` against the blocked numpy top-K",
            "",
            "| data | listeners x items | k | Spark | numpy | speed-up | same top-K set | mean overlap |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in result["top_k"].items():
            s = r["seconds_median"]
            lines.append(
                f"| {name} | {r['users']:,} x {r['items']:,} | {r['k']} | {s['spark']:.2f} s | {s['numpy']:.2f} s | "
                f"{r['speedup']}x | {r['same_top_k_share']:.2%} | {r['mean_overlap']:.2%} |"
            )
        lines += [""]
    micro = [
        ("spectrograms", "Spectrograms + attributes", "clips_per_second_median", "clips/s", "clips"),
        ("spacy", "spaCy extraction", "words_per_second_median", "words/s", "words"),
        ("merge", "Merge (blend, 30 per listener)", "listeners_per_second", "listeners/s", "listeners"),
    ]
    if any(result.get(k) for k, *_ in micro) or result.get("make_run"):
        lines += ["## Stages and the whole `make run`", "", "| what | rate / time | on |", "|---|---|---|"]
        for key, title, field, unit, size in micro:
            if result.get(key):
                lines.append(f"| {title} | {result[key][field]:,} {unit} | {result[key][size]:,} {size} |")
        if result.get("make_run"):
            r = result["make_run"]
            lines.append(
                f"| `make run` (whole, venv ready) | {r['wall_seconds'] / 60:.1f} min, peak {r['peak_tree_rss_gib']} GiB "
                "| sample world (single run) |"
            )
        lines += [""]
    if result.get("real_audio"):
        from studies.real_audio import markdown as real_audio_markdown

        lines += real_audio_markdown(result["real_audio"])
    for error in result.get("errors") or []:
        lines += [f"**Failed:** {error}", ""]
    if result.get("targets"):
        lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
        for t in result["targets"]:
            lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
        lines += [""]
    return "\n".join(lines) + "\n"


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    big = next((r for r in result.get("scale") or [] if r["size"] == "10m"), None)
    if big:
        out.append(
            {
                "target": f"10M-event week, raw logs to published table, < {TARGETS['10m_week_minutes']:.0f} min",
                "measured": f"{big['dag_wall_seconds'] / 60:.1f} min (measured {big.get('measured', '?')})",
                "met": big["dag_wall_seconds"] / 60 < TARGETS["10m_week_minutes"],
            }
        )
        out.append(
            {
                "target": f"10M-event week peak memory < {TARGETS['10m_week_peak_gib']:.0f} GiB",
                "measured": f"{big['peak_tree_rss_gib']:.2f} GiB (measured {big.get('measured', '?')})",
                "met": big["peak_tree_rss_gib"] < TARGETS["10m_week_peak_gib"],
            }
        )
    for name, r in (result.get("als_vs_implicit") or {}).items():
        ratio = r["spark_over_implicit_cholesky"]
        p = r["precision@10"]
        out.append(
            {
                "target": f"Spark ALS fit within {TARGETS['als_fit_vs_implicit']:.0f}x implicit's, p@10 at least equal ({name})",
                "measured": f"{ratio}x implicit cholesky ({r['spark_over_implicit_cg']}x cg); "
                f"p@10 {p['spark']:.4f} vs {p['implicit_cholesky']:.4f} / {p['implicit_cg']:.4f}",
                "met": ratio <= TARGETS["als_fit_vs_implicit"]
                and p["spark"] >= min(p["implicit_cholesky"], p["implicit_cg"]),
            }
        )
    for name, r in (result.get("top_k") or {}).items():
        out.append(
            {
                "target": f"top-K >= {TARGETS['top_k_speedup']:.0f}x faster than recommendForAllUsers ({name})",
                "measured": f"{r['speedup']}x, same set for {r['same_top_k_share']:.2%} of listeners",
                "met": r["speedup"] >= TARGETS["top_k_speedup"],
            }
        )
    return out
