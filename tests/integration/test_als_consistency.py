"""ALS publishes its four tables as one fit, and every reader refuses tables of two fits or two ranks.

Each case is a fault the probe found: degenerate weeks (no play in the holdout week, one
listener, one play, no play in the window) crashed while writing ``als_metrics`` after the
other three tables were already replaced; a full disk left new ``user_factors`` beside old
``item_factors``; a partition of an older fit copied in was merged without a word; a rank
change made ``audio_cnn infer`` write 16-d and 32-d vectors into one table. The worlds here
are hand-made and tiny (a dozen tracks, a few listeners, ALS at rank 4).
"""

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import als, merge
from jobs.recsys import als as als_recipe
from jobs.warehouse.store import InconsistentInputError, Warehouse
from tests.conftest import make_config

# every test runs the whole ALS job (Spark), several seconds each: make test, not make check
pytestmark = pytest.mark.slow

WEEK = "2026-W47"
CUT = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)  # the week's cutoff: the holdout week is the one before it
TABLES = ("play_counts", "user_factors", "item_factors", "als_metrics")
UTC_US = pa.timestamp("us", tz="UTC")
PLAYS = pa.schema(
    [("user_id", pa.string()), ("track_id", pa.string()), ("played_at", UTC_US), ("ms_played", pa.int64())]
)


def _play(user, track, days_before_cut, ms=200_000):
    return (user, track, CUT - dt.timedelta(days=days_before_cut, hours=-12), ms)


def _normal_plays(users=6, tracks=12, seed=0):
    """Three weeks of plays by listeners who keep to their half of the catalog, new tracks in the last week."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        mine = [t for t in range(tracks) if t % 2 == u % 2]
        for day in range(7, 21, 2):
            rows.append(_play(f"u{u}", f"t{rng.choice(mine[:4]):02d}", day))
        rows += [_play(f"u{u}", f"t{mine[4 + (u // 2) % 2]:02d}", 3), _play(f"u{u}", f"t{mine[0]:02d}", 2)]
    return rows


def _config(root):
    return make_config(root / "data", root / "wh", als={"rank": 4, "max_iter": 3, "window_weeks": 3}, merge={"k": 3})


def _world(tmp_path, plays, tracks=12):
    """A catalog and an ingested ``plays`` table (one partition per day) and the config to use them."""
    data, warehouse = tmp_path / "data", tmp_path / "wh"
    (data / "catalog").mkdir(parents=True)
    ids = [f"t{i:02d}" for i in range(tracks)]
    pd.DataFrame(
        {
            "track_id": ids,
            "title": ids,
            "artist_id": [f"a{i % 4}" for i in range(tracks)],
            "album": "x",
            "release_date": "2020-01-01",
            "duration_ms": 200_000,
            "audio_path": "",
        }
    ).to_csv(data / "catalog" / "tracks.csv", index=False)
    pd.DataFrame({"artist_id": [f"a{i}" for i in range(4)], "name": [f"A{i}" for i in range(4)]}).to_csv(
        data / "catalog" / "artists.csv", index=False
    )
    frame = pd.DataFrame(plays, columns=["user_id", "track_id", "played_at", "ms_played"])
    for day, rows in frame.groupby(frame["played_at"].dt.date):
        folder = warehouse / "plays" / f"day={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(rows, schema=PLAYS, preserve_index=False), folder / "part-0.parquet")
    return _config(tmp_path)


def _published(config):
    """The week's four tables and manifest; asserts they are one fit whose stamps and row counts agree."""
    wh = Warehouse(config.paths.warehouse)
    manifest = wh.manifest("als_fit", WEEK)
    frames, fit = wh.read_together(WEEK, list(TABLES))
    assert fit["fit_id"] == manifest["fit_id"] and manifest["rank"] == config.als.rank
    assert {name: len(frame) for name, frame in frames.items()} == manifest["tables"]
    return frames, manifest


@pytest.fixture(scope="module")
def fitted(spark, tmp_path_factory):
    """A world with one ALS fit published (fit A); each test copies it."""
    root = tmp_path_factory.mktemp("fitted")
    config = _world(root, _normal_plays())
    metrics = als.run(spark, config, WEEK)
    assert set(metrics["evaluation"]) == {"als", "most_popular", "most_popular_recent"}  # a normal week: evaluated
    # beside the references, with intervals over listeners and ALS-minus-reference paired intervals
    assert set(metrics["references"]["paired"]) == {"als - most_popular", "als - most_popular_recent"}
    return root


