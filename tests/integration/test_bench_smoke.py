"""`make bench` in miniature: the whole harness on a world of ~25,000 events, once each,
so that the benchmarks cannot rot. No timing is asserted here (timings belong to `make bench`);
what is asserted is that every section ran on real output and that the two top-K
implementations agree."""

import json
import subprocess
import sys

import pytest

from tests.airflow_env import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.spark, pytest.mark.tf]


def test_bench_smoke_runs_every_section_and_writes_json_and_markdown(tmp_path):
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--root", str(tmp_path / "bench"), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(out.read_text())

    (run,) = result["scale"]
    assert run["size"] == "smoke" and 15_000 < run["play_events"] < 40_000
    assert run["listeners_published"] > 300
    for stage in ("ingest", "als", "audio_features", "crawl", "culture", "merge", "validate"):
        assert run["stage_seconds"][stage] > 0, stage
    assert run["peak_tree_rss_gib"] > 0.3 and run["dag_wall_seconds"] > 0
    assert run["implicit"]["implicit_cg_seconds"] > 0 and run["implicit"]["spark_fit_seconds"] > 0

    (als,) = result["als_vs_implicit"].values()
    for name in ("spark", "implicit_cg", "implicit_cholesky"):
        assert als["fit_seconds_median"][name] > 0
        assert 0 < als["precision@10"][name] <= 1
    assert als["settings"]["rank"] == 32 and als["train_pairs"] > 5_000

    (topk,) = result["top_k"].values()
    assert topk["users"] > 300 and topk["k"] == 30
    assert topk["same_top_k_share"] >= 0.95  # same output both ways, up to float ties

    assert result["spectrograms"]["clips"] == 16 and result["spectrograms"]["clips_per_second_median"] > 0
    assert result["spacy"]["words"] > 1_000 and result["spacy"]["words_per_second_median"] > 0
    assert result["merge"]["listeners"] == run["listeners_published"]
    annoy = result["annoy"]["synthetic 1,000"]
    assert annoy["items"] == 1000 and 0.5 < annoy["recall_at_k"] <= 1 and annoy["build_seconds"] > 0

    md = out.with_suffix(".md").read_text()
    for heading in ("## Scale", "## Spark ALS against implicit", "## Top-K", "## Stages", "## Targets", "## Annoy"):
        assert heading in md
    assert "| smoke | " in md
