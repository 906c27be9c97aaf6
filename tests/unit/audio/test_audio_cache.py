"""The clip cache: a week computes only clips it has not seen, and deleting the cache changes no output."""

import hashlib
import shutil

import numpy as np
import pytest
import soundfile as sf

from jobs import audio_features as af
from jobs.audio import cache as clip_cache
from jobs.audio import spectrogram as sg
from tests.unit.audio.test_audio_features import SR, click_track, progression, write_world

TABLES = ("spectrograms", "audio_attributes", "audio_rejects")


def tables_digest(config, week="2026-W47"):
    """SHA-256 of each table's Parquet bytes of the week (the files as written, not their reading)."""
    out = {}
    for table in TABLES:
        folder = config.paths.warehouse / table / f"week={week}"
        digest = hashlib.sha256()
        for f in sorted(folder.rglob("*.parquet")):
            digest.update(f.name.encode() + f.read_bytes())
        out[table] = digest.hexdigest()
    return out


def files():
    return {
        "a.wav": lambda p: sf.write(p, click_track(120, seconds=4), SR),
        "b.wav": lambda p: sf.write(p, click_track(90, seconds=4), SR),
        "c.wav": lambda p: sf.write(p, progression([(60, 64, 67), (65, 69, 72)]), SR),
        "silent.wav": lambda p: sf.write(p, np.zeros(SR * 4, dtype=np.float32), SR),
        "gone.wav": None,
    }


@pytest.fixture
def world(tmp_path):
    return write_world(tmp_path, files())


def test_a_rerun_reads_every_clip_from_the_cache_and_writes_the_same_tables(world):
    first = af.run(world, "2026-W47")
    assert (first["computed"], first["from_cache"]) == (5, 0)
    cold = tables_digest(world)
    second = af.run(world, "2026-W47")
    # the silent clip's reject is cached too; the missing file has no bytes to key it by
    assert (second["computed"], second["from_cache"]) == (1, 4)
    assert tables_digest(world) == cold


def test_deleting_the_cache_changes_no_output(world):
    af.run(world, "2026-W47")
    warm = tables_digest(world)
    shutil.rmtree(world.paths.cache)
    metrics = af.run(world, "2026-W47")
    assert metrics["from_cache"] == 0
    assert tables_digest(world) == warm


def test_without_the_cache_the_tables_are_the_same(world, tmp_path):
    af.run(world, "2026-W47")
    cached = tables_digest(world)
    off = world.model_copy(update={"audio": world.audio.model_copy(update={"cache": False})})
    metrics = af.run(off, "2026-W47")
    assert metrics["from_cache"] == 0 and metrics["cache"] is None
    assert tables_digest(off) == cached


def test_a_changed_clip_is_the_only_one_computed_again(world):
    af.run(world, "2026-W47")
    sf.write(world.paths.data / "audio" / "b.wav", click_track(140, seconds=4), SR)  # new bytes, same path
    metrics = af.run(world, "2026-W47")
    assert (metrics["computed"], metrics["from_cache"]) == (2, 3)  # b.wav and the missing file
    from tests.unit.audio.test_audio_features import read_week

    attrs = read_week(world.paths.warehouse.parent, "audio_attributes").set_index("track_id")
    assert attrs.loc["t1", "tempo_bpm"] == pytest.approx(140, abs=2)  # the new clip's, not the cached one


def test_new_settings_are_a_new_feature_version_and_compute_every_clip(world):
    af.run(world, "2026-W47")
    hop = world.model_copy(update={"audio": world.audio.model_copy(update={"hop_length": 256})})
    assert clip_cache.feature_version(sg.Settings.from_conf(hop.audio)) != clip_cache.feature_version(
        sg.Settings.from_conf(world.audio)
    )
    metrics = af.run(hop, "2026-W47")
    assert (metrics["computed"], metrics["from_cache"]) == (5, 0)


def test_the_feature_version_follows_the_feature_code(monkeypatch):
    from jobs.warehouse import cache as store

    settings = sg.Settings.from_conf()
    before = clip_cache.feature_version(settings)
    assert clip_cache.feature_version(settings) == before  # stable
    real = store.module_source
    monkeypatch.setattr(store, "module_source", lambda m: real(m) + (b"# an edit" if m == "jobs.audio.rhythm" else b""))
    assert clip_cache.feature_version(settings) != before  # one estimator edited: every clip again
    monkeypatch.setattr(store, "module_source", lambda m: real(m) + (b"# an edit" if m == "jobs.ingest" else b""))
    assert clip_cache.feature_version(settings) == before  # code the features do not depend on


def test_the_feature_version_is_read_from_a_code_zip_too(tmp_path):
    import subprocess
    import sys

    from jobs.runtime.package import build_zip

    zip_path = build_zip(clip_cache.Path(clip_cache.__file__).resolve().parents[2], tmp_path / "code.zip")
    code = "from jobs.audio import cache, spectrogram as s; print(cache.__file__); print(cache.feature_version(s.Settings.from_conf()))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(zip_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert out[0].startswith(str(zip_path)) and out[1] == clip_cache.feature_version(sg.Settings.from_conf())


def test_a_damaged_entry_is_computed_again(world):
    af.run(world, "2026-W47")
    warm = tables_digest(world)
    entries = sorted(world.paths.cache.rglob("*.npz"))
    assert len(entries) == 4
    entries[0].write_bytes(b"not an npz")
    metrics = af.run(world, "2026-W47")
    assert (metrics["computed"], metrics["from_cache"]) == (2, 3)
    assert tables_digest(world) == warm


def test_a_worker_failure_is_not_cached(tmp_path):
    cache = clip_cache.ClipCache(tmp_path)
    cache.put("ab" * 32, {"reason": "timed_out"})
    cache.put("cd" * 32, {"reason": "failed:MemoryError"})
    cache.put("ef" * 32, {"reason": "silent"})
    assert cache.get("ab" * 32) is None and cache.get("cd" * 32) is None
    assert cache.get("ef" * 32) == {"reason": "silent"}


@pytest.mark.spark
@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_the_spark_engine_writes_the_pools_tables_and_fills_the_same_cache(world, spark, monkeypatch):
    af.run(world, "2026-W47")
    pool = tables_digest(world)
    shutil.rmtree(world.paths.cache)
    on_spark = world.model_copy(update={"audio": world.audio.model_copy(update={"engine": "spark"})})
    sessions = []
    monkeypatch.setattr(af, "with_spark", lambda _c, _n, fn: sessions.append(1) or fn(spark))  # the test session
    metrics = af.run(on_spark, "2026-W47")
    assert sessions == [1] and metrics["engine"] == "spark" and metrics["computed"] == 5
    assert tables_digest(on_spark) == pool
    assert len(list(world.paths.cache.rglob("*.npz"))) == 4  # the executors stored what they computed
    again = af.run(on_spark, "2026-W47")
    assert again["from_cache"] == 4 and sessions == [1, 1]  # only the missing file went to Spark
