"""The rolling real-data evaluation: its truth rule (fast) and a smoke run of the driver on a tiny MovieLens file."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from jobs.evaluation.systems import Catalog, listener_metrics, replace_section
from studies import rolling_eval


def _plays(rows):
    return pd.DataFrame(
        [(u, t, pd.Timestamp(ts, tz="UTC"), ms) for u, t, ts, ms in rows],
        columns=["user_id", "track_id", "played_at", "ms_played"],
    )


def test_truth_is_first_time_plays_of_listeners_with_history():
    plays = _plays(
        [
            ("a", "t1", "2024-01-03", 180_000),  # before the week (2024-W02 starts Monday 2024-01-08)
            ("a", "t1", "2024-01-09", 180_000),  # a replay: not a first time
            ("a", "t2", "2024-01-09", 180_000),  # first time: truth
            ("a", "t3", "2024-01-10", 10_000),  # a skip: not a play
            ("b", "t2", "2024-01-09", 180_000),  # b has no history before the week: not a listener-week
            ("a", "t4", "2024-01-15", 180_000),  # the next week
        ]
    )
    before, heard, truth = rolling_eval.week_truth(plays, "2024-W02", 30_000)
    assert len(before) == 1 and heard == {"a": {"t1"}}
    assert truth == {"a": {"t2"}}
    assert rolling_eval.last_weeks(plays, 2) == ["2024-W02", "2024-W03"]


def test_listener_metrics_and_percentile_rank_over_unheard_catalog():
    # catalog t0..t4; heard t0; truth t3; the system ranks t1, t3 and cannot rank t2, t4
    scores = np.array([-np.inf, 2.0, -np.inf, 1.0, -np.inf])
    m = listener_metrics(np.array([1, 3]), scores, np.array([0]), np.array([3]), k=2)
    assert m["precision@2"] == 0.5 and m["recall@2"] == 1.0
    assert m["ndcg@2"] == pytest.approx(1 / np.log2(3))
    assert m["mean_percentile_rank"] == pytest.approx(1 / 3)  # 4 candidates, one above: 1 / (4 - 1)
    assert Catalog(["t2", "t1", "t1"]).ids.tolist() == ["t1", "t2"]


def test_replace_section_keeps_the_hand_written_text(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("# Title\n\nprose\n")
    replace_section(doc, "x", "table 1")
    replace_section(doc, "x", "table 2")
    text = doc.read_text()
    assert text.startswith("# Title\n\nprose\n") and "table 2" in text and "table 1" not in text
    assert text.count("BEGIN x") == 1


def write_movielens(folder, users=10, movies=70, weeks=6, seed=0):
    """A tiny MovieLens 100k folder: popular movies get more ratings, one rating a play."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    items = "".join(f"{m}|Movie {m} (1997)|01-Jan-1997||http://x|0\n" for m in range(1, movies + 1))
    (folder / "u.item").write_bytes(items.encode("latin-1"))
    start = int(dt.datetime(1998, 1, 5, tzinfo=dt.UTC).timestamp())  # a Monday
    weight = 1.0 / np.arange(1, movies + 1)
    lines = []
    for u in range(1, users + 1):
        seen = rng.choice(np.arange(1, movies + 1), size=4 + 3 * weeks, replace=False, p=weight / weight.sum())
        for j, m in enumerate(seen):
            ts = start + int((j / len(seen)) * weeks * 7 * 86400) + int(rng.integers(0, 3600))
            lines.append(f"{u}\t{m}\t{int(rng.integers(1, 6))}\t{ts}\n")
    (folder / "u.data").write_text("".join(lines))


@pytest.mark.slow
@pytest.mark.spark
def test_rolling_eval_smoke_on_a_tiny_movielens_file(tmp_path):
    src = tmp_path / "ml"
    write_movielens(src)
    out, md = tmp_path / "real.json", tmp_path / "real.md"
    md.write_text("# Real data\n\nhand-written\n")
    args = ["--data", str(src), "--weeks", "2", "--keep", str(tmp_path / "work"), "--out", str(out), "--md", str(md)]
    rc = rolling_eval.main([*args, "--resamples", "200", "--service-start", "1997-12-01"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["weeks"] == ["1998-W06", "1998-W07"]
    summary = result["summary"]
    assert set(summary["systems"]) == {"pipeline", "most_popular", "most_popular_4w", "implicit_als", "item_knn"}
    assert summary["units"] == sum(w["listener_weeks"] for w in result["per_week"]) > 0
    for vals in summary["systems"].values():
        for iv in vals.values():
            assert iv["low"] <= iv["mean"] <= iv["high"]
    assert set(summary["paired"]) == {f"pipeline - {s}" for s in summary["systems"] if s != "pipeline"}
    assert all(w["playlists_published"] > 0 for w in result["per_week"])
    assert result["checks"] and "ingest kept all" in result["checks"][0]
    # the pipeline's own tables for each week (run by the jobs, no later plays used)
    wh = tmp_path / "work" / "warehouse"
    assert all((wh / "discover_weekly" / f"week={w}").is_dir() for w in result["weeks"])
    text = md.read_text()
    assert text.startswith("# Real data\n\nhand-written\n") and "BEGIN rolling-eval" in text and "minus" in text
