"""Real listening data (no audio, no web, plays from the 1990s) runs end to end: the branches with
too little to learn from skip with a reason (exit 0) and the merge runs on what exists; real
failures still fail, and `make run` names the failed task with its own output; any week can be
built, before the DAG's start_date too."""

import datetime as dt
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs import audio_cnn, audio_features, crawl
from jobs import culture_terms as culture
from jobs.runtime import runinfo
from jobs.runtime.cli import SKIPPED
from jobs.warehouse.store import Warehouse
from tests.airflow_env import ROOT
from tests.conftest import make_config

WEEK = "1998-W14"


def _catalog(data, tracks=12, audio=False):
    (data / "catalog").mkdir(parents=True)
    ids = [f"t{i:02d}" for i in range(tracks)]
    frame = pd.DataFrame({"track_id": ids, "title": ids, "artist_id": "a1"})
    frame["audio_path"] = [f"audio/{t}.wav" for t in ids] if audio else ""
    frame.to_csv(data / "catalog" / "tracks.csv", index=False)
    pd.DataFrame({"artist_id": ["a1"], "name": ["Some Band"]}).to_csv(data / "catalog" / "artists.csv", index=False)
    return ids


# --- the logical date `make run` passes --------------------------------------------------------


def test_the_logical_date_is_the_weeks_monday_moved_into_airflows_range():
    assert runinfo.logical_date("1998-W14") == "1998-03-30T06:00:00+00:00"
    assert runinfo.logical_date("2026-W47") == "2026-11-16T06:00:00+00:00"
    # before the DAG's start_date, or in the future: the nearest date Airflow runs tasks for
    assert runinfo.logical_date("1998-W14", start="2026-01-05") == "2026-01-05T00:00:00+00:00"
    now = dt.datetime(2026, 11, 30, 5, 0, 30, 123, tzinfo=dt.UTC)
    assert runinfo.logical_date("2026-W49", now=now) == "2026-11-30T05:00:30+00:00"
    assert runinfo.logical_date("2027-W01", now=now) == "2026-11-30T05:00:30+00:00"


def test_a_malformed_week_is_one_line_and_exit_2(capsys):
    assert runinfo.main(["logical-date", "1998-W99"]) == 2
    assert capsys.readouterr().err.strip() == "error: week '1998-W99' does not exist (year 1998 has no week 99)"


