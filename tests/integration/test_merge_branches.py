"""The merge when upstream branches produced nothing: without the audio and culture outputs it still
writes a week that passes every publishing check and says which branch was empty; without an ALS
output it fails with a MergeError naming the missing path.

Ingest and ALS run once (in the session's local Spark) on the tiny world; each test works on its
own copy of that warehouse.
"""

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs import als, ingest, merge, validate
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import cutoff
from tests.conftest import make_config

WEEK = "2026-W47"

pytestmark = [pytest.mark.slow, pytest.mark.spark]


@pytest.fixture(scope="module")
def als_warehouse(spark, tiny_world, tmp_path_factory):
    """A warehouse holding only what ingest and ALS write for WEEK: no audio, no culture tables."""
    warehouse = tmp_path_factory.mktemp("merge-branches") / "warehouse"
    config = make_config(tiny_world, warehouse)
    ingest.run(spark, config, WEEK)
    als.run(spark, config, WEEK)
    return warehouse


@pytest.fixture
def config(als_warehouse, tiny_world, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(als_warehouse, warehouse)
    return make_config(tiny_world, warehouse)


def test_merge_without_audio_and_culture_publishes_a_valid_week_and_says_why(config):
    warehouse = config.paths.warehouse
    for name in (
        "track_vectors",
        "audio_vectors",
        "taste_clusters",
        "cultural_terms",
        "artist_similarity",
        "song_vectors",
    ):
        assert not Warehouse(warehouse).partition(name, WEEK).exists(), name  # the branches really produced nothing

    counts = merge.run(config, WEEK)
    published = validate.run(config, WEEK)  # raises ValidationError naming any broken rule

    notes = counts["notes"]  # what the job records in run_metrics/week=W/merge.json
    assert any(n.startswith("no track_vectors (audio branch produced nothing)") for n in notes), notes
    assert any(n.startswith("no artist_similarity (culture branch produced nothing)") for n in notes), notes
    assert any(n.startswith("no song_vectors (sequence branch produced nothing)") for n in notes), notes
    assert any(n.startswith("no taste_clusters") for n in notes), notes
    assert len(notes) == 4
    assert counts["taste_clusters"] == {"skipped": "no taste_clusters or audio vectors this week"}

    table = pq.read_table(Warehouse(warehouse).partition("discover_weekly", WEEK)).to_pandas()
    plays = pq.read_table(warehouse / "plays").to_pandas()
    window_start = cutoff(WEEK) - pd.Timedelta(weeks=config.als.window_weeks)
    active = set(plays.loc[(plays["played_at"] >= window_start) & (plays["played_at"] < cutoff(WEEK)), "user_id"])
    assert set(table["user_id"]) == active and len(active) > 50
    assert (table.groupby("user_id").size() == 30).all()
    assert published["rows"] == 30 * len(active) and published["listeners"] == len(active)
    # only ALS and what fills in for it: no audio or culture picks, no never-played track
    assert set(table["source"]) <= {"als", "popular", "fallback"} and "als" in set(table["source"])
    assert counts["cold_start_rows"] == 0
    heard = plays.loc[plays["played_at"] < cutoff(WEEK), ["user_id", "track_id"]].drop_duplicates()
    assert table.merge(heard, on=["user_id", "track_id"]).empty


@pytest.mark.parametrize("missing", ["user_factors", "item_factors", "play_counts"])
def test_merge_without_an_als_output_fails_naming_the_missing_path(config, missing):
    warehouse = config.paths.warehouse
    path = Warehouse(warehouse).partition(missing, WEEK)
    shutil.rmtree(path)
    with pytest.raises(merge.MergeError) as failure:
        merge.run(config, WEEK)
    assert str(path) in str(failure.value) and "missing" in str(failure.value)
    assert not Warehouse(warehouse).pending(WEEK).exists()  # nothing left for validate to publish
    assert not Warehouse(warehouse).metrics_file("merge", WEEK).exists()


def test_thin_history_skip_leaves_them_out_and_validation_accounts_for_them(als_warehouse, tiny_world, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(als_warehouse, warehouse)
    config = make_config(tiny_world, warehouse, merge={"thin_history": "skip", "min_plays": 40})  # some are thin
    counts = merge.run(config, WEEK)
    published = validate.run(config, WEEK)
    assert counts["skipped_thin_history"] > 0 and counts["fallback"] == 0
    assert published["left_out"].get("thin_history") == counts["skipped_thin_history"]
    table = pq.read_table(Warehouse(warehouse).partition("discover_weekly", WEEK)).to_pandas()
    assert "fallback" not in set(table["source"])
    users = pq.read_table(Warehouse(warehouse).partition("user_factors", WEEK)).to_pandas()
    assert set(table["user_id"]) <= set(users["user_id"])
    assert (
        published["listeners"] + counts["skipped_thin_history"] + counts["skipped_too_few_unheard_tracks"]
        == (published["active_listeners"])
    )
