"""The warehouse layer and the atomic publication under it: one missing-table rule, one
staged-then-published writer with a lock per output, and publishes that never lose the
live partition (a missing replacement, a failed rename, a writer killed mid-way)."""

import os
import threading

import pandas as pd
import pytest

from jobs.common import atomic
from jobs.common.atomic import LockTimeoutError, clean_stale_staging, publish_dir, staging_dir
from jobs.common.warehouse import MissingInputError, Warehouse

WEEK = "2026-W47"


def _files(folder):
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_publish_of_a_missing_folder_leaves_the_live_partition(tmp_path):
    target = tmp_path / "t" / f"week={WEEK}"
    stage = staging_dir(target)
    (stage / "a.parquet").write_text("live")
    publish_dir(stage, target)
    with pytest.raises(FileNotFoundError, match="nothing to publish"):
        publish_dir(tmp_path / "t" / "_pending-gone", target)
    assert _files(target) == {"a.parquet": "live"}
    assert sorted(p.name for p in target.parent.iterdir()) == [f"week={WEEK}"]


def test_fallback_publish_puts_the_old_partition_back_when_the_second_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "t" / f"week={WEEK}"
    target.mkdir(parents=True)
    (target / "a.parquet").write_text("live")
    stage = staging_dir(target)
    (stage / "b.parquet").write_text("new")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # a system without renameat2
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # staged -> target: the disk is full, say
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        publish_dir(stage, target)
    monkeypatch.setattr(atomic.os, "rename", real_rename)
    assert _files(target) == {"a.parquet": "live"}
    assert not any(p.name.startswith("_old-") for p in target.parent.iterdir())


def test_cleaning_restores_a_partition_a_killed_writer_moved_aside(tmp_path):
    parent = tmp_path / "plays"
    parent.mkdir()
    # killed between the fallback's two renames: only the moved-aside copy exists
    (parent / "_old-day~2026-11-01-0123456789ab").mkdir()
    (parent / "_old-day~2026-11-01-0123456789ab" / "p.parquet").write_text("live day")
    # killed after both renames: the live day exists, its old copy is garbage
    (parent / "day=2026-11-02").mkdir()
    (parent / "_old-day~2026-11-02-0123456789ab").mkdir()
    (parent / "_staging-day-0123456789ab").mkdir()
    assert clean_stale_staging(parent) == 3
    assert sorted(p.name for p in parent.iterdir()) == ["day=2026-11-01", "day=2026-11-02"]
    assert (parent / "day=2026-11-01" / "p.parquet").read_text() == "live day"


def test_a_second_writer_of_one_partition_waits_then_fails_clearly(tmp_path):
    wh = Warehouse(tmp_path)
    target = wh.partition("discover_weekly", WEEK)
    inside, release = threading.Event(), threading.Event()
    errors = []

    def first_writer():
        try:
            with wh.staged(target) as stage:
                (stage / "part-0.parquet").write_text("first")
                inside.set()
                release.wait(10)
        except Exception as exc:  # noqa: BLE001 - any failure of the first writer fails the test below
            errors.append(exc)

    t = threading.Thread(target=first_writer)
    t.start()
    assert inside.wait(10)
    with pytest.raises(LockTimeoutError, match=r"being written by another run \(pid \d+"), wh.staged(target, 0.2):
        pass  # pragma: no cover
    release.set()
    t.join(10)
    assert not errors
    assert _files(target) == {"part-0.parquet": "first"}
    with wh.staged(target, 0.2) as stage:  # free again once the first is done
        (stage / "part-0.parquet").write_text("second")
    assert _files(target) == {"part-0.parquet": "second"}


def test_a_failed_block_publishes_nothing_and_keeps_the_old_partition(tmp_path):
    wh = Warehouse(tmp_path)
    wh.write("als_metrics", WEEK, pd.DataFrame({"model": ["als"], "metric": ["ndcg@30"], "value": [0.5]}))
    target = wh.partition("als_metrics", WEEK)
    before = sorted(os.listdir(target))
    with pytest.raises(RuntimeError, match="boom"), wh.staged(target) as stage:
        (stage / "part-0.parquet").write_text("half")
        raise RuntimeError("boom")
    assert sorted(os.listdir(target)) == before
    assert wh.read("als_metrics", WEEK)["value"].tolist() == [0.5]
    assert not any(p.name.startswith("_staging-") for p in target.parent.iterdir())


def test_one_missing_table_rule(tmp_path):
    wh = Warehouse(tmp_path)
    with pytest.raises(MissingInputError, match=r"user_factors/week=2026-W47: missing; run the als job for 2026-W47"):
        wh.read("user_factors", WEEK)
    assert wh.read_optional("cultural_terms", WEEK) is None
    with pytest.raises(ValueError, match="ISO week"):
        wh.read("user_factors", "2026-47")


