"""The warehouse: the one place that knows where tables live and how they are read and written.

Layout under the warehouse root (contracts in :mod:`schemas.tables`)::

    <table>/week=YYYY-Www/part-0.parquet   a weekly table's partition
    plays/day=YYYY-MM-DD/*.parquet         the ingested plays, by day
    run_metrics/week=YYYY-Www/<job>.json   each job's counts and timings
    <table>/_staging-*, _old-*              a writer's unfinished output (readers skip ``_``; no ``=``
                                           in these names, which Spark would read as a partition)
    <table>/.lock-<partition>, .lock-<table>  the lock of a partition's or a whole table's writer
    discover_weekly/_pending-YYYY-Www/     the merged week waiting for the validate job

Every job reads and writes through a :class:`Warehouse`:

* :meth:`Warehouse.read` / :meth:`Warehouse.read_optional`: one missing-table rule. A
  required input that is missing raises :class:`MissingInputError` naming the path and
  the job that writes it; an optional one is ``None``.
* :meth:`Warehouse.write`: a pandas frame cast to the table's contract, published as one
  partition.
* :meth:`Warehouse.staged`: the staged-then-published context manager every writer uses.
  It holds an exclusive lock on the target (a second writer of the same partition waits,
  then fails clearly), yields an empty hidden folder, and swaps it in atomically only when
  the block ends without an error; on any error the folder is removed and the old
  partition stays.
* :meth:`Warehouse.staged_partitions`: the same for a writer of several ``column=value``
  partitions at once (Spark's ``partitionBy``), which can also remove partitions.
* :meth:`Warehouse.weeks`: the weeks a table holds; :meth:`Warehouse.partitions`: the
  values of any partition column (plays' days). :meth:`Warehouse.plays_before` /
  :meth:`Warehouse.plays_before_week`: every play before a cutoff; :func:`heard_pairs` and
  :func:`active_listeners` turn them into what each listener has heard and who is owed a
  playlist. :meth:`Warehouse.pending`: the week's table waiting for validation.
  :meth:`Warehouse.write_metrics` / :meth:`Warehouse.read_metrics`:
  the run metrics.

It is plain local-file-system code (pyarrow for Parquet); Spark jobs write their
DataFrames into the folder :meth:`Warehouse.staged` yields.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from jobs.common.atomic import (
    LOCK_TIMEOUT_S,
    clean_stale_staging,
    exclusive_lock,
    lock_file,
    publish_dir,
    staged,
    staging_dir,
    write_json_atomic,
)
from jobs.common.weeks import cutoff, parse_week

# Which job writes each table: named in the error when a reader finds it missing.
WRITERS = {
    "plays": "ingest",
    "quarantine": "ingest",
    "play_counts": "als",
    "user_factors": "als",
    "item_factors": "als",
    "als_metrics": "als",
    "spectrograms": "audio_features",
    "audio_attributes": "audio_features",
    "audio_rejects": "audio_features",
    "track_vectors": "audio_cnn infer",
    "pages": "crawl",
    "cultural_terms": "culture",
    "artist_similarity": "culture",
    "discover_weekly": "merge and validate",
    "offline_eval": "evaluate",
}


class MissingInputError(RuntimeError):
    """A table a job needs is not in the warehouse; the message says which job writes it."""


@dataclass(frozen=True)
class Warehouse:
    """The warehouse rooted at ``root`` (``paths.warehouse`` in the configuration)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # --- paths ------------------------------------------------------------------------
    def table_dir(self, name: str) -> Path:
        """Root folder of table ``name``."""
        return self.root / name

    def partition(self, name: str, week: str) -> Path:
        """The ``week=YYYY-Www`` partition of a weekly table (the week is checked)."""
        parse_week(week)
        return self.table_dir(name) / f"week={week}"

    def weeks(self, name: str, before: str | None = None, until: str | None = None) -> list[str]:
        """Sorted weeks table ``name`` holds, optionally only those ``< before`` / ``<= until``."""
        root = self.table_dir(name)
        if not root.is_dir():
            return []
        found = sorted(p.name[len("week=") :] for p in root.iterdir() if p.name.startswith("week=") and p.is_dir())
        return [w for w in found if (before is None or w < before) and (until is None or w <= until)]

    def partitions(self, name: str, column: str) -> list[str]:
        """Sorted values of the ``column=value`` partitions table ``name`` holds (e.g. plays' days)."""
        root = self.table_dir(name)
        if not root.is_dir():
            return []
        prefix = f"{column}="
        return sorted(p.name[len(prefix) :] for p in root.iterdir() if p.name.startswith(prefix) and p.is_dir())

    def has(self, name: str, week: str) -> bool:
        return self.partition(name, week).is_dir()

    def pending(self, week: str) -> Path:
        """Where the merge leaves the week's Discover Weekly table for the validate job (hidden from readers)."""
        parse_week(week)
        return self.table_dir("discover_weekly") / f"_pending-{week}"

    # --- reading ----------------------------------------------------------------------
    def missing(self, name: str, week: str | None = None) -> MissingInputError:
        """The error for a missing input: its path and the job to run first."""
        path = self.partition(name, week) if week else self.table_dir(name)
        writer = WRITERS.get(name, f"job that writes {name}")
        when = f" for {week}" if week else ""
        return MissingInputError(f"{path}: missing; run the {writer} job{when} first")

    def read(self, name: str, week: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Partition ``week`` of table ``name``; :class:`MissingInputError` when it is missing."""
        frame = self.read_optional(name, week, columns)
        if frame is None:
            raise self.missing(name, week)
        return frame

    def read_optional(self, name: str, week: str, columns: list[str] | None = None) -> pd.DataFrame | None:
        """Partition ``week`` of table ``name``, or ``None`` when the table has no such week."""
        path = self.partition(name, week)
        if not path.is_dir():
            return None
        return pq.read_table(path, columns=columns).to_pandas()

    def plays_before_week(self, week: str) -> pd.DataFrame:
        """Every play before ``week``'s cutoff (skips included): user_id, track_id, played_at."""
        return self.plays_before(cutoff(week))

    def plays_before(
        self, cutoff: dt.datetime, columns: tuple[str, ...] = ("user_id", "track_id", "played_at")
    ) -> pd.DataFrame:
        """Every ingested play strictly before ``cutoff`` (skips included)."""
        plays = self.table_dir("plays")
        if not plays.is_dir():
            raise MissingInputError(f"{plays}: missing; run the ingest job first")
        dataset = ds.dataset(plays, format="parquet", partitioning="hive", exclude_invalid_files=True)
        cut = pa.scalar(cutoff, type=pa.timestamp("us", tz="UTC"))
        return dataset.to_table(columns=list(columns), filter=ds.field("played_at") < cut).to_pandas()

    # --- writing ----------------------------------------------------------------------
    def lock(self, target: Path, lock_timeout: float = LOCK_TIMEOUT_S) -> AbstractContextManager[None]:
        """The lock :meth:`staged` holds on ``target``, for a writer that publishes by other means."""
        return exclusive_lock(lock_file(target), lock_timeout, str(target))

    def staged(self, target: Path, lock_timeout: float = LOCK_TIMEOUT_S) -> AbstractContextManager[Path]:
        """:func:`jobs.common.atomic.staged`: write into the yielded folder, published on success."""
        return staged(target, lock_timeout)

    @contextmanager
    def staged_partitions(
        self, name: str, column: str, drop: Iterable[str] = (), lock_timeout: float = LOCK_TIMEOUT_S
    ) -> Iterator[Path]:
        """Write several ``column=value`` partitions of table ``name`` as sub-folders of the yielded folder.

        Made for Spark's ``write.partitionBy(column)`` into the folder. When the block
        succeeds each ``column=value`` sub-folder replaces the table's partition of that
        name (each swap atomic; while they are swapped in, a reader may see some partitions
        new and others still old), the partitions whose values are in ``drop`` are removed,
        and every other partition stays as it was. One such writer per table at a time: it
        holds the lock that :meth:`staged` of the whole table folder takes, and first tidies
        what killed writers left in the table folder (:func:`clean_stale_staging`), so a
        table written this way is not also written partition by partition. When the block
        fails nothing is published or removed, and the folder is deleted (a failure while
        the partitions are swapped in keeps those swapped so far; a rerun does the rest).
        """
        root = self.table_dir(name)
        prefix = f"{column}="
        drop = sorted(set(drop))
        with exclusive_lock(lock_file(root), lock_timeout, str(root)):
            clean_stale_staging(root)
            stage = staging_dir(root / column)  # `_staging-<column>-<id>`: no `=`, so Spark skips it too
            try:
                yield stage
                parts = sorted(p.name for p in stage.iterdir() if p.is_dir() and p.name.startswith(prefix))
                both = sorted(set(parts) & {f"{prefix}{v}" for v in drop})
                if both:
                    raise ValueError(f"{root}: {both} both written and to be dropped")
                for part in parts:
                    publish_dir(stage / part, root / part)
                trash = stage / "_dropped"
                trash.mkdir()
                for value in drop:
                    if (root / f"{prefix}{value}").is_dir():
                        (root / f"{prefix}{value}").rename(trash / f"{prefix}{value}")  # atomic; removed below
            finally:
                shutil.rmtree(stage, ignore_errors=True)

    def write(self, name: str, week: str, frame: pd.DataFrame) -> Path:
        """Replace partition ``week`` of table ``name`` with ``frame`` cast to its contract."""
        from schemas.tables import arrow_schema

        schema = arrow_schema(name)
        missing = [c for c in schema.names if c not in frame.columns]
        if missing:
            raise ValueError(f"{name}: frame lacks columns {missing}")
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        target = self.partition(name, week)
        with self.staged(target) as stage:
            pq.write_table(table, stage / "part-0.parquet", compression="zstd")
        return target

    # --- run metrics ------------------------------------------------------------------
    def metrics_file(self, job: str, week: str) -> Path:
        """``run_metrics/week=W/<job>.json``."""
        return self.partition("run_metrics", week) / f"{job}.json"

    def write_metrics(self, job: str, week: str, metrics: dict[str, Any]) -> Path:
        path = self.metrics_file(job, week)
        write_json_atomic(path, metrics)
        return path

    def read_metrics(self, week: str) -> dict[str, dict[str, Any]]:
        """Every job's metrics of ``week`` by job name (empty when none were written)."""
        folder = self.partition("run_metrics", week)
        if not folder.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


# --- which run wrote a folder ----------------------------------------------------------------
RUN_FILE = "_run.json"  # readers skip names starting with "_"


def current_run_id() -> str:
    """This run's id: Airflow's DAG run id when a task runs under Airflow, else a fresh one."""
    return os.environ.get("AIRFLOW_CTX_DAG_RUN_ID") or f"manual__{uuid.uuid4().hex[:12]}"


def write_run_id(folder: Path, run_id: str) -> None:
    write_json_atomic(Path(folder) / RUN_FILE, {"run_id": run_id})


def read_run_id(folder: Path) -> str | None:
    """The run that wrote ``folder``, or ``None`` (no folder, or written before runs were recorded)."""
    path = Path(folder) / RUN_FILE
    return json.loads(path.read_text())["run_id"] if path.is_file() else None


# --- pure transforms of plays -------------------------------------------------------------
def heard_pairs(plays: pd.DataFrame) -> pd.DataFrame:
    """Distinct (user_id, track_id) of ``plays``: what each listener has heard, skips included."""
    return plays[["user_id", "track_id"]].drop_duplicates(ignore_index=True)


def active_listeners(plays: pd.DataFrame, cut: dt.datetime, window_weeks: int) -> set[str]:
    """Listeners with any play (skips included) in the ``window_weeks`` before ``cut``: who is owed a list."""
    window_start = pd.Timestamp(cut - dt.timedelta(weeks=window_weeks))
    return set(plays.loc[(plays["played_at"] >= window_start) & (plays["played_at"] < pd.Timestamp(cut)), "user_id"])
