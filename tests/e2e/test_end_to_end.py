"""The whole DAG through Airflow on the tiny world: the published table keeps every promise,
and a rerun of the week replaces it with identical rows; and guards that fail when a source
falls to the naive reference measured in the same run (each names both values)."""

import json
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.warehouse.catalog import read_catalog
from jobs.warehouse.store import Warehouse
from schemas.metrics import check_references
from schemas.tables import arrow_schema
from tests.airflow_env import ROOT, airflow_env, copy_warehouse, run_airflow
from tests.conftest import TINY_LOGICAL_DATE as LOGICAL_DATE
from tests.conftest import TINY_WEEK as WEEK

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.spark, pytest.mark.tf]


@pytest.fixture(scope="module")
def runs(tiny_world, tiny_week, tmp_path_factory):
    """The week as the DAG first computed it (the ``tiny_week`` fixture: two tasks at once, as
    ``make run`` runs it); then, on a copy of that warehouse, computed again with step reuse off
    and one task after another (``airflow dags test``), so the order the tasks ran in cannot
    change a row (the caches under ``paths.cache`` stay, but for ALS's fit cache: ALS fits both
    its models again); then again with reuse (the default). Keeps the tables and the metrics
    of the last run."""
    first_part = tiny_week / "discover_weekly" / f"week={WEEK}"
    first = pq.read_table(first_part).to_pandas()
    first_schema = pq.read_schema(next(first_part.glob("*.parquet")))
    base = tmp_path_factory.mktemp("e2e")
    warehouse = copy_warehouse(tiny_week, base / "warehouse")
    env = airflow_env(base / "airflow", tiny_world, warehouse)
    run_airflow(env, "db", "migrate")
    part = warehouse / "discover_weekly" / f"week={WEEK}"
    first_inode = (part / "part-0.parquet").stat().st_ino
    # ALS fits again too (its fit cache off), so that a fit that changed between runs would show
    run_airflow(
        {**env, "DW__DAG__REUSE": "false", "DW__ALS__CACHE": "false"}, "dags", "test", "discover_weekly", LOGICAL_DATE
    )
    second = pq.read_table(part).to_pandas()
    second_inode = (part / "part-0.parquet").stat().st_ino
    run_airflow(env, "dags", "test", "discover_weekly", LOGICAL_DATE)
    return {
        "first": first,
        "second": second,
        "third": pq.read_table(part).to_pandas(),
        "third_metrics": Warehouse(warehouse).read_metrics(WEEK),
        "inodes": (first_inode, second_inode),
        "schema": first_schema,
        "warehouse": warehouse,
        "data": tiny_world,
    }


def test_every_eligible_listener_gets_30_distinct_unheard_tracks(runs):
    table = runs["first"]
    warehouse = runs["warehouse"]
    plays = pq.read_table(warehouse / "plays").to_pandas()
    window = plays[plays["played_at"] >= pd.Timestamp("2026-09-21", tz="UTC")]
    assert set(table["user_id"]) == set(window["user_id"]) and table["user_id"].nunique() > 50
    assert (table.groupby("user_id").size() == 30).all()
    assert (table.groupby("user_id")["track_id"].nunique() == 30).all()
    assert (table.groupby("user_id")["position"].apply(sorted).apply(lambda p: p == list(range(1, 31)))).all()
    # nothing the listener ever played, in any raw file, skips included
    heard = plays[["user_id", "track_id"]].drop_duplicates()
    assert table.merge(heard, on=["user_id", "track_id"]).empty
    assert table.groupby(["user_id", "artist_id"]).size().max() <= 2
    tracks, _ = read_catalog(runs["data"])
    assert (table["track_id"].map(tracks.set_index("track_id")["artist_id"]) == table["artist_id"]).all()
    assert (table["reason"].str.strip().str.len() > 0).all()
    # one version of a song: no two rows of a listener with the same artist and title
    song = table["artist_id"] + "\x00" + table["track_id"].map(tracks.set_index("track_id")["title"]).str.lower()
    assert not table.assign(song=song).duplicated(["user_id", "song"]).any()
    assert set(table["source"]) <= {"als", "audio", "culture", "sequence", "popular", "fallback"}
    # listeners with fewer than 3 counted plays get the flagged fallback list, and only they
    counts = pq.read_table(warehouse / "play_counts" / f"week={WEEK}").to_pandas().groupby("user_id")["plays"].sum()
    fallback = set(table.loc[table["source"] == "fallback", "user_id"])
    assert fallback == set(table["user_id"]) - set(counts[counts >= 3].index)