def test_the_run_id_comes_from_the_dags_test_log_and_states_are_one_line(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(
        "2026-12-06T09:32:13Z [info     ] Created dag run. [airflow.models.dagrun] dag_id=discover_weekly "
        "run_id=manual__2026-12-06T09:32:13.756806+00:00 x=1\n"
        "2026-12-06T09:32:14Z [info     ] later run_id='manual__2026-12-07T00:00:00+00:00'\n"
    )
    assert runinfo.run_id(log) == "manual__2026-12-06T09:32:13.756806+00:00"
    (tmp_path / "none.log").write_text("no run here\n")
    assert runinfo.run_id(tmp_path / "none.log") is None
    rows = [
        {"task_id": "merge", "state": "success"},
        {"task_id": "crawl", "state": "skipped"},
        {"task_id": "als", "state": "success"},
        {"task_id": "audio_features", "state": "skipped"},
        {"task_id": "report", "state": "upstream_failed"},
    ]
    assert runinfo.task_states(rows) == (
        "  Airflow task states: 2 success, 2 skipped (audio_features, crawl), 1 upstream_failed (report)"
    )


# --- a failed task, named with its own output -------------------------------------------------

DAGS_TEST_LOG = """\
2026-11-30T18:07:55.592255Z [info     ] [DAG TEST] starting task_id=resolve_week map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-11-30T18:08:05.597855Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 new_state=success rows_affected=1
2026-11-30T18:08:05.629241Z [info     ] [DAG TEST] end task task_id=resolve_week map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-11-30T18:08:06.016530Z [info     ] [DAG TEST] starting task_id=crawl map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-11-30T18:08:06.171900Z [info     ] Running command: ['/usr/bin/bash', '-c', 'python -m jobs.crawl --week 1998-W14'] [airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:80
2026-11-30T18:08:07.523526Z [info     ] first try went wrong [airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:106
2026-11-30T18:08:07.837668Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651
Traceback (most recent call last):
airflow.sdk.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code 1.
2026-11-30T18:08:07.916458Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 new_state=up_for_retry rows_affected=1
2026-11-30T18:08:08.154545Z [info     ] [DAG TEST] end task task_id=crawl map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-11-30T18:08:09.016530Z [info     ] [DAG TEST] starting task_id=crawl map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-11-30T18:08:09.916458Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 new_state=success rows_affected=1
2026-11-30T18:08:10.154545Z [info     ] [DAG TEST] end task task_id=crawl map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-11-30T18:08:11.016530Z [info     ] [DAG TEST] starting task_id=merge map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-11-30T18:08:11.171826Z [info     ] Tmp dir root location: /tmp    [airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:78
2026-11-30T18:08:11.178705Z [info     ] Output:                        [airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:92
2026-11-30T18:08:12.523526Z [info     ] 2026-11-30 18:08:12,523 merge ERROR /wh/user_factors/week=1998-W14: missing; run the als job for 1998-W14 first [airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:106
2026-11-30T18:08:12.837369Z [info     ] Command exited with return code 2 [airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:115
2026-11-30T18:08:12.837668Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/airflow/providers/standard/operators/bash.py", line 225, in execute
    raise AirflowException(
airflow.sdk.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code 2.
2026-11-30T18:08:12.916458Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 new_state=failed rows_affected=1
2026-11-30T18:08:13.154545Z [info     ] [DAG TEST] end task task_id=merge map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-11-30T18:08:14.204479Z [info     ] Marking run <DagRun discover_weekly> failed [airflow.models.dagrun.DagRun] loc=dagrun.py:1219
DagRun failed
"""


def test_the_failed_task_is_named_with_its_own_output(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(DAGS_TEST_LOG)
    assert runinfo.failed_tasks(log) == "\n".join(
        [
            "error: task merge failed; the last 2 lines of its output:",
            "   | 2026-11-30 18:08:12,523 merge ERROR /wh/user_factors/week=1998-W14: missing; "
            "run the als job for 1998-W14 first",
            "   | Command exited with return code 2",
            "   airflow.sdk.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code 2.",
        ]
    )  # crawl failed once, then succeeded: its last try decides
    log.write_text(DAGS_TEST_LOG.replace("new_state=failed", "new_state=success"))
    assert runinfo.failed_tasks(log) is None  # make then shows the log's tail


# --- each branch skips, with its reason, when there is too little to learn from ------------------


def test_audio_features_skips_a_catalog_without_audio(tmp_path):
    config = make_config(tmp_path / "data", tmp_path / "wh")
    ids = _catalog(tmp_path / "data")
    metrics = audio_features.run(config, WEEK)
    assert metrics["skipped"] == "no audio: none of the catalog's 12 tracks has an audio_path"
    wh = Warehouse(tmp_path / "wh")
    assert wh.read("spectrograms", WEEK).empty and wh.read("audio_attributes", WEEK).empty
    assert sorted(wh.read("audio_rejects", WEEK)["track_id"]) == ids  # every track: no_audio


def _train_inputs(tmp_path, with_audio: int):
    """A warehouse with what the CNN's training reads: 12 played tracks, ``with_audio`` of them with a spectrogram."""
    config = make_config(tmp_path / "data", tmp_path / "wh")
    ids = _catalog(tmp_path / "data")
    wh = Warehouse(tmp_path / "wh")
    mel = np.zeros((config.audio.n_mels, 40), dtype=np.float16)
    audio_features.write_spectrograms([(t, mel) for t in ids[:with_audio]], wh.root, WEEK, frames=40)
    wh.write("item_factors", WEEK, pd.DataFrame({"track_id": ids, "vector": [np.ones(4)] * 12, "plays": 9}))
    wh.write("play_counts", WEEK, pd.DataFrame({"user_id": "u1", "track_id": ids, "plays": 9, "weight": 9.0}))
    return config, wh


def test_too_few_tracks_with_audio_skip_training_and_inference(tmp_path, monkeypatch):
    config, wh = _train_inputs(tmp_path, with_audio=3)
    # outputs of an earlier run of the week (when the data still had audio) must not reach the merge
    wh.write(
        "track_vectors",
        WEEK,
        pd.DataFrame({"track_id": ["t00"], "vector": [np.ones(4)], "source": "als"}),
        made_from={"spectrograms": None},
    )
    audio_cnn.model_dir(wh.root, WEEK).mkdir(parents=True)
    monkeypatch.setenv("DW_DATA", str(config.paths.data))
    monkeypatch.setenv("DW_WAREHOUSE", str(wh.root))
    assert audio_cnn.main(["train", "--week", WEEK]) == SKIPPED  # Airflow's skipped state
    reason = "only 3 tracks have audio and >= 5 plays; need 10 to train"
    assert json.loads(wh.metrics_file("audio_cnn", WEEK).read_text())["skipped"] == reason
    assert not audio_cnn.model_dir(wh.root, WEEK).exists()
    assert audio_cnn.main(["infer", "--week", WEEK]) == SKIPPED
    infer = json.loads(wh.metrics_file("audio_infer", WEEK).read_text())
    assert infer["skipped"] == f"audio_train skipped: {reason}"
    assert wh.read_optional("track_vectors", WEEK) is None  # the merge notes it runs without audio


def test_missing_inputs_still_fail_the_audio_steps(tmp_path, monkeypatch):
    config = make_config(tmp_path / "data", tmp_path / "wh")
    _catalog(tmp_path / "data")
    monkeypatch.setenv("DW_DATA", str(config.paths.data))
    monkeypatch.setenv("DW_WAREHOUSE", str(config.paths.warehouse))
    assert audio_cnn.main(["train", "--week", WEEK]) == 2  # no spectrograms: audio_features never ran
    assert audio_cnn.main(["infer", "--week", WEEK]) == 2  # no skip recorded and no model: a failure
    assert not Warehouse(config.paths.warehouse).metrics_file("audio_infer", WEEK).exists()


def test_no_seeds_skip_the_crawl_and_then_culture(tmp_path):
    config = make_config(tmp_path / "data", tmp_path / "wh")
    _catalog(tmp_path / "data")
    wh = Warehouse(config.paths.warehouse)
    metrics = crawl.run(config, WEEK)
    seeds = tmp_path / "data" / "web" / "seeds.txt"
    assert metrics["skipped"] == f"no seeds: no usable URL in {seeds} or crawl.seeds"
    wh.write_metrics("crawl", WEEK, metrics)  # as the job's command line does
    assert wh.read("pages", WEEK).empty
    got = culture.run(config, WEEK)
    assert got["skipped"] == f"no page text: the crawl skipped ({metrics['skipped']})"
    assert wh.read("artist_similarity", WEEK).empty


# --- end to end: MovieLens-style data from 1998 through `make run` -----------------------------


def _movielens_100k(folder, users=40, movies=72, per_user=24, seed=5):
    """A small ``u.data`` + ``u.item`` in MovieLens 100k's format: four taste groups, ratings in Feb-Mar 1998."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    items = [f"{m}|Movie {m} (1997)|01-Jan-1997||http://x/{m}|0|1|0" for m in range(1, movies + 1)]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    start = dt.datetime(1998, 2, 2, tzinfo=dt.UTC).timestamp()
    rows = []
    for u in range(1, users + 1):
        liked = np.where(np.arange(movies) % 4 == u % 4, 6.0, 1.0)
        for m in rng.choice(movies, size=per_user, replace=False, p=liked / liked.sum()):
            rows.append(f"{u}\t{m + 1}\t{rng.integers(1, 6)}\t{int(start + rng.integers(0, 55 * 86400))}")
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    return folder


def _make_run(data, home, warehouse, week, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DW_", "MAKE"))}
    env.update(
        {
            "DW__INGEST__SERVICE_START": "1998-01-01",
            "DW__DAG__RETRIES": "0",
            "DW__SPARK__DRIVER_MEMORY": "1g",
            "DW__SPARK__SHUFFLE_PARTITIONS": "2",
            "DW__ALS__MAX_ITER": "4",  # two fits (the week's and the holdout's): the run's longest task
            "DW__PATHS__CHECKPOINTS": str(warehouse.parent / "checkpoints"),
            **(extra_env or {}),
        }
    )
    args = [f"DATA={data}", f"WAREHOUSE={warehouse}", f"DW_AIRFLOW_HOME={home}", f"WEEK={week}"]
    return subprocess.run(
        ["make", "--no-print-directory", "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.spark
def test_make_run_publishes_a_1998_week_without_audio_or_web(tmp_path):
    from jobs.importers.__main__ import main as import_main

    data = tmp_path / "ml"
    assert import_main(["movielens", str(_movielens_100k(tmp_path / "src")), str(data)]) == 0
    week = json.loads((data / "world.json").read_text())["publish_week"]
    assert week == WEEK
    warehouse, home = tmp_path / "wh", tmp_path / "airflow"
    # the DAG starting in 2026 (as it once did): the 1998 week is built all the same, by the week param
    done = _make_run(data, home, warehouse, week, {"DW__DAG__START_DATE": "2026-01-05"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (
        f"running DAG discover_weekly for {WEEK} through Airflow (logical date 2026-01-05T00:00:00+00:00, "
        "2 tasks at once, LocalExecutor)"
    ) in done.stdout
    table = pq.read_table(warehouse / "discover_weekly" / f"week={WEEK}").to_pandas()
    assert table["user_id"].nunique() == 40 and (table.groupby("user_id").size() == 30).all()
    assert set(table["source"]) <= {"als", "popular", "fallback"}  # no audio, no culture

    runs = Warehouse(warehouse).read_metrics(WEEK)
    skipped = {job: m["skipped"] for job, m in runs.items() if "skipped" in m}
    no_seeds = f"no seeds: no usable URL in {data / 'web' / 'seeds.txt'} or crawl.seeds"
    too_few = "only 0 tracks have audio and >= 5 plays; need 10 to train"
    few_sessions = "only 16 documents of 2+ songs (sessions and playlists); need 20"
    assert skipped == {
        "audio_features": "no audio: none of the catalog's 72 tracks has an audio_path",
        "audio_cnn": too_few,
        "audio_infer": f"audio_train skipped: {too_few}",
        "audio_eval": too_few,
        "crawl": no_seeds,
        "culture": f"no page text: the crawl skipped ({no_seeds})",
        # ratings spread over weeks are no listening sessions: 16 pairs of ratings within 30 minutes
        "song_vectors": few_sessions,
        "taste_vectors": f"song_vectors skipped: {few_sessions}",
        "taste_clusters": f"no audio_vectors for {WEEK} (audio_infer skipped: audio_train skipped: {too_few})",
        "bandit": "no bart arm in experiment.arms=['blend'] (playlist.policy=greedy); 0 logged bandit exposures "
        "with a known outcome, fewer than bandit.min_exposures=300",
        "ahdqn": "no ahdqn arm in experiment.arms=['blend'] (playlist.policy=greedy)",
    }
    # without audio, culture, sequence and taste clusters
    assert runs["merge"]["rows"] == len(table) and len(runs["merge"]["notes"]) == 4
    assert f"audio_cnn: skipped, {too_few}" in done.stdout  # make's summary
    # Airflow itself records the skips (skip_on_exit_code), and make's summary shows its states
    skipped_tasks = (
        "ahdqn, audio_eval, audio_features, audio_infer, audio_train, bandit, crawl, culture, song_vectors, "
        "taste_clusters, taste_vectors"
    )
    assert f"Airflow task states: 8 success, 11 skipped ({skipped_tasks})" in done.stdout
    # the listener models learn from the ratings' plays alone (no audio: no content model), judged on the last week
    assert runs["listener_models"]["content_model"]["skipped"].startswith("0 liked or skipped pairs")
    assert runs["listener_models"]["user_model"]["holdout"]["organic"]["rows"] > 0
    report = (warehouse / "reports" / f"week={WEEK}" / "report.html").read_text()
    assert "Skipped steps" in report and "need 10 to train" in report

    # a corrupt input is a failure, not a skip: make names the task and shows its own output
    bad = tmp_path / "bad"
    (bad / "raw" / "plays").mkdir(parents=True)
    (bad / "catalog").symlink_to(data / "catalog", target_is_directory=True)
    (bad / "raw" / "plays" / "plays.parquet").write_bytes(b"PAR1 not really parquet")
    failed = _make_run(bad, home, tmp_path / "wh-bad", WEEK)
    assert failed.returncode != 0
    assert "error: task ingest failed; the last" in failed.stdout
    own = failed.stdout.split("error: task ingest failed", 1)[1]
    assert f"{bad / 'raw' / 'plays'}: no readable play logs (found 1 files)" in own
    assert not (tmp_path / "wh-bad" / "discover_weekly").exists()
