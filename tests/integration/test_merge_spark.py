"""``merge.engine: spark``: the playlists computed by mapInPandas over blocks of listeners are the local engine's,
row for row, for every arm (the bandit's candidates with their options included); ``merge.workers``: the local
engine's blocks on forked processes give the one-process table exactly."""

import numpy as np
import pandas as pd
import pytest

from jobs import als, ingest
from jobs.merge import job as merge_job
from jobs.merge import spark_engine
from tests.conftest import make_config

WEEK = "2026-W47"

pytestmark = [pytest.mark.slow, pytest.mark.spark]


@pytest.fixture(scope="module")
def config(spark, tiny_world, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("merge-spark") / "warehouse"
    base = make_config(tiny_world, warehouse)
    ingest.run(spark, base, WEEK)
    als.run(spark, base, WEEK)
    return make_config(
        tiny_world, warehouse, experiment={"arms": ["als", "blend", "bart", "random"]}, merge={"spark_block": 7}
    )


def _same_up_to_blas(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same rows; the bandit's float32 feature vectors to 1e-4 relative. Spark's blocks hold
    ``merge.spark_block`` listeners, the local engine's more, and BLAS tiles a product by its rows,
    which moves a normalised score's last digits (seen: 0.0012594834 against 0.0012594685), never
    which tracks a playlist holds."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    vectors = [c for c in ("features",) if c in a.columns]
    pd.testing.assert_frame_equal(a.drop(columns=vectors), b.drop(columns=vectors))
    for column in vectors:
        x, y = np.stack(a[column].to_numpy()), np.stack(b[column].to_numpy())
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-7)


def test_the_spark_engine_gives_the_local_engines_table_and_exposures(spark, config, monkeypatch):
    local = merge_job.build_table(config, WEEK)
    # the newest job id (the tracker keeps only the last spark.ui.retainedJobs jobs: not their count)
    last_job = max(spark.sparkContext.statusTracker().getJobIdsForGroup(), default=-1)
    listeners = []
    real = spark_engine.spark_playlists

    def counted(*args, **kwargs):
        out = real(*args, **kwargs)
        listeners.append(len(out))
        return out

    monkeypatch.setattr(spark_engine, "spark_playlists", counted)
    on_spark = merge_job.build_table(config, WEEK, spark)
    # every arm's playlists came from Spark jobs, not the local blocks
    assert sum(listeners) >= local.counts["personal"] > 50 and len(listeners) >= 3
    assert max(spark.sparkContext.statusTracker().getJobIdsForGroup(), default=-1) > last_job
    assert len(local.table) > 1000 and set(local.exposures["policy"]) >= {"als", "blend", "bart", "random"}
    pd.testing.assert_frame_equal(on_spark.table, local.table)
    _same_up_to_blas(on_spark.exposures, local.exposures)
    _same_up_to_blas(on_spark.actions, local.actions)  # the bandit's offered actions, from the candidates' options
    assert on_spark.eligible == local.eligible and on_spark.excluded == local.excluded


def test_the_merge_job_runs_on_spark_when_configured(config, monkeypatch, spark):
    spark_config = config.model_copy(update={"merge": config.merge.model_copy(update={"engine": "spark"})})
    sessions, blocks = [], []
    real = spark_engine.spark_playlists

    def session(_config, name, fn):  # the session fixture's, in place of a new one
        sessions.append(name)
        return fn(spark)

    def counted(*args, **kwargs):
        out = real(*args, **kwargs)
        blocks.append(len(out))
        return out

    monkeypatch.setattr(merge_job, "with_spark", session)
    monkeypatch.setattr(spark_engine, "spark_playlists", counted)
    counts = merge_job.run(spark_config, WEEK)
    assert sessions == ["dw-merge"] and sum(blocks) >= counts["personal"] > 50  # the playlists came from Spark
    assert counts["engine"] == "spark" and counts["rows"] == len(merge_job.build_table(config, WEEK).table)


def test_the_local_engine_on_two_workers_gives_one_process_table_bit_for_bit(config, monkeypatch):
    """``merge.workers: 2`` (blocks of 9 listeners, so the tiny world has many) against ``merge.workers: 1``
    with the same blocks: every arm, the exposures and the bandit's actions, exactly."""
    from jobs.recsys import playlists as playlists_module
    from jobs.recsys import pool

    monkeypatch.setattr(playlists_module, "block_size", lambda _items: 9)
    monkeypatch.setattr(pool, "block_size", lambda _items: 9)
    pools = []
    real = pool.ProcessPoolExecutor

    def counted(*args, **kwargs):
        pools.append(args[0] if args else kwargs["max_workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pool, "ProcessPoolExecutor", counted)

    def with_workers(n):
        return config.model_copy(update={"merge": config.merge.model_copy(update={"workers": n})})

    one = merge_job.build_table(with_workers(1), WEEK)
    assert pools == []
    two = merge_job.build_table(with_workers(2), WEEK)
    assert len(pools) >= 3 and set(pools) == {2}  # every arm's playlists (and the cluster figures') on the pool
    assert len(one.table) > 1000 and set(one.exposures["policy"]) >= {"als", "blend", "bart", "random"}
    pd.testing.assert_frame_equal(two.table, one.table, check_exact=True)
    pd.testing.assert_frame_equal(two.exposures, one.exposures, check_exact=True)
    pd.testing.assert_frame_equal(two.actions, one.actions, check_exact=True)
    assert two.eligible == one.eligible and two.excluded == one.excluded and two.counts == one.counts