def test_new_releases_appear_in_playlists(runs):
    truth = pd.read_csv(runs["data"] / "truth" / "track_attributes.csv")
    new = set(truth.loc[truth["is_new_release"], "track_id"])
    table = runs["first"]
    picked = table[table["track_id"].isin(new)]
    assert len(picked) > 0 and (picked["source"] == "audio").all()
    assert picked["reason"].str.startswith("New release that sounds like").all()
    never_played = set(
        pq.read_table(runs["warehouse"] / "track_vectors" / f"week={WEEK}")
        .to_pandas()
        .query("source == 'audio'")["track_id"]
    )
    assert table[table["track_id"].isin(never_played)].groupby("user_id").size().max() <= 5


def test_published_schema_is_the_contract(runs):
    assert runs["schema"].remove_metadata().equals(arrow_schema("discover_weekly"))


def test_rerun_replaces_the_week_with_identical_rows(runs):
    key = ["user_id", "position"]
    first = runs["first"].sort_values(key, ignore_index=True)
    second = runs["second"].sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(first, second)
    before, after = runs["inodes"]
    assert before != after, "the rerun must write and swap in a new partition, not leave the old one"
    part = runs["warehouse"] / "discover_weekly" / f"week={WEEK}"
    # the table and the id of the run that published it (which every reader skips)
    assert sorted(p.name for p in part.iterdir()) == ["_run.json", "part-0.parquet"]
    # nothing pending or staged is left beside it (the locks are hidden files)
    assert not [p for p in part.parent.iterdir() if p.name.startswith("_")]


def test_a_rerun_reuses_every_step_whose_inputs_settings_and_code_are_unchanged(runs):
    from jobs.runtime.reuse import STEPS

    reused = {job for job, m in runs["third_metrics"].items() if m.get("reused")}
    # the crawl always runs and its pages carry their fetch time, which culture's lineage records:
    # culture and the step after it (ahdqn) run again; every other step is reused
    assert reused == {name for name, step in STEPS.items() if step.reusable} - {"culture", "ahdqn"}
    assert {"crawl", "merge", "validate"} <= set(runs["third_metrics"]) - reused  # they always run
    key = ["user_id", "position"]
    pd.testing.assert_frame_equal(
        runs["first"].sort_values(key, ignore_index=True), runs["third"].sort_values(key, ignore_index=True)
    )
    # every folder of the week belongs to one step, so a reused step's outputs are all checked
    wh = runs["warehouse"]
    owned = [name for step in STEPS.values() for name in step.outputs]
    assert len(owned) == len(set(owned))
    # the week's publication (merge, validate, report) and the offline evaluation (not a DAG step)
    published = {"discover_weekly", "exposures", "bandit_actions", "run_metrics", "reports", "offline_eval"}
    found = {p.parent.relative_to(wh).as_posix() for p in wh.rglob(f"week={WEEK}") if not p.parent.name.startswith("_")}
    assert found - published <= set(owned) and found - published, found


