"""The one place a SparkSession is built, called only from job entry points.

Under ``spark-submit`` (the way the DAG runs every Spark job) the master, memory and
shipped code come from the submit command, so nothing here overrides them; when a job
is started with plain ``python -m jobs.<name>`` the ``spark`` section of the
configuration supplies them. Transforms never call this: they take a DataFrame.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from jobs.config import Config


def _under_spark_submit() -> bool:
    return "PYSPARK_GATEWAY_PORT" in os.environ or "SPARK_SUBMIT_OPTS" in os.environ


def session_conf(config: Config) -> dict[str, str]:
    """Settings every job runs with (UTC everywhere, bounded shuffles, quiet commits)."""
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.compression.codec": "zstd",
        # ISO timestamps with the UTC flag set, so pyarrow, pandas and DuckDB read the same instants
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
    }


def build_spark(config: Config, app_name: str) -> Any:
    """Create (or join, under spark-submit) the session for one job."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if not _under_spark_submit():
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(config.spark.master).config("spark.driver.memory", config.spark.driver_memory)
    for key, value in session_conf(config).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.spark.log_level)
    return spark