@pytest.fixture
def config(fitted, tmp_path):
    shutil.copytree(fitted, tmp_path, dirs_exist_ok=True)
    return _config(tmp_path)


def _without_last_week(rows):
    return [r for r in rows if r[2] < CUT - dt.timedelta(weeks=1)]


DEGENERATE = {
    "no plays in the holdout week": (
        _without_last_week(_normal_plays()),
        "no counted plays in the holdout week 2026-11-09..2026-11-16",
    ),
    "one listener, only repeats in the holdout week": (
        [_play("u0", "t00", 15), _play("u0", "t02", 10), _play("u0", "t00", 3)],
        "no first-time plays in the holdout week 2026-11-09..2026-11-16",
    ),
    "one play, before the holdout week": ([_play("u0", "t00", 10)], "no counted plays in the holdout week"),
    "one play, in the holdout week": ([_play("u0", "t00", 3)], "no counted plays in the evaluation window"),
    "only a new listener in the holdout week": (
        [_play("u0", "t00", 10), _play("u0", "t01", 12), _play("u1", "t02", 3)],
        "no listener with first-time plays in the holdout week was in the evaluation window",
    ),
}


@pytest.mark.spark
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_weeks_publish_one_fit_and_say_why_the_evaluation_was_skipped(spark, tmp_path, case):
    plays, reason = DEGENERATE[case]
    config = _world(tmp_path, plays)
    metrics = als.run(spark, config, WEEK)
    assert metrics["evaluation"]["skipped"].startswith(reason), metrics["evaluation"]
    frames, manifest = _published(config)
    assert frames["als_metrics"].empty and len(frames["user_factors"]) >= 1
    assert metrics["fit_id"] == manifest["fit_id"]


@pytest.mark.spark
def test_a_metric_with_no_value_is_null_in_the_run_metrics_and_left_out_of_als_metrics(spark, tmp_path):
    # u0's first-time play in the holdout week is of a track nobody played before: it has no vector to rank
    plays = [_play("u0", "t00", 15), _play("u0", "t02", 10), _play("u1", "t02", 12), _play("u0", "t11", 3)]
    config = _world(tmp_path, plays)
    metrics = als.run(spark, config, WEEK)
    assert metrics["evaluation"]["als"]["mean_percentile_rank"] is None
    assert metrics["evaluation"]["als"]["users"] == 1.0
    assert "mean_percentile_rank" not in metrics["references"]["systems"]["als"]  # no value, no interval
    frames, _ = _published(config)
    got = frames["als_metrics"]
    assert not got["value"].isna().any() and "mean_percentile_rank" not in set(got["metric"])
    assert {"precision@30", "recall@30", "ndcg@30", "users", "holdout_pairs"} <= set(got["metric"])


@pytest.mark.spark
def test_no_counted_play_in_the_window_fails_clearly_and_publishes_nothing(spark, tmp_path, monkeypatch, caplog):
    from jobs.runtime import cli

    plays = [_play("u0", "t00", 60), _play("u1", "t01", 3, ms=5_000)]  # long before the window, and a skip
    config = _world(tmp_path, plays)
    with pytest.raises(
        als_recipe.AlsError, match=r"no counted plays between 2026-10-26 and 2026-11-16 .* nothing to fit"
    ):
        als.run(spark, config, WEEK)
    monkeypatch.setattr(cli, "load_config", lambda path: config)
    monkeypatch.setattr(als, "with_spark", lambda config, name, fn: fn(spark))  # keep the tests' session
    assert als.main(["--week", WEEK]) == 2  # an expected error: one line, exit 2
    assert "nothing to fit" in caplog.text
    wh = Warehouse(config.paths.warehouse)
    assert wh.manifest("als_fit", WEEK) is None and not any(wh.has(t, WEEK) for t in TABLES)


