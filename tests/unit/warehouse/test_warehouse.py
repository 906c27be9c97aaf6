"""The warehouse layer and the atomic publication under it: one missing-table rule, one
staged-then-published writer with a lock per output, and publishes that never lose the
live partition (a missing replacement, a failed rename, a writer killed mid-way)."""

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.warehouse import atomic
from jobs.warehouse.atomic import LockTimeoutError, clean_stale_staging, publish_dir, staging_dir
from jobs.warehouse.store import InconsistentInputError, MissingInputError, Warehouse, check_one_rank

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
    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)  # a system without renameat2
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


# --- several partitions published as one; sets of tables (one ALS fit) and their readers -------------------
def _three_targets(tmp_path):
    """Two live partitions (old) and one not there yet."""
    targets = [tmp_path / name / f"week={WEEK}" for name in ("a", "b", "c")]
    for target in targets[:2]:
        target.mkdir(parents=True)
        (target / "part-0.parquet").write_text("old")
    return targets


def _state(targets):
    return [_files(t) if t.exists() else None for t in targets]


def _no_staging(targets):
    return not [p for t in targets for p in t.parent.iterdir() if p.name.startswith(("_staging-", "_old-"))]


@pytest.mark.parametrize("renameat2", [True, False])
def test_staged_together_publishes_every_folder_or_none(tmp_path, monkeypatch, renameat2):
    from jobs.warehouse import sets

    if not renameat2:
        monkeypatch.setattr(sets, "exchange", lambda a, b: False)  # the three-rename fallback
    targets = _three_targets(tmp_path)
    wh = Warehouse(tmp_path)
    real_swap, calls = sets._swap, []

    def swap_failing_on_the_third(src, dst, exchange):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        real_swap(src, dst, exchange)

    monkeypatch.setattr(sets, "_swap", swap_failing_on_the_third)
    with pytest.raises(OSError, match="Input/output"), wh.staged_together(targets) as stages:
        for stage in stages:
            (stage / "part-0.parquet").write_text("new")
    assert _state(targets) == [{"part-0.parquet": "old"}] * 2 + [None]  # the two swapped in were swapped back
    assert _no_staging(targets)

    monkeypatch.setattr(sets, "_swap", real_swap)

    def last():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"), wh.staged_together(targets, last) as stages:
        for stage in stages:
            (stage / "part-0.parquet").write_text("new")
    assert _state(targets) == [{"part-0.parquet": "old"}] * 2 + [None]  # a failed commit undoes every swap
    assert _no_staging(targets)

    with wh.staged_together(targets, lambda: (tmp_path / "committed").touch()) as stages:
        for stage in stages:
            (stage / "part-0.parquet").write_text("new")
    assert _state(targets) == [{"part-0.parquet": "new"}] * 3 and (tmp_path / "committed").exists()
    assert _no_staging(targets)


def _als_frames(rank=4, users=3, tracks=5, seed=0):
    rng = np.random.default_rng(seed)
    u = [f"u{i}" for i in range(users)]
    t = [f"t{i}" for i in range(tracks)]
    vec = lambda n: list(rng.normal(size=(n, rank)).astype(np.float32))  # noqa: E731
    return {
        "play_counts": pd.DataFrame({"user_id": u[0], "track_id": t, "plays": 2, "weight": 2.0}),
        "user_factors": pd.DataFrame({"user_id": u, "vector": vec(users)}),
        "item_factors": pd.DataFrame({"track_id": t, "vector": vec(tracks), "plays": 2}),
        "als_metrics": pd.DataFrame({"model": ["als"], "metric": ["ndcg@30"], "value": [0.5]}),
    }


def test_a_set_is_stamped_with_its_fit_and_its_manifest_is_written_last(tmp_path):
    import json

    wh = Warehouse(tmp_path)
    fit = wh.publish_set("als_fit", WEEK, _als_frames(), {"run_id": "manual__x", "rank": 4})
    assert fit["tables"] == {"play_counts": 5, "user_factors": 3, "item_factors": 5, "als_metrics": 1}
    assert json.loads((wh.partition("als_fit", WEEK) / "manifest.json").read_text()) == fit
    for name, rows in fit["tables"].items():
        stamp = json.loads((wh.partition(name, WEEK) / "_fit.json").read_text())
        fields = {"set": "als_fit", "fit_id": fit["fit_id"], "week": WEEK, "run_id": "manual__x", "rank": 4}
        assert stamp == {**fields, "rows": rows}
        assert len(wh.read(name, WEEK)) == rows  # the stamp is not read as data
    frames, read_fit = wh.read_together(WEEK, ["user_factors", "item_factors", "play_counts"], ["track_vectors"])
    assert read_fit["fit_id"] == fit["fit_id"] and frames["track_vectors"] is None


