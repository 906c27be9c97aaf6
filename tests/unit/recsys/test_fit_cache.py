"""The ALS fit cache: its key sees every rating and no row order, its entries give back the factors
exactly, and a week's evaluation reads back the fit of the week before with the tables unchanged."""

import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.recsys import fit_cache
from jobs.recsys.fit_cache import fit_version

RATED = pd.DataFrame(
    {
        "user_id": ["u0", "u0", "u1", "u2", "u2", "u3"],
        "track_id": ["t0", "t1", "t1", "t0", "t2", "t2"],
        "rating": [0.69, 1.1, 0.69, 1.39, -0.35, 0.69],
    }
)


def _key(spark, rated, partitions=1):
    frame = spark.createDataFrame(rated).repartition(partitions)
    return fit_cache.ratings_key(frame.filter("rating > 0"), frame)


@pytest.mark.spark
def test_the_key_ignores_row_order_and_partitions_and_sees_every_change(spark):
    key = _key(spark, RATED)
    assert len(key) == 64
    assert _key(spark, RATED.iloc[::-1], partitions=3) == key  # same rows, another order and layout
    changed = RATED.copy()
    changed.loc[4, "rating"] = -0.34999999  # one rating, in its last digits
    swapped = RATED.copy()
    swapped.loc[[0, 1], "track_id"] = ["t1", "t0"]  # the same tracks and values on other pairs
    swapped.loc[[0, 1], "rating"] = [0.69, 1.1]
    assert len({key, _key(spark, changed), _key(spark, RATED.iloc[1:]), _key(spark, swapped)}) == 4


def test_an_entry_gives_back_the_factors_bit_for_bit():
    rng = np.random.default_rng(0)
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "vector": list(rng.normal(size=(3, 4)).astype(np.float32))})
    items = pd.DataFrame({"track_id": ["t1", "t2"], "vector": list(rng.normal(size=(2, 4)).astype(np.float32))})
    back_users, back_items = fit_cache.decode_factors(fit_cache.encode_factors(users, items))
    for before, after in ((users, back_users), (items, back_items)):
        assert after.columns.tolist() == before.columns.tolist()
        assert after.iloc[:, 0].tolist() == before.iloc[:, 0].tolist()
        stacked = np.stack(after["vector"].to_numpy())
        assert stacked.dtype == np.float32 and np.array_equal(stacked, np.stack(before["vector"].to_numpy()))


@pytest.mark.slow
@pytest.mark.spark
def test_the_evaluation_reads_back_last_weeks_fit_and_no_table_changes(spark, tmp_path):
    from jobs import als as als_stage
    from tests.conftest import make_config
    from tests.integration.test_als_consistency import TABLES, WEEK, _normal_plays, _world

    config = _world(tmp_path / "cached", _normal_plays())
    last = als_stage.run(spark, config, "2026-W46")
    assert last["fit_cache"]["fit"] == "miss"
    this = als_stage.run(spark, config, WEEK)
    # the evaluation's window is last week's window: the same ratings, read back, not fitted
    assert this["fit_cache"] == {"fit": "miss", "evaluation": "hit"}
    assert "als" in this["evaluation"]
    again = als_stage.run(spark, config, WEEK)  # a rerun of the week, its step not reused: both read back
    assert again["fit_cache"] == {"fit": "hit", "evaluation": "hit"}

    shutil.copytree(tmp_path / "cached" / "data", tmp_path / "plain" / "data")
    shutil.copytree(config.paths.warehouse / "plays", tmp_path / "plain" / "wh" / "plays")
    plain = make_config(
        tmp_path / "plain" / "data",
        tmp_path / "plain" / "wh",
        als={**{k: getattr(config.als, k) for k in ("rank", "max_iter", "window_weeks")}, "cache": False},
    )
    fitted = als_stage.run(spark, plain, WEEK)
    assert fitted["fit_cache"] == {"fit": "off", "evaluation": "off"}
    assert not (plain.paths.cache / "als").exists()
    assert fitted["evaluation"] == this["evaluation"] == again["evaluation"]
    assert fitted["references"] == this["references"]
    for name in TABLES:
        read = [pq.read_table(c.paths.warehouse / name / f"week={WEEK}").to_pandas() for c in (config, plain)]
        pd.testing.assert_frame_equal(read[0], read[1], check_exact=True, obj=name)


def test_the_version_names_what_shapes_a_fit_and_nothing_else():
    from jobs.config import AlsConf

    base = AlsConf()
    # the window and the weights change the ratings (the key); the evaluation's settings change no fit
    same = base.model_copy(update={"eval_k": 10, "eval_max_users": 9, "window_weeks": 4, "cache": False})
    assert fit_version(base) == fit_version(same)
    changes = ({"rank": 16}, {"max_iter": 5}, {"reg_param": 0.2}, {"alpha": 2.0}, {"seed": 7}, {"num_blocks": 3})
    for change in (*changes, {"checkpoint_interval": 2}):
        assert fit_version(base.model_copy(update=change)) != fit_version(base), change


@pytest.mark.spark
def test_a_fit_is_stored_read_back_refitted_when_its_entry_is_unreadable_and_skipped_without_a_folder(spark, tmp_path):
    from jobs.config import AlsConf

    calls = []
    users = pd.DataFrame({"user_id": ["u0", "u1"], "vector": [np.ones(2, np.float32), np.zeros(2, np.float32)]})
    items = pd.DataFrame({"track_id": ["t0"], "vector": [np.full(2, 0.5, np.float32)]})

    def fit(counts, conf, rated):
        calls.append(conf.rank)
        return users, items

    rated = spark.createDataFrame(RATED)
    counts = rated.filter("rating > 0")
    cached = fit_cache.CachedFit(fit, tmp_path)
    first, second = cached(counts, AlsConf(), rated), cached(counts, AlsConf(), rated)
    assert cached.outcomes == ["miss", "hit"] and len(calls) == 1
    for got in (first, second):
        pd.testing.assert_frame_equal(got[0], users)
        pd.testing.assert_frame_equal(got[1], items)
    (entry,) = tmp_path.rglob("*.parquet")
    entry.write_bytes(b"not parquet")  # a torn or foreign file: fitted again and stored again
    cached(counts, AlsConf(), rated)
    assert cached.outcomes[-1] == "miss" and len(calls) == 2 and entry.read_bytes()[:4] == b"PAR1"
    cached(counts, AlsConf(rank=8), rated)  # another setting: another version folder
    assert cached.outcomes[-1] == "miss" and len(list(tmp_path.rglob("*.parquet"))) == 2
    plain = fit_cache.CachedFit(fit, None)
    plain(counts, AlsConf(), rated)
    assert plain.outcomes == [] and len(calls) == 4
