"""Reading and writing one ``week=W`` partition of a table as a pandas frame.

:func:`read_week_table` reads a partition and, when a required one is not there, fails
with :class:`MissingTableError` naming the job that writes it. :func:`write_week_table`
casts the frame's columns to the table's Arrow schema from :mod:`schemas.tables` (a
missing or mistyped column fails here, before anything is visible), writes them to a
staging directory and swaps them in with :func:`jobs.common.atomic.publish_dir`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common.atomic import publish_dir, staging_dir
from jobs.common.paths import week_dir
from schemas.tables import arrow_schema


class MissingTableError(RuntimeError):
    """A table a job reads is not in the warehouse; the message names the path and what writes it."""


def read_week_table(warehouse: Path, name: str, week: str, required: bool = True) -> pd.DataFrame | None:
    """The ``week`` partition of table ``name``; ``None`` when it is missing and not ``required``."""
    path = week_dir(warehouse, name, week)
    if not path.exists():
        if required:
            raise MissingTableError(f"{path}: missing; run the job that writes {name} for {week} first")
        return None
    return pq.read_table(path).to_pandas()


def write_week_table(frame: pd.DataFrame, warehouse: Path, name: str, week: str) -> Path:
    """Replace the ``week`` partition of table ``name`` with ``frame``; returns the partition path."""
    schema = arrow_schema(name)
    target = week_dir(warehouse, name, week)
    stage = staging_dir(target)
    try:
        missing = [c for c in schema.names if c not in frame.columns]
        if missing:
            raise ValueError(f"{name}: frame lacks columns {missing}")
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        pq.write_table(table, stage / "part-0.parquet", compression="zstd")
        publish_dir(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return target
