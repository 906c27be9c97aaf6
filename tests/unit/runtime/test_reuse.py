"""Step reuse: a rerun of a week reuses a step's outputs only when its key (settings, code, inputs,
earlier weeks, upstream steps) and its output folders are as recorded; anything else runs it."""

import json
import os

import pandas as pd
import pytest

from jobs.runtime import reuse
from jobs.runtime.cli import SKIPPED, week_job
from jobs.warehouse.store import Warehouse

WEEK = "2026-W47"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Two steps, ``up`` writing ``ahead`` and ``down`` (reading it) writing ``behind``."""
    monkeypatch.setenv("DW__PATHS__WAREHOUSE", str(tmp_path / "wh"))
    monkeypatch.setenv("DW__PATHS__DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "plays.csv").write_text("u,t\n")
    steps = {
        "up": reuse.Step("up", (), ("ahead",)),
        "down": reuse.Step("down", ("up",), ("behind", "models/m")),
        "always": reuse.Step("always", (), ("pages",), reusable=False),
    }
    monkeypatch.setattr(reuse, "STEPS", steps)
    return tmp_path


class Job:
    """A job writing one folder per output under the week, counting its runs."""

    def __init__(self, name, write, skip=False):
        self.name, self.write, self.skip, self.runs = name, write, skip, 0

    def __call__(self, week=WEEK):
        def run(config, week, args):
            self.runs += 1
            wh = Warehouse(config.paths.warehouse)
            if self.skip:
                return {"week": week, "skipped": "too little input"}
            for folder, text in self.write(wh, week).items():
                with wh.staged(folder) as stage:
                    (stage / "x.bin").write_text(text)
            return {"week": week, "rows": 3}

        return week_job(self.name, "test", run, ["--week", week], metrics=self.name)


@pytest.fixture
def jobs(env):
    up = Job("up", lambda wh, w: {wh.partition("ahead", w): "A"})
    down = Job("down", lambda wh, w: {wh.partition("behind", w): "B", wh.model_dir("m", w): "M"})
    return up, down


def metrics(env, name, week=WEEK):
    return json.loads((env / "wh" / "run_metrics" / f"week={week}" / f"{name}.json").read_text())


def test_a_rerun_reuses_every_step_and_writes_its_recorded_metrics(env, jobs):
    up, down = jobs
    assert (up(), down()) == (0, 0)
    assert (up(), down()) == (0, 0)
    assert (up.runs, down.runs) == (1, 1)
    got = metrics(env, "down")
    assert got["rows"] == 3 and set(got["reused"]) == {"seconds", "check_seconds"}
    assert (env / "wh" / "behind" / f"week={WEEK}" / "x.bin").read_text() == "B"


def test_a_skip_is_reused_as_a_skip(env):
    skipper = Job("up", lambda wh, w: {}, skip=True)
    assert skipper() == SKIPPED and skipper() == SKIPPED and skipper.runs == 1
    assert metrics(env, "up")["skipped"] == "too little input"


def test_another_setting_runs_the_steps_again_but_not_how_tasks_and_spark_run(env, jobs, monkeypatch):
    up, down = jobs
    up(), down()
    monkeypatch.setenv("DW__DAG__PARALLELISM", "1")  # how tasks run, not what they compute
    monkeypatch.setenv("DW__SPARK__DRIVER_MEMORY", "1g")  # nor Spark's memory, master or log level
    monkeypatch.setenv("DW__SPARK__MASTER", "local[1]")
    for section in ("MERGE", "SEQUENCE", "AUDIO", "CULTURE"):  # nor where a job computes: the same tables
        monkeypatch.setenv(f"DW__{section}__ENGINE", "spark")
    for section in ("INGEST", "AUDIO", "CULTURE"):  # nor whether a cache saves the work: the same tables
        monkeypatch.setenv(f"DW__{section}__CACHE", "false")
    up(), down()
    assert (up.runs, down.runs) == (1, 1)
    monkeypatch.setenv("DW__SPARK__SHUFFLE_PARTITIONS", "3")  # a Spark setting that may change an output
    up(), down()
    assert (up.runs, down.runs) == (2, 2)
    monkeypatch.setenv("DW__ALS__RANK", "8")
    up(), down()
    assert (up.runs, down.runs) == (3, 3)


def test_a_changed_input_file_runs_the_steps_again(env, jobs):
    up, down = jobs
    up(), down()
    path = env / "data" / "plays.csv"
    path.write_text("u,t\nu1,t1\n")
    up(), down()
    assert (up.runs, down.runs) == (2, 2)
    os.utime(path, ns=(1, 1))  # same bytes, another modification time: judged as make does
    up(), down()
    assert (up.runs, down.runs) == (3, 3)


def test_a_deleted_or_edited_output_runs_its_step_and_the_steps_after_it(env, jobs):
    up, down = jobs
    up(), down()
    (env / "wh" / "models" / "m" / f"week={WEEK}" / "x.bin").write_text("edited")
    up(), down()
    assert (up.runs, down.runs) == (1, 2)
    (env / "wh" / "ahead" / f"week={WEEK}" / "x.bin").write_text("edited by hand")
    down()  # its input changed since the upstream step ran
    assert down.runs == 3
    up(), down()  # the upstream step puts its output back; the step after it follows
    assert (up.runs, down.runs) == (2, 4)


def test_an_upstream_rerun_with_the_same_output_leaves_the_step_after_it_reused(env, jobs, monkeypatch):
    up, down = jobs
    up(), down()
    monkeypatch.setenv("DW__DAG__REUSE", "false")
    up()
    monkeypatch.delenv("DW__DAG__REUSE")
    down()
    assert (up.runs, down.runs) == (2, 1)  # same key, same output folders
    changed = Job("up", lambda wh, w: {wh.partition("ahead", w): "A2"})
    monkeypatch.setenv("DW__DAG__REUSE", "false")
    changed()
    monkeypatch.delenv("DW__DAG__REUSE")
    down()
    assert down.runs == 2


def test_reuse_off_runs_every_step(env, jobs, monkeypatch):
    up, down = jobs
    up(), down()
    monkeypatch.setenv("DW__DAG__REUSE", "false")
    up(), down()
    assert (up.runs, down.runs) == (2, 2)


def test_a_step_without_an_upstream_stamp_runs(env, jobs):
    up, down = jobs
    up(), down()
    (env / "wh" / "_steps" / f"week={WEEK}" / "up.json").unlink()
    down()
    assert down.runs == 2


def test_a_failed_run_leaves_no_stamp_and_the_next_run_computes(env, jobs, monkeypatch):
    up, _ = jobs
    up()

    def broken(config, week, args):
        raise KeyError("a bug")

    monkeypatch.setenv("DW__ALS__RANK", "8")
    with pytest.raises(KeyError):
        week_job("up", "test", broken, ["--week", WEEK], metrics="up")
    assert not (env / "wh" / "_steps" / f"week={WEEK}" / "up.json").exists()
    monkeypatch.delenv("DW__ALS__RANK")
    up()
    assert up.runs == 2


def test_an_earlier_week_changed_runs_the_week_again_a_later_one_does_not(env, jobs):
    up, down = jobs
    up(), down()
    wh = Warehouse(env / "wh")
    wh.write(
        "saves",
        "2026-W48",
        pd.DataFrame({"user_id": ["u"], "track_id": ["t"], "saved_at": [pd.Timestamp(0, tz="UTC")]}),
    )
    up(), down()
    assert (up.runs, down.runs) == (1, 1)
    wh.write(
        "saves",
        "2026-W46",
        pd.DataFrame({"user_id": ["u"], "track_id": ["t"], "saved_at": [pd.Timestamp(0, tz="UTC")]}),
    )
    up(), down()
    assert (up.runs, down.runs) == (2, 2)


def test_a_step_that_always_runs_still_lets_the_next_one_see_its_output_unchanged(env, monkeypatch):
    crawl = Job("always", lambda wh, w: {wh.partition("pages", w): "P"})
    steps = {**reuse.STEPS, "terms": reuse.Step("terms", ("always",), ("cultural_terms",))}
    monkeypatch.setattr(reuse, "STEPS", steps)
    terms = Job("terms", lambda wh, w: {wh.partition("cultural_terms", w): "T"})
    crawl(), terms(), crawl(), terms()
    assert (crawl.runs, terms.runs) == (2, 1)


def test_folder_digest_covers_stamped_and_unstamped_folders(tmp_path):
    table = tmp_path / "t"
    table.mkdir()
    (table / "part-0.parquet").write_bytes(b"abc")
    (table / "_content.json").write_text('{"digest": "1"}')
    (table / "_run.json").write_text('{"run": "a"}')
    (table / ".lock-x").write_text("")
    first = reuse.folder_digest(table)
    (table / "_run.json").write_text('{"run": "b"}')  # which run wrote it: not content
    assert reuse.folder_digest(table) == first
    (table / "_content.json").write_text('{"digest": "2"}')
    assert reuse.folder_digest(table) != first
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.npz").write_bytes(b"123")
    before = reuse.folder_digest(model)
    (model / "w.npz").write_bytes(b"124")  # same size: an unstamped folder is hashed by its bytes
    assert reuse.folder_digest(model) != before
    assert reuse.folder_digest(tmp_path / "absent") is None


def test_a_warehouse_moved_with_its_stamps_stays_reusable(env, jobs, monkeypatch):
    import shutil

    up, down = jobs
    up(), down()
    shutil.copytree(env / "wh", env / "moved")
    monkeypatch.setenv("DW__PATHS__WAREHOUSE", str(env / "moved"))
    monkeypatch.setenv("DW__PATHS__CACHE", str(env / "other-cache"))
    up(), down()
    assert (up.runs, down.runs) == (1, 1)
    monkeypatch.setenv("DW__PATHS__DATA", str(env / "other-data"))  # other inputs
    (env / "other-data").mkdir()
    up(), down()
    assert (up.runs, down.runs) == (2, 2)