def test_run_metrics_show_als_ranking_the_holdout_above_chance(runs):
    metrics = pq.read_table(runs["warehouse"] / "als_metrics" / f"week={WEEK}").to_pandas()
    value = metrics.set_index(["model", "metric"])["value"]
    # The tiny world (generator version 4) has 70 holdout listeners and 285 pairs: too few to
    # separate ALS from most-popular (measured recall@30 0.277 vs 0.313, mean percentile rank
    # 0.369 vs 0.341; the default world's make run: recall@30 0.210 vs 0.150). What holds is
    # that ALS ranks the held-out tracks well above a random order (mean percentile rank 0.5;
    # recall@30 about 0.16: 30 over each listener's unheard tracks, averaged over the 71 listeners).
    assert value[("als", "mean_percentile_rank")] < 0.45
    assert value[("als", "recall@30")] > 0.2
    quarantine = pq.read_table(runs["warehouse"] / "quarantine" / f"week={WEEK}").to_pandas()
    injected = pd.read_csv(runs["data"] / "truth" / "injected_bad_rows.csv")
    assert len(quarantine) == int((injected["kind"] != "duplicate").sum())


def test_query_prints_the_playlist_with_titles(runs):
    env = airflow_env(runs["warehouse"].parent / "airflow", runs["data"], runs["warehouse"])
    user = runs["first"]["user_id"].min()
    out = subprocess.run(
        [sys.executable, "-m", "jobs.tools.query", "--user", user, "--week", WEEK, "--format", "csv"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = pd.read_csv(__import__("io").StringIO(out))
    tracks, artists = read_catalog(runs["data"])
    expected = runs["first"][runs["first"]["user_id"] == user].sort_values("position")
    titles = expected["track_id"].map(tracks.set_index("track_id")["title"]).tolist()
    names = expected["artist_id"].map(artists.set_index("artist_id")["name"]).tolist()
    assert rows["position"].tolist() == list(range(1, 31))
    assert rows["title"].tolist() == titles
    assert rows["artist"].tolist() == names
    bad = subprocess.run(
        [sys.executable, "-m", "jobs.tools.query", "--user", "x' OR '1'='1", "--week", WEEK],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "has no playlist" in bad.stderr


def test_new_releases_get_audio_vectors_in_the_als_space(runs):
    warehouse, data = runs["warehouse"], runs["data"]
    vectors = pq.read_table(warehouse / "track_vectors" / f"week={WEEK}").to_pandas()
    truth = pd.read_csv(data / "truth" / "track_attributes.csv")
    tracks, _ = read_catalog(data)
    new = set(truth.loc[truth["is_new_release"], "track_id"]) & set(
        tracks.loc[tracks["audio_path"].notna(), "track_id"]
    )
    by_source = vectors.set_index("track_id")["source"]
    assert new and all(by_source.get(t) == "audio" for t in new)
    items = pq.read_table(warehouse / "item_factors" / f"week={WEEK}").to_pandas()
    assert set(by_source[by_source == "als"].index) == set(items["track_id"])
    assert vectors["vector"].map(len).nunique() == 1  # one space, one rank
    attributes = pq.read_table(warehouse / "audio_attributes" / f"week={WEEK}").to_pandas()
    assert set(attributes["time_signature"]) <= {3, 4} and attributes["tempo_bpm"].between(30, 300).all()
    rejects = pq.read_table(warehouse / "audio_rejects" / f"week={WEEK}").to_pandas()
    assert set(rejects["track_id"]) == set(tracks.loc[tracks["audio_path"].isna(), "track_id"])
    model = warehouse / "models" / "audio_cnn" / f"week={WEEK}"
    assert (model / "model.keras").exists() and (model / "preprocessing.json").exists()


def test_taste_clusters_match_their_contract_and_reach_the_merge(runs):
    warehouse = runs["warehouse"]
    part = warehouse / "taste_clusters" / f"week={WEEK}"
    assert pq.read_schema(next(part.glob("*.parquet"))) == arrow_schema("taste_clusters")
    clusters = pq.read_table(part).to_pandas()
    assert len(clusters) and clusters.groupby("user_id")["share"].sum().round(9).eq(1.0).all()
    assert (clusters.groupby("user_id")["cluster"].max() + 1 == clusters.groupby("user_id")["clusters"].first()).all()
    merge = Warehouse(warehouse).read_metrics(WEEK)["merge"]["taste_clusters"]
    assert merge["listeners_sampled"] > 0 and "with" in merge["intra_list_diversity"]
    assert "Taste clusters" in (warehouse / "reports" / f"week={WEEK}" / "report.html").read_text()


def test_the_run_writes_a_self_contained_report(runs):
    report = runs["warehouse"] / "reports" / f"week={WEEK}" / "report.html"
    text = report.read_text()
    assert text.count("data:image/png;base64,") >= 4  # plots are embedded, nothing to fetch
    for section in (
        "ALS against most-popular",
        "Score distributions",
        "Catalog coverage",
        "Stage timings",
        "Example playlists",
        "Quarantined input rows",
    ):
        assert section in text
    metrics = pq.read_table(runs["warehouse"] / "als_metrics" / f"week={WEEK}").to_pandas()
    recall = metrics.set_index(["model", "metric"])["value"][("als", "recall@30")]
    assert f"{recall:.4f}" in text  # the numbers come from the run itself
    assert 'src="http' not in text


# --- guards: every headline beats the naive reference measured in the same run ---------------------

EVAL_WEEK = "2026-W46"
EVAL_DATE = "2026-11-09T06:00:00+00:00"


def _metrics(runs, job, week=WEEK):
    return json.loads((runs["warehouse"] / "run_metrics" / f"week={week}" / f"{job}.json").read_text())


def _beats(block, reference, metric, lower_is_better=False):
    """Assert the paired interval of subject minus ``reference`` on ``metric`` excludes 0 in the subject's favour."""
    check_references(block)
    subject = block["subject"]
    own, ref = block["systems"][subject][metric], block["systems"][reference][metric]
    diff = block["paired"][f"{subject} - {reference}"][metric]
    bound = -diff["high"] if lower_is_better else diff["low"]
    assert bound > 0, (
        f"{subject} {metric} {own['mean']:.4f} [{own['low']:.4f}, {own['high']:.4f}] does not beat {reference} "
        f"{ref['mean']:.4f} [{ref['low']:.4f}, {ref['high']:.4f}]: paired difference {diff['mean']:+.4f} "
        f"[{diff['low']:+.4f}, {diff['high']:+.4f}] over {diff['groups']} {block['unit']}s"
    )


def _not_below(block, reference, metric):
    """Assert the subject is not below ``reference`` on ``metric`` by more than its paired interval."""
    check_references(block)
    subject = block["subject"]
    own, ref = block["systems"][subject][metric], block["systems"][reference][metric]
    diff = block["paired"][f"{subject} - {reference}"][metric]
    assert diff["high"] >= 0, (
        f"{subject} {metric} {own['mean']:.4f} [{own['low']:.4f}, {own['high']:.4f}] falls below {reference} "
        f"{ref['mean']:.4f} [{ref['low']:.4f}, {ref['high']:.4f}]: paired difference {diff['mean']:+.4f} "
        f"[{diff['low']:+.4f}, {diff['high']:+.4f}] over {diff['groups']} {block['unit']}s"
    )


def _above(block, reference, metric):
    """Assert the subject's mean is above ``reference``'s on ``metric`` (the tiny world is too small for the
    paired interval to exclude 0 on every pair; the message gives it either way)."""
    check_references(block)
    subject = block["subject"]
    own, ref = block["systems"][subject][metric], block["systems"][reference][metric]
    diff = block["paired"][f"{subject} - {reference}"][metric]
    assert diff["mean"] > 0, (
        f"{subject} {metric} {own['mean']:.4f} [{own['low']:.4f}, {own['high']:.4f}] falls to {reference} "
        f"{ref['mean']:.4f} [{ref['low']:.4f}, {ref['high']:.4f}]: paired difference {diff['mean']:+.4f} "
        f"[{diff['low']:+.4f}, {diff['high']:+.4f}] over {diff['groups']} {block['unit']}s"
    )


TINY_POPULARITY = (
    "the tiny world of generator version 4 (70 holdout listeners, 252 tracks) is one where popularity wins: "
)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,  # the comparison failed, not the metrics' reading
    reason=TINY_POPULARITY + "ALS recall@30 0.277 [0.222, 0.336] vs most popular 0.313 [0.241, 0.388], paired "
    "-0.037 [-0.121, +0.041] (on the default world ALS wins, docs/measurements.md 'The blend, measured'). Strict: remove this "
    "marker once it passes.",
)
def test_guard_als_beats_most_popular_all_time_and_recent(runs):
    block = _metrics(runs, "als")["references"]
    for reference in ("most_popular", "most_popular_recent"):
        _above(block, reference, "recall@30")
        _above(block, reference, "ndcg@30")


def test_guard_cnn_cold_start_beats_artist_popularity_over_the_whole_catalog(runs):
    # tiny world, 2026-12-07 (the week computed from a fresh cache, one task at a time or two at once):
    # AUC 0.608 [0.571, 0.645] vs the artist's mean plays 0.540 [0.502, 0.581], paired +0.067 [+0.024, +0.107]
    # over 76 listeners; recall@30 0.203 vs 0.128, paired +0.074 [-0.004, +0.145]
    block = _metrics(runs, "audio_eval")["whole_catalog"]
    _above(block, "artist_mean_popularity", "auc")
    _above(block, "artist_mean_popularity", "recall@30")


def test_guard_spacy_culture_beats_random_neighbours(runs):
    # tiny world (24 artists): spaCy 0.108 [0.058, 0.158], random 0.058
    _beats(_metrics(runs, "culture")["references"], "random", "precision@5")


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,  # the comparison failed, not the metrics' reading
    reason="measured on the tiny world (24 artists): spaCy precision@5 0.108 [0.058, 0.158] vs plain tf-idf 0.150 "
    "[0.083, 0.217], paired -0.042 [-0.075, -0.017]: on pages that share most of their words across genres the "
    "noun phrases near a mention lose to counting every word. Strict: remove this marker once it passes.",
)
def test_guard_spacy_culture_does_not_fall_below_plain_tfidf(runs):
    _not_below(_metrics(runs, "culture")["references"], "tfidf", "precision@5")


@pytest.fixture(scope="module")
def evaluated(runs):
    """What `make evaluate` does after the week's run: the DAG for the week before, then jobs.evaluate on it."""
    env = airflow_env(runs["warehouse"].parent / "airflow", runs["data"], runs["warehouse"])
    env = {**env, "DW__AUDIO_CNN__EVALUATE": "false"}  # W46's cold-start evaluation is not what is scored here
    run_airflow(env, "dags", "test", "discover_weekly", EVAL_DATE, "-c", json.dumps({"week": EVAL_WEEK}))
    subprocess.run(
        [sys.executable, "-m", "jobs.evaluate", "--week", EVAL_WEEK], env=env, cwd=ROOT, check=True, capture_output=True
    )
    return _metrics(runs, "offline_eval", EVAL_WEEK)


def test_guard_blend_does_not_fall_below_als(evaluated):
    # tiny world, the shipped defaults: recall@30 0.245 vs ALS 0.215, paired +0.030 [-0.028, +0.090]
    block = evaluated["references"]
    for metric in ("recall@30", "ndcg@30", "precision@30"):
        _not_below(block, "als", metric)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,  # the comparison failed, not the metrics' reading
    reason=TINY_POPULARITY + "the blend's recall@30 0.245 [0.178, 0.316] vs most popular 0.315 [0.244, 0.384], "
    "paired -0.070 [-0.145, +0.002] (on the default world the blend wins, +0.045 [+0.036, +0.055]). Strict: "
    "remove this marker once it passes.",
)
def test_guard_blend_beats_popularity(evaluated):
    block = evaluated["references"]
    for reference in ("most_popular", "most_popular_recent"):
        _above(block, reference, "recall@30")
