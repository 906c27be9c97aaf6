"""The shared job command line: expected failures are one line and exit code 2, a bug keeps
its traceback, and a job's result is recorded as its run metrics with its wall time."""

import errno
import json
import os

import pytest

from jobs.runtime.cli import week_job
from jobs.warehouse.catalog import CatalogError
from jobs.warehouse.store import MissingInputError


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DW__PATHS__WAREHOUSE", str(tmp_path / "wh"))
    monkeypatch.setenv("DW__PATHS__DATA", str(tmp_path / "data"))
    return tmp_path


@pytest.mark.parametrize("week", ["2026-47", "2026-W54", ""])
def test_a_bad_week_is_a_usage_error(env, week, capsys):
    with pytest.raises(SystemExit) as exit_:
        week_job("x", "x", lambda c, w, a: {}, ["--week", week])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--week" in err and ("ISO week" in err or "does not exist" in err)


@pytest.mark.parametrize(
    "error",
    [CatalogError("tracks.csv line 3: blank artist_id"), MissingInputError("plays: missing; run the ingest job")],
)
def test_expected_errors_are_one_line_and_exit_2(env, error, caplog):
    def run(config, week, args):
        raise error

    assert week_job("x", "x", run, ["--week", "2026-W47"]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [str(error)]
    assert all(r.exc_info is None for r in caplog.records)


def test_a_bad_setting_is_one_line_and_exit_2(env, monkeypatch, caplog):
    monkeypatch.setenv("DW__ALS__RANK", "many")
    assert week_job("x", "x", lambda c, w, a: {}, ["--week", "2026-W47"]) == 2
    (message,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "als.rank" in message


def test_a_bug_keeps_its_traceback(env):
    def run(config, week, args):
        raise KeyError("a bug")

    with pytest.raises(KeyError, match="a bug"):
        week_job("x", "x", run, ["--week", "2026-W47"])


def test_the_result_is_recorded_as_run_metrics_with_its_time(env):
    assert week_job("x", "x", lambda c, w, a: {"rows": 3}, ["--week", "2026-W47"], metrics="merge") == 0
    written = json.loads((env / "wh" / "run_metrics" / "week=2026-W47" / "merge.json").read_text())
    assert written["rows"] == 3 and isinstance(written["seconds"], float)


@pytest.mark.parametrize(
    ("module", "argv"),
    [("jobs.tools.query", []), ("jobs.report", []), ("jobs.runtime.runinfo", ["publish-week"])],
)
def test_other_commands_print_one_line_for_a_bad_setting(env, monkeypatch, capsys, module, argv):
    import importlib

    monkeypatch.setenv("DW__ALS__RANK", "many")
    assert importlib.import_module(module).main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "als.rank" in err and err.count("\n") == 1


def test_runinfo_names_a_bad_week_in_one_line(env, capsys):
    from jobs.runtime import runinfo

    assert runinfo.main(["logical-date", "2026-47"]) == 2
    assert capsys.readouterr().err == "error: week '2026-47' is not an ISO week like 2026-W47\n"


def test_an_expected_error_with_metrics_still_writes_them(tmp_path, monkeypatch):
    """One writer of run metrics: a failed run's counts (e.g. ingest's) go through week_job too."""
    from jobs.warehouse.raw_plays import IngestError
    from jobs.warehouse.store import Warehouse

    monkeypatch.setenv("DW_WAREHOUSE", str(tmp_path / "wh"))
    monkeypatch.setenv("DW_DATA", str(tmp_path / "data"))

    def fails(config, week, args):
        raise IngestError("too many bad rows", metrics={"week": week, "failed": "too many bad rows"})

    assert week_job("ingest", "x", fails, ["--week", "2026-W47"], errors=(IngestError,), metrics="ingest") == 2
    written = Warehouse(tmp_path / "wh").read_metrics("2026-W47")["ingest"]
    assert written == {"week": "2026-W47", "failed": "too many bad rows"}


@pytest.mark.parametrize(
    ("code", "advice"),
    [(errno.ENOSPC, "free space on that disk"), (errno.EROFS, "the file system is read-only")],
)
def test_a_full_or_read_only_warehouse_is_one_line_naming_the_path(tmp_path, monkeypatch, caplog, code, advice):
    monkeypatch.setenv("DW_WAREHOUSE", str(tmp_path / "wh"))
    monkeypatch.setenv("DW_DATA", str(tmp_path / "data"))
    target = str(tmp_path / "wh" / "plays" / "_staging-x" / "part-0.parquet")

    def storage_fails(config, week, args):
        raise OSError(code, os.strerror(code), target)

    assert week_job("ingest", "x", storage_fails, ["--week", "2026-W47"]) == 2
    line = caplog.records[-1].getMessage()
    assert line.startswith(f"{target}: {os.strerror(code)}; ") and advice in line and line.endswith("then rerun")


def test_a_full_disk_under_spark_is_one_line_too(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DW_WAREHOUSE", str(tmp_path / "wh"))
    monkeypatch.setenv("DW_DATA", str(tmp_path / "data"))

    class Py4JJavaError(Exception):  # what pyspark raises, carrying the Java stack as text
        pass

    java = (
        "An error occurred while calling o97.parquet.\n: org.apache.spark.SparkException: Job aborted.\n"
        "\tat org.apache.spark.sql.execution.datasources.FileFormatWriter$.write(FileFormatWriter.scala:251)\n"
        f"Caused by: java.io.IOException: {os.strerror(errno.ENOSPC)}\n\tat java.base/java.io.FileOutputStream.writeBytes"
    )

    def spark_fails(config, week, args):
        raise Py4JJavaError(java)

    assert week_job("ingest", "x", spark_fails, ["--week", "2026-W47"]) == 2
    line = caplog.records[-1].getMessage()
    assert line.startswith(f"Caused by: java.io.IOException: {os.strerror(errno.ENOSPC)} (Spark, writing under ")
    assert "free space on that disk, then rerun" in line and "\n" not in line

    def other(config, week, args):
        raise Py4JJavaError("java.lang.IllegalStateException: a bug")

    with pytest.raises(Py4JJavaError):
        week_job("ingest", "x", other, ["--week", "2026-W47"])


def test_other_os_errors_keep_their_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("DW_WAREHOUSE", str(tmp_path / "wh"))

    def bug(config, week, args):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/nowhere")

    with pytest.raises(FileNotFoundError):
        week_job("x", "x", bug, ["--week", "2026-W47"])


def test_a_corrupt_run_metrics_file_is_named(tmp_path):
    from jobs.warehouse.store import Warehouse

    wh = Warehouse(tmp_path)
    wh.write_metrics("als", "2026-W47", {"rank": 32})
    bad = wh.metrics_file("merge", "2026-W47")
    bad.write_text('{"rows": 3 "eligible": 1}')
    with pytest.raises(MissingInputError, match=f"{bad}: not valid JSON .*rerun the merge job for 2026-W47"):
        wh.read_metrics("2026-W47")


def test_the_summary_shows_a_skipped_or_partial_als_evaluation():
    """A week after the last plays has no holdout: make run's summary says so instead of failing."""
    from jobs.runtime.runinfo import evaluation_lines

    reason = "no counted plays in the holdout week 2026-11-16..2026-11-23"
    assert evaluation_lines({"skipped": reason}) == [f"    evaluation skipped: {reason}"]
    shown = evaluation_lines({"als": {"users": 9, "precision@10": 0.125, "mean_percentile_rank": None}})
    assert shown == ["             als: precision@10=0.1250, mean_percentile_rank=n/a"]
    assert evaluation_lines({}) == []


def test_the_summary_says_which_als_fits_were_read_from_the_fit_cache(tmp_path):
    from jobs.runtime.runinfo import summary
    from jobs.warehouse.store import Warehouse

    wh = Warehouse(tmp_path)
    wh.partition("discover_weekly", "2026-W47").mkdir(parents=True)
    als = {"users": 9, "tracks": 12, "rank": 4, "fit_seconds": 1.5, "evaluation": {}}
    wh.write_metrics("als", "2026-W47", {**als, "fit_cache": {"fit": "miss", "evaluation": "hit"}})
    assert "  als: 9 listeners x 12 tracks, rank 4, fit 1.5 s (the evaluation's factors read from the fit cache)" in (
        summary(tmp_path, "2026-W47").splitlines()
    )
    wh.write_metrics("als", "2026-W47", {**als, "fit_cache": {"fit": "off", "evaluation": "off"}})
    assert "  als: 9 listeners x 12 tracks, rank 4, fit 1.5 s" in summary(tmp_path, "2026-W47").splitlines()