def _add_plays(config, rows):
    """More plays on one day of the window, so that the next fit differs from the last one."""
    frame = pd.DataFrame(rows, columns=["user_id", "track_id", "played_at", "ms_played"])
    folder = config.paths.warehouse / "plays" / f"day={frame['played_at'].iloc[0].date()}"
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, schema=PLAYS, preserve_index=False), folder / "part-1.parquet")


def _tables(config):
    """The week's four tables as the files hold them (no fit check)."""
    return {name: pq.read_table(config.paths.warehouse / name / f"week={WEEK}").to_pandas() for name in TABLES}


MORE = [_play(f"u{u}", f"t{t:02d}", 4) for u in range(6) for t in (1, 6, 11)]


@pytest.mark.spark
def test_a_full_disk_while_writing_keeps_the_whole_old_fit(spark, config, monkeypatch):
    from jobs.warehouse import store as warehouse

    before = _tables(config)
    _add_plays(config, MORE)
    real_write, written = warehouse.pq.write_table, []

    def disk_full_on_the_second_table(table, where, **kwargs):
        written.append(where)
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(warehouse.pq, "write_table", disk_full_on_the_second_table)
    with pytest.raises(OSError, match="No space left"):
        als.run(spark, config, WEEK)
    after = _tables(config)
    for name in TABLES:
        pd.testing.assert_frame_equal(after[name], before[name])
    assert not Warehouse(config.paths.warehouse).metrics_file("als", WEEK).exists()  # only the command line writes it
    _published(config)  # still one fit, the old one

    monkeypatch.setattr(warehouse.pq, "write_table", real_write)
    als.run(spark, config, WEEK)
    assert not _tables(config)["play_counts"].equals(before["play_counts"])  # the new plays did change the fit


@pytest.mark.spark
def test_merge_refuses_a_partition_of_an_older_fit_copied_in(spark, config):
    from jobs.recsys.inputs import prepare_inputs

    wh = Warehouse(config.paths.warehouse)
    saved = config.paths.warehouse / "_saved_item_factors"
    shutil.copytree(wh.partition("item_factors", WEEK), saved)
    _add_plays(config, MORE)
    als.run(spark, config, WEEK)
    assert len(prepare_inputs(config, WEEK).users)  # one fit: read as before

    shutil.rmtree(wh.partition("item_factors", WEEK))
    shutil.copytree(saved, wh.partition("item_factors", WEEK))
    with pytest.raises(merge.MergeError, match=f"item_factors {WEEK} is from fit") as failure:
        merge.run(config, WEEK)
    old, new = json.loads((saved / "_fit.json").read_text()), wh.manifest("als_fit", WEEK)
    assert old["fit_id"] != new["fit_id"]
    assert f"from fit {old['fit_id']}" in str(failure.value) and f"the week's fit is {new['fit_id']}" in str(
        failure.value
    )
    assert not wh.pending(WEEK).exists()  # nothing left for validate to publish


def test_merge_refuses_track_vectors_of_mixed_ranks(tmp_path):
    """Tables written before fits were recorded (no stamps) are still checked for one rank."""
    config = _world(tmp_path, [_play("u0", "t00", 3)])
    wh = Warehouse(config.paths.warehouse)
    rng = np.random.default_rng(0)
    ids = [f"t{i:02d}" for i in range(12)]
    wh.write("play_counts", WEEK, pd.DataFrame({"user_id": "u0", "track_id": ids, "plays": 3, "weight": 3.0}))
    wh.write("user_factors", WEEK, pd.DataFrame({"user_id": ["u0"], "vector": list(rng.normal(size=(1, 32)))}))
    items = pd.DataFrame({"track_id": ids[:8], "vector": list(rng.normal(size=(8, 32))), "plays": 3})
    wh.write("item_factors", WEEK, items)
    audio = pd.DataFrame({"track_id": ids[8:], "vector": list(rng.normal(size=(4, 16))), "source": "audio"})
    wh.write(
        "track_vectors",
        WEEK,
        pd.concat([items.drop(columns="plays").assign(source="als"), audio]),
        made_from={"spectrograms": None},
    )
    with pytest.raises(merge.MergeError, match=r"item_factors 32, track_vectors 16/32\) .* rerun audio_cnn infer"):
        merge.run(config, WEEK)


