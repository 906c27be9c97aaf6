"""studies.blend_setting: pooled over weeks by listener-week, each value against the setting at 0 and ALS alone."""

import pytest

from studies.blend_setting import label, summarise


def test_summarise_pools_weeks_and_compares_each_value_with_zero_and_with_als_alone():
    users = [f"u{i}" for i in range(8)]
    zero, four = label("w_sequence", 0.0), label("w_sequence", 0.4)
    assert (zero, four) == ("w_sequence=0", "w_sequence=0.4")
    week = {
        zero: {u: (0.2, 0.1) for u in users},
        four: {u: (0.3, 0.1 + 0.01 * i) for i, u in enumerate(users)},  # +0.1 recall for everyone
        "als_alone": {u: (0.25, 0.1) for u in users},
        "sequence_alone": {u: (0.0, 0.0) for u in users},
        "most_popular": {u: (0.15, 0.05) for u in users},
    }
    out = summarise({"2026-W44": week, "2026-W45": week}, zero)
    assert out[four]["listener_weeks"] == 16 and out[four]["recall@30"]["groups"] == 8  # listeners resampled
    gain = out[four]["recall@30 minus w_sequence=0"]
    assert (gain["mean"], gain["low"], gain["high"]) == pytest.approx((0.1, 0.1, 0.1))
    versus_als = out[four]["recall@30 minus als_alone"]
    assert (versus_als["mean"], versus_als["low"], versus_als["high"]) == pytest.approx((0.05, 0.05, 0.05))
    assert out[four]["ndcg@30 minus w_sequence=0"]["mean"] == pytest.approx(0.035)
    assert out[zero]["recall@30 minus als_alone"]["mean"] == pytest.approx(-0.05)  # the base against ALS too
    assert "recall@30 minus als_alone" not in out["sequence_alone"]  # references only against the base
    assert "recall@30 minus als_alone" not in out["most_popular"]
    assert out["most_popular"]["recall@30 minus w_sequence=0"]["mean"] == pytest.approx(-0.05)
    assert out[four]["recall@30 minus most_popular"]["mean"] == pytest.approx(0.15)  # values against the naive list
    assert "recall@30 minus w_sequence=0" not in out[zero]


def test_the_scratch_warehouse_links_every_table_but_the_sequence_jobs_own(tmp_path):
    from studies.sequence_setting import scratch_warehouse

    real = tmp_path / "wh"
    for table in ("plays", "item_factors", "song_vectors", "run_metrics"):
        (real / table / "week=2026-W44").mkdir(parents=True)
        (real / table / "week=2026-W44" / "part.txt").write_text(table)
    scratch = scratch_warehouse(real, tmp_path / "scratch")
    assert sorted(p.name for p in scratch.iterdir()) == ["item_factors", "plays", "run_metrics", "song_vectors"]
    assert (scratch / "plays").is_symlink() and (scratch / "item_factors").is_symlink()
    assert not (scratch / "song_vectors").is_symlink() and not (scratch / "run_metrics").is_symlink()
    (scratch / "song_vectors" / "week=2026-W44" / "part.txt").write_text("rewritten")
    assert (real / "song_vectors" / "week=2026-W44" / "part.txt").read_text() == "song_vectors"  # untouched
    assert (scratch / "plays" / "week=2026-W44" / "part.txt").read_text() == "plays"  # shared