def test_weeks_and_metrics(tmp_path):
    wh = Warehouse(tmp_path)
    for week in ("2026-W45", "2026-W47", "2026-W46"):
        wh.partition("pages", week).mkdir(parents=True)
    (wh.table_dir("pages") / "_pending-2026-W48").mkdir()
    assert wh.weeks("pages") == ["2026-W45", "2026-W46", "2026-W47"]
    assert wh.weeks("pages", before="2026-W47") == ["2026-W45", "2026-W46"]
    assert wh.weeks("pages", until="2026-W46") == ["2026-W45", "2026-W46"]
    assert wh.weeks("nothing") == []
    wh.write_metrics("merge", WEEK, {"rows": 3})
    wh.write_metrics("als", WEEK, {"rank": 32})
    assert wh.read_metrics(WEEK) == {"als": {"rank": 32}, "merge": {"rows": 3}}
    assert wh.read_metrics("2026-W01") == {}


def _day(folder, day, text):
    (folder / f"day={day}").mkdir(parents=True)
    (folder / f"day={day}" / "part-0.parquet").write_text(text)


def test_staged_partitions_swap_written_ones_drop_named_ones_and_keep_the_rest(tmp_path):
    wh = Warehouse(tmp_path)
    root = wh.table_dir("plays")
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        _day(root, day, f"old {day}")
    kept = os.stat(root / "day=2026-11-03" / "part-0.parquet")
    (root / "_staging-day-0123456789ab").mkdir()  # left by a killed writer
    with wh.staged_partitions("plays", "day", drop=["2026-11-02", "2026-10-01"]) as stage:
        assert stage.parent == root and "=" not in stage.name  # Spark and pyarrow readers skip it
        with pytest.raises(LockTimeoutError), wh.staged(root, 0.1):  # one writer of the table at a time
            pass  # pragma: no cover
        _day(stage, "2026-11-01", "new 2026-11-01")
        _day(stage, "2026-11-04", "new 2026-11-04")
    assert wh.partitions("plays", "day") == ["2026-11-01", "2026-11-03", "2026-11-04"]
    assert _files(root / "day=2026-11-01") == {"part-0.parquet": "new 2026-11-01"}
    assert _files(root / "day=2026-11-04") == {"part-0.parquet": "new 2026-11-04"}
    after = os.stat(root / "day=2026-11-03" / "part-0.parquet")
    assert (after.st_ino, after.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)  # untouched
    assert sorted(p.name for p in root.iterdir()) == ["day=2026-11-01", "day=2026-11-03", "day=2026-11-04"]
    assert wh.partitions("nothing", "day") == []


def test_a_failed_multi_partition_write_publishes_and_drops_nothing(tmp_path):
    wh = Warehouse(tmp_path)
    root = wh.table_dir("plays")
    _day(root, "2026-11-01", "old")
    with pytest.raises(RuntimeError, match="boom"), wh.staged_partitions("plays", "day", drop=["2026-11-01"]) as stage:
        _day(stage, "2026-11-02", "new")
        raise RuntimeError("boom")
    assert sorted(p.name for p in root.iterdir()) == ["day=2026-11-01"]
    assert _files(root / "day=2026-11-01") == {"part-0.parquet": "old"}
    with (
        pytest.raises(ValueError, match="both written and to be dropped"),
        wh.staged_partitions("plays", "day", drop=["2026-11-01"]) as stage,
    ):
        _day(stage, "2026-11-01", "new")
    assert _files(root / "day=2026-11-01") == {"part-0.parquet": "old"}
    assert sorted(p.name for p in root.iterdir()) == ["day=2026-11-01"]


@pytest.mark.spark
def test_spark_reads_a_table_beside_locks_staging_and_pending_folders(tmp_path, spark):
    """Spark reads ``_x=y`` names as partitions: the helper files must not look like one."""
    wh = Warehouse(tmp_path)
    row = pd.DataFrame({"user_id": ["u1"], "position": [1], "track_id": ["t1"], "artist_id": ["a1"]}).assign(
        score=1.0, source="als", reason="x"
    )
    wh.write("discover_weekly", WEEK, row.assign(position=row["position"].astype("int32")))
    staging_dir(wh.partition("discover_weekly", "2026-W48"))  # a killed writer's leftover
    wh.pending("2026-W48").mkdir()
    (wh.pending("2026-W48") / "eligible.parquet").write_text("not read")
    names = sorted(p.name for p in wh.table_dir("discover_weekly").iterdir())
    assert any(n.startswith(".lock-") for n in names) and any(n.startswith("_staging-") for n in names)
    got = spark.read.parquet(str(wh.table_dir("discover_weekly"))).toPandas()
    assert got[["user_id", "track_id", "week"]].values.tolist() == [["u1", "t1", WEEK]]