def _model_and_specs(tmp_path, rank):
    """A saved audio model predicting ``rank``-d vectors and spectrograms of the 12 tracks (16 mel bands)."""
    from dataclasses import asdict

    from jobs import audio_cnn
    from jobs import audio_features as af
    from jobs.audio import cnn
    from jobs.audio.spectrogram import Settings
    from jobs.config import AudioCnnConf

    small = AudioCnnConf(filters=(4,), pools=(1,), dense_units=(8,), crop_frames=16)
    model = cnn.build_model(frames=16, n_mels=16, rank=rank, conf=small)
    target = audio_cnn.model_dir(tmp_path / "wh", WEEK)
    target.mkdir(parents=True)
    model.save(target / "model.keras")
    prep = {"crop_frames": 16, "band_mean": [0.0] * 16, "band_std": [1.0] * 16, "pad_value": -1.0}
    prep |= {"spectrogram": asdict(Settings.from_conf()), "rank": rank, "als_median_norm": 1.0}
    (target / "preprocessing.json").write_text(json.dumps(prep))
    rng = np.random.default_rng(0)
    mels = [(f"t{i:02d}", rng.normal(size=(16, 20)).astype(np.float16)) for i in range(12)]
    af.write_spectrograms(mels, tmp_path / "wh", WEEK, frames=20)


def _als_tables(rank, seed=0):
    """ALS tables of a week by hand: one listener, eight tracks with ``rank``-d vectors (four without one)."""
    rng = np.random.default_rng(seed)
    ids = [f"t{i:02d}" for i in range(8)]
    return {
        "play_counts": pd.DataFrame({"user_id": "u0", "track_id": ids, "plays": 3, "weight": 3.0}),
        "user_factors": pd.DataFrame({"user_id": ["u0"], "vector": list(rng.normal(size=(1, rank)))}),
        "item_factors": pd.DataFrame({"track_id": ids, "vector": list(rng.normal(size=(8, rank))), "plays": 3}),
        "als_metrics": pd.DataFrame(columns=["model", "metric", "value"]).astype({"value": "float64"}),
    }


@pytest.mark.tf
def test_inference_refuses_a_model_of_another_rank_naming_both(tmp_path):
    from jobs import audio_cnn

    config = _world(tmp_path, [_play("u0", "t00", 3)])
    wh = Warehouse(config.paths.warehouse)
    _model_and_specs(tmp_path, rank=16)
    for name, frame in _als_tables(rank=32).items():
        wh.write(name, WEEK, frame)  # as written before fits were recorded: the rank is still checked
    with pytest.raises(audio_cnn.AudioCnnError, match=r"predicts rank-16 vectors, but this week's ALS has rank 32"):
        audio_cnn.run_infer(config, WEEK)
    assert not wh.has("track_vectors", WEEK) and not wh.has("audio_vectors", WEEK)


@pytest.mark.tf
def test_inference_stamps_its_vectors_with_the_fit_they_came_from(tmp_path):
    from jobs import audio_cnn

    config = _world(tmp_path, [_play("u0", "t00", 3)])
    wh = Warehouse(config.paths.warehouse)
    _model_and_specs(tmp_path, rank=16)
    wh.publish_set("als_fit", WEEK, _als_tables(rank=32), {"rank": 32})
    with pytest.raises(audio_cnn.AudioCnnError, match=r"rank-16 vectors, but this week's ALS \(fit \w+\) has rank 32"):
        audio_cnn.run_infer(config, WEEK)

    fit = wh.publish_set("als_fit", WEEK, _als_tables(rank=16), {"rank": 16})
    audio_cnn.run_infer(config, WEEK)
    frames, read_fit = wh.read_together(WEEK, ["item_factors", "track_vectors", "audio_vectors"])
    assert read_fit["fit_id"] == fit["fit_id"]
    assert {len(v) for v in frames["track_vectors"]["vector"]} == {16}
    assert set(frames["track_vectors"]["source"]) == {"als", "audio"}  # t08..t11 have audio and no ALS vector
    wh.publish_set("als_fit", WEEK, _als_tables(rank=16, seed=1), {"rank": 16})  # ALS reruns
    with pytest.raises(InconsistentInputError, match="rerun the audio_cnn infer job"):
        wh.read("track_vectors", WEEK)  # computed from the old fit: refused until infer runs again
