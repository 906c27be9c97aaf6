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