def test_a_failed_set_write_keeps_the_old_set_and_manifest(tmp_path, monkeypatch):
    from jobs.warehouse import store as warehouse

    wh = Warehouse(tmp_path)
    old = wh.publish_set("als_fit", WEEK, _als_frames(seed=0), {"rank": 4})
    before = {n: wh.read(n, WEEK) for n in old["tables"]}
    real_write, written = warehouse.pq.write_table, []

    def disk_full_on_the_second(table, where, **kwargs):
        written.append(where)
        if len(written) == 2:
            Path(where).write_bytes(b"half a file")
            raise OSError(28, "No space left on device")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(warehouse.pq, "write_table", disk_full_on_the_second)
    with pytest.raises(OSError, match="No space"):
        wh.publish_set("als_fit", WEEK, _als_frames(seed=1), {"rank": 4})
    assert wh.manifest("als_fit", WEEK) == old
    for name, frame in before.items():
        pd.testing.assert_frame_equal(wh.read(name, WEEK), frame)
    assert _no_staging([wh.partition(n, WEEK) for n in old["tables"]])


def test_readers_refuse_tables_of_another_fit_naming_the_tables_and_fit_ids(tmp_path):
    import shutil

    wh = Warehouse(tmp_path)
    old = wh.publish_set("als_fit", WEEK, _als_frames(seed=0), {"rank": 4})
    vectors = _als_frames(seed=0)["item_factors"][["track_id", "vector"]].assign(source="als")
    _, fit = wh.read_together(WEEK, ["item_factors"])
    wh.write("track_vectors", WEEK, vectors, fit=fit, made_from={"spectrograms": None})  # derived from the old fit
    shutil.copytree(wh.partition("user_factors", WEEK), tmp_path / "old_user_factors")
    new = wh.publish_set("als_fit", WEEK, _als_frames(seed=1), {"rank": 4})

    with pytest.raises(InconsistentInputError, match=rf"track_vectors {WEEK} is from fit {old['fit_id']}") as err:
        wh.read_optional("track_vectors", WEEK, ["track_id", "source"])  # as validate reads it
    assert new["fit_id"] in str(err.value) and "rerun the audio_cnn infer job" in str(err.value)

    # an old partition copied in over the new one
    shutil.rmtree(wh.partition("user_factors", WEEK))
    shutil.copytree(tmp_path / "old_user_factors", wh.partition("user_factors", WEEK))
    with pytest.raises(InconsistentInputError, match=rf"user_factors {WEEK} is from fit {old['fit_id']}") as err:
        wh.read_together(WEEK, ["user_factors", "item_factors", "play_counts"])
    assert f"the week's fit is {new['fit_id']}" in str(err.value) and "rerun the als job" in str(err.value)
    assert isinstance(err.value, MissingInputError)  # an expected error: one line, exit 2

    # a partition written outside the fit (no stamp), or changed after it (other row count)
    wh.write("user_factors", WEEK, _als_frames(seed=1)["user_factors"])
    with pytest.raises(InconsistentInputError, match="no fit id, but the week's fit is"):
        wh.read("user_factors", WEEK)
    table = pq.read_table(wh.partition("item_factors", WEEK) / "part-0.parquet")
    pq.write_table(table.slice(0, 2), wh.partition("item_factors", WEEK) / "part-0.parquet")
    with pytest.raises(InconsistentInputError, match=r"2 rows, but fit .* wrote 5"):
        wh.read("item_factors", WEEK)


def test_read_together_refuses_a_set_republished_between_its_reads(tmp_path, monkeypatch):
    wh = Warehouse(tmp_path)
    old = wh.publish_set("als_fit", WEEK, _als_frames(seed=0), {"rank": 4})
    real_read, new = Warehouse._read, []

    def read_then_republish(self, name, week, columns):
        out = real_read(self, name, week, columns)
        if name == "user_factors":  # another run's fit lands between two reads; each read alone is consistent
            new.append(wh.publish_set("als_fit", WEEK, _als_frames(seed=1), {"rank": 4}))
        return out

    monkeypatch.setattr(Warehouse, "_read", read_then_republish)
    with pytest.raises(InconsistentInputError, match="not from one fit") as err:
        wh.read_together(WEEK, ["user_factors", "item_factors"])
    assert f"user_factors from fit {old['fit_id']}, item_factors from fit {new[0]['fit_id']}" in str(err.value)


def test_tables_written_before_fits_were_recorded_are_read_unchecked(tmp_path):
    wh = Warehouse(tmp_path)
    for name, frame in _als_frames().items():
        wh.write(name, WEEK, frame)  # no stamp, and the week has no manifest
    frames, fit = wh.read_together(WEEK, ["user_factors", "item_factors", "play_counts"], ["track_vectors"])
    assert fit is None and len(frames["user_factors"]) == 3


def test_check_one_rank_names_each_table_and_its_vector_lengths():
    frames = _als_frames(rank=4)
    mixed = pd.concat([frames["item_factors"], _als_frames(rank=8)["item_factors"]], ignore_index=True)
    assert check_one_rank(WEEK, {"user_factors": frames["user_factors"], "track_vectors": None}) == 4
    with pytest.raises(InconsistentInputError, match=r"user_factors 4, track_vectors 4/8\) .* rerun audio_cnn infer"):
        check_one_rank(WEEK, {"user_factors": frames["user_factors"], "track_vectors": mixed})


def test_staged_together_refuses_a_target_named_twice(tmp_path):
    from jobs.warehouse.sets import staged_together

    with pytest.raises(ValueError, match="targets named twice"), staged_together([tmp_path / "a", tmp_path / "a"]):
        pass
    assert not list(tmp_path.iterdir())
