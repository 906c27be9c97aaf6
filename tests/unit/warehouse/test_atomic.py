import os

import pytest

from jobs.warehouse.atomic import clean_stale_staging, publish_dir, staging_dir, write_json_atomic


def test_publish_replaces_a_partition_whole(tmp_path):
    target = tmp_path / "table" / "week=2026-W47"
    first = staging_dir(target)
    (first / "a.parquet").write_text("old")
    (first / "b.parquet").write_text("old")
    publish_dir(first, target)
    assert sorted(os.listdir(target)) == ["a.parquet", "b.parquet"]

    second = staging_dir(target)
    (second / "c.parquet").write_text("new")
    publish_dir(second, target)
    assert sorted(os.listdir(target)) == ["c.parquet"]  # nothing of the old partition is left
    assert (target / "c.parquet").read_text() == "new"
    # no staging or old copies remain beside it
    assert sorted(p.name for p in target.parent.iterdir()) == ["week=2026-W47"]


def test_staging_dirs_are_hidden_from_readers_and_cleaned(tmp_path):
    target = tmp_path / "t" / "week=2026-W47"
    stage = staging_dir(target)
    assert stage.name.startswith("_")  # Spark, pyarrow and DuckDB globs skip it
    assert clean_stale_staging(target.parent) == 1
    assert not stage.exists()


def test_json_is_written_whole(tmp_path):
    path = tmp_path / "m" / "metrics.json"
    write_json_atomic(path, {"b": 1, "a": 2})
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_a_failed_text_write_leaves_no_temp_file_and_the_old_file(tmp_path, monkeypatch):
    from pathlib import Path

    from jobs.warehouse.atomic import write_text_atomic

    path = tmp_path / "r" / "report.html"
    write_text_atomic(path, "old")
    real = Path.write_text

    def full_disk(self, *args, **kwargs):
        real(self, "half", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(path, "new")
    monkeypatch.undo()
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]
    assert path.read_text() == "old"


_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from jobs.warehouse.atomic import staged
with staged(Path(sys.argv[1])) as stage:
    (stage / "part-0.parquet").write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)
"""

_LIVE_WRITER = """
import sys, time
from pathlib import Path
from jobs.warehouse.atomic import staged
with staged(Path(sys.argv[1])) as stage:
    (stage / "part-0.parquet").write_text("busy")
    print("ready", flush=True)
    sys.stdin.readline()
"""


def test_the_next_write_removes_what_killed_writers_left_but_not_a_live_writers_folder(tmp_path):
    import subprocess
    import sys

    from jobs.warehouse.atomic import staged

    table = tmp_path / "playlists"
    week, other, busy = (table / f"week=2026-W{n}" for n in (47, 46, 45))
    for target in (week, other):  # two writers SIGKILLed inside their block
        rc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)]).returncode
        assert rc == -9
    live = subprocess.Popen(
        [sys.executable, "-c", _LIVE_WRITER, str(busy)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout.readline().strip() == "ready"
        litter = sorted(p.name for p in table.glob("_staging-*"))
        assert [n.split("-W")[1][:2] for n in litter] == ["45", "46", "47"]  # one left by each writer

        with staged(week) as stage:  # the next successful write of the table
            (stage / "part-0.parquet").write_text("whole")

        left = sorted(p.name for p in table.glob("_staging-*"))
        assert len(left) == 1 and "W45" in left[0]  # the live writer's folder stays
        assert (week / "part-0.parquet").read_text() == "whole"
    finally:
        live.communicate("\n", timeout=30)
    assert live.returncode == 0
    assert (busy / "part-0.parquet").read_text() == "busy"
    assert not list(table.glob("_staging-*"))  # the live writer published and swept after itself


def test_a_staging_folder_whose_hidden_name_two_targets_share_stays_while_either_writer_lives(tmp_path):
    import subprocess
    import sys

    from jobs.warehouse.atomic import staged

    live = subprocess.Popen(
        [sys.executable, "-c", _LIVE_WRITER, str(tmp_path / "a~b")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout.readline().strip() == "ready"
        with staged(tmp_path / "a=b") as stage:  # its staging folders are spelled a~b too
            (stage / "x").write_text("1")
        assert len(list(tmp_path.glob("_staging-a~b-*"))) == 1  # the live writer's, kept
    finally:
        live.communicate("\n", timeout=30)
    assert live.returncode == 0 and (tmp_path / "a~b" / "part-0.parquet").read_text() == "busy"

    for target in ("x~y", "discarded-x"):  # killed writers of odd names: removed by their next write
        assert subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path / target)]).returncode == -9
        with staged(tmp_path / target):
            pass
    assert not list(tmp_path.glob("_staging-*"))
