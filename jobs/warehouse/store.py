"""The warehouse: the one place that knows where tables live and how they are read and written.

Layout under the warehouse root (contracts in :mod:`schemas.tables`)::

    <table>/week=YYYY-Www/part-0.parquet   a weekly table's partition
    plays/day=YYYY-MM-DD/*.parquet         the ingested plays, by day
    run_metrics/week=YYYY-Www/<job>.json   each job's counts and timings
    <table>/_staging-*, _old-*              a writer's unfinished output (readers skip ``_``; no ``=``
                                           in these names, which Spark would read as a partition)
    <table>/.lock-<partition>, .lock-<table>  the lock of a partition's or a whole table's writer
    discover_weekly/_pending-YYYY-Www/     the merged week waiting for the validate job
    <table>/week=YYYY-Www/_fit.json        the fit a partition of a set (or derived from one) belongs to
    als_fit/week=YYYY-Www/manifest.json    the week's ALS fit: its id, run, rank and row counts

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
* :meth:`Warehouse.staged_together`: several partitions published as one, all or none;
  :meth:`Warehouse.publish_set` writes the tables of a set (:data:`SETS`: ALS's four
  tables) that way, stamps each partition with the fit's id (``_fit.json``) and writes the
  set's manifest last. Every read of a set's table, or of a table derived from it
  (:data:`DERIVED`, stamped by ``write(..., fit=)``), checks its stamp against the week's
  manifest and its row count; :meth:`Warehouse.read_together` also checks that the tables
  one job reads share a fit, and :func:`check_one_rank` that their vectors share a length.
  A mismatch raises :class:`InconsistentInputError` naming the tables, the fit ids and the
  job to rerun. Partitions written before fits were recorded carry no stamp: with no
  manifest for the week they are read unchecked.
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
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from jobs.warehouse.atomic import (
    LOCK_TIMEOUT_S,
    clean_stale_staging,
    discard_dir,
    exclusive_lock,
    lock_file,
    publish_dir,
    staged,
    staging_dir,
    write_json_atomic,
)
from jobs.warehouse.lineage import UNRECORDED, StampError, current_digest, read_content, stamp_content
from jobs.warehouse.sets import FIT_FILE, MANIFEST, SET_OF, read_json, staged_together, write_stamp
from jobs.warehouse.weeks import cutoff, parse_week
from schemas.columns import PLAYED_AT, REASON, TRACK_ID, USER_ID, VECTOR
from schemas.tables import MADE_FROM, SETS, WRITERS

# Tables the merge leaves in the pending week beside the playlists and the validate job publishes
# with them, as one: what each shown row was (exposures) and what the bandit offered.
PUBLISHED_WITH_WEEK = ("exposures", "bandit_actions")

log = logging.getLogger("warehouse")


class MissingInputError(RuntimeError):
    """A table a job needs is not in the warehouse; the message says which job writes it."""


class InconsistentInputError(MissingInputError):
    """The tables a job reads do not come from one fit (or one rank): the matching partition is missing.

    A kind of missing input, so every job reports it as an expected error (one line, exit 2);
    the message names the tables, their fit ids and the job to rerun.
    """


@dataclass(frozen=True)
class Pending:
    """The merge's table for a week, waiting in the pending folder for the validate job."""

    table: pd.DataFrame  # the rows, with ``week``
    schema: pa.Schema  # as written in its files
    eligible: set[str]  # listeners who should have a playlist
    excluded: pd.DataFrame  # active listeners left out: user_id, reason


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

    def data_of(self, week: str) -> Path | None:
        """The data folder the published ``week`` of ``discover_weekly`` was built from, as recorded
        with it (``None``: not published, or published before it was recorded)."""
        path = self.partition("discover_weekly", week) / RUN_FILE
        try:
            info = read_json(path)
        except (ValueError, OSError):
            info = None
        if not isinstance(info, dict) or not isinstance(info.get("data"), str):
            if path.is_file():
                log.warning("%s: no readable data folder recorded; using the configured one", path)
            return None
        return Path(info["data"])

    def model_dir(self, model: str, week: str) -> Path:
        """Where a job keeps the week's trained ``model`` (e.g. ``models/audio_cnn/week=W``)."""
        parse_week(week)
        return self.table_dir("models") / model / f"week={week}"

    def write_pending(
        self,
        week: str,
        table: pd.DataFrame,
        eligible: Iterable[str],
        excluded: dict[str, str],
        run_id: str,
        data: Path | None = None,
        logs: dict[str, pd.DataFrame] | None = None,
    ) -> Path:
        """Leave the week's table, its eligible listeners and the active listeners left out (with why)
        in :meth:`pending`, atomically (contracts ``discover_weekly``, ``pending_eligible``,
        ``pending_excluded``). The folder and its table carry ``run_id`` and the ``data`` folder
        the week was built from (``_run.json``; :meth:`data_of`). ``logs``: tables published with
        the week (:data:`PUBLISHED_WITH_WEEK`: ``exposures``, ``bandit_actions``), each in its sub-folder."""
        from schemas.tables import arrow_schema

        target = self.pending(week)
        left_out = sorted(excluded.items())
        with self.staged(target) as stage:
            schema = arrow_schema("discover_weekly")
            (stage / "table").mkdir()
            pq.write_table(
                pa.Table.from_pandas(table[schema.names], schema=schema, preserve_index=False),
                stage / "table" / "part-0.parquet",
                compression="zstd",
            )
            pq.write_table(
                pa.table({USER_ID: sorted(eligible)}, schema=arrow_schema("pending_eligible")),
                stage / "eligible.parquet",
            )
            pq.write_table(
                pa.table(
                    {USER_ID: [u for u, _ in left_out], REASON: [r for _, r in left_out]},
                    schema=arrow_schema("pending_excluded"),
                ),
                stage / "excluded.parquet",
            )
            write_run_id(stage / "table", run_id, data)
            for name, frame in (logs or {}).items():
                if name not in PUBLISHED_WITH_WEEK:
                    raise ValueError(f"{name} is not published with the week ({PUBLISHED_WITH_WEEK})")
                (stage / name).mkdir()
                log_schema = arrow_schema(name)
                frame = frame.assign(week=week)
                pq.write_table(
                    pa.Table.from_pandas(frame[log_schema.names], schema=log_schema, preserve_index=False),
                    stage / name / "part-0.parquet",
                    compression="zstd",
                )
                write_run_id(stage / name, run_id, data)
            write_run_id(stage, run_id, data)
        return target

    def write_batches(self, name: str, week: str, batches: Iterable[dict[str, list[Any]]]) -> Path:
        """Publish ``name``'s ``week`` partition from column batches, one row group each, so a table
        too large to hold twice in memory (padded spectrograms) is written one batch at a time."""
        from schemas.tables import arrow_schema

        schema = arrow_schema(name)
        target = self.partition(name, week)
        with self.staged(target) as stage:
            with pq.ParquetWriter(stage / "part-0.parquet", schema, compression="zstd") as w:
                for batch in batches:
                    w.write_table(pa.Table.from_pydict(batch, schema=schema))
            stamp_content(stage)
        return target

    def read_batches(self, name: str, week: str) -> Iterator[dict[str, list[Any]]]:
        """``name``'s ``week`` partition as column batches (row groups), without reading it whole."""
        path = self.partition(name, week)
        if not path.exists():
            raise self.missing(name, week)
        for fragment in pq.ParquetDataset(path).fragments:
            for batch in fragment.to_batches():
                yield batch.to_pydict()

    def has_pending_table(self, week: str) -> bool:
        return (self.pending(week) / "table").is_dir()

    def read_pending(self, week: str) -> Pending:
        """The table the merge left for ``week`` (with ``week``), its schema as written, the eligible
        listeners and the ones left out (``user_id``, ``reason``)."""
        pending = self.pending(week)
        schema = pq.read_schema(next((pending / "table").glob("*.parquet"))).remove_metadata()
        table = pq.read_table(pending / "table").to_pandas()
        table["week"] = week
        eligible = set(pq.read_table(pending / "eligible.parquet").column(USER_ID).to_pylist())
        excluded_file = pending / "excluded.parquet"
        excluded = (
            pq.read_table(excluded_file).to_pandas()
            if excluded_file.exists()
            else pd.DataFrame(columns=[USER_ID, REASON])
        )
        return Pending(table, schema, eligible, excluded)

    def publish_pending(self, week: str) -> Path:
        """Swap the pending table in as ``discover_weekly/week=W`` (with the tables published with the week,
        :data:`PUBLISHED_WITH_WEEK`, as one: :meth:`staged_together`) and remove the pending folder.
        The caller holds the pending folder's lock (:meth:`lock`)."""
        pending = self.pending(week)
        target = self.partition("discover_weekly", week)
        logs = [n for n in PUBLISHED_WITH_WEEK if (pending / n).is_dir()]
        if not logs:  # a pending week written without logs: publish it, and drop an earlier run's logs
            publish_dir(pending / "table", target)
            for name in PUBLISHED_WITH_WEEK:
                stale = self.partition(name, week)
                if stale.exists():
                    with self.lock(stale):
                        discard_dir(stale)
        else:  # the logs first, the week itself last: all swapped in, or none (their files linked, not moved)
            sources = [pending / n for n in logs] + [pending / "table"]
            with self.staged_together([self.partition(n, week) for n in logs] + [target]) as stages:
                for source, stage in zip(sources, stages, strict=True):
                    shutil.copytree(source, stage, dirs_exist_ok=True, copy_function=os.link)
        self.discard_pending(week)
        return target

    def discard_pending(self, week: str) -> None:
        """Remove the week's pending folder (after a publish, or what an interrupted one left)."""
        discard_dir(self.pending(week))

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
        """Partition ``week`` of table ``name``, or ``None`` when the table has no such week.

        A table of a set, or derived from one, is checked against the week's fit
        (:meth:`check_fit`): :class:`InconsistentInputError` when it is from another one.
        """
        return self._read(name, week, columns)[0]

    def _read(self, name: str, week: str, columns: list[str] | None) -> tuple[pd.DataFrame | None, dict | None]:
        path = self.partition(name, week)
        if not path.is_dir():
            return None, None
        frame = pq.read_table(path, columns=columns).to_pandas()
        self.check_lineage(name, week)
        return frame, self.check_fit(name, week, len(frame))

    def read_together(
        self, week: str, names: Sequence[str], optional: Sequence[str] = ()
    ) -> tuple[dict[str, pd.DataFrame | None], dict[str, Any] | None]:
        """Partition ``week`` of each table (``names`` required, ``optional`` may be missing) and their one fit.

        Besides each read's own check, the tables must share one fit id (or all have
        none), else :class:`InconsistentInputError` naming each table's fit. Returns the
        frames by name and the fit (``None`` for tables written before fits were recorded).
        """
        frames, fits = {}, {}
        for name in [*names, *optional]:
            frame, fit = self._read(name, week, None)
            if frame is None and name in names:
                raise self.missing(name, week)
            frames[name] = frame
            if frame is not None:
                fits[name] = fit
        if len({(f or {}).get("fit_id") for f in fits.values()}) > 1:
            found = ", ".join(f"{n} from fit {(f or {}).get('fit_id', 'none')}" for n, f in fits.items())
            raise InconsistentInputError(
                f"{week}: the tables are not from one fit ({found}); rerun the als job for {week}, then the jobs after it"
            )
        fit = next(iter(fits.values()), None)
        return frames, ({k: v for k, v in fit.items() if k != "rows"} if fit else None)

    # --- fits: sets of tables published as one ----------------------------------------
    def manifest(self, set_name: str, week: str) -> dict[str, Any] | None:
        """The week's manifest of set ``set_name`` (its fit), or ``None`` when none was completed."""
        return read_json(self.partition(set_name, week) / MANIFEST)

    def check_fit(self, name: str, week: str, rows: int | None = None) -> dict[str, Any] | None:
        """The fit partition ``week`` of ``name`` belongs to, checked against the week's manifest.

        Raises :class:`InconsistentInputError` when the partition is from another fit than
        the manifest names, has no stamp though the week has a manifest (written outside
        the fit, or copied in), has a stamp but the fit was never completed (no manifest),
        or holds another number of rows than its fit recorded. ``None``: a table outside
        every set, or one written before fits were recorded (no stamp, no manifest).
        """
        path = self.partition(name, week)
        stamp = read_json(path / FIT_FILE)
        set_name = stamp["set"] if stamp else SET_OF.get(name)
        if set_name is None:
            return None
        manifest = self.manifest(set_name, week)
        where = self.partition(set_name, week) / MANIFEST
        rerun = f"rerun the {WRITERS.get(name, 'job that writes ' + name)} job for {week}"
        if stamp is None and manifest is None:
            return None
        if stamp is None:
            raise InconsistentInputError(
                f"{path}: no fit id, but the week's fit is {manifest['fit_id']} ({where}): "
                f"written outside the fit or copied in; {rerun}"
            )
        if manifest is None:
            raise InconsistentInputError(
                f"{path}: from fit {stamp['fit_id']}, which was never completed (no {where}); {rerun}"
            )
        if stamp["fit_id"] != manifest["fit_id"]:
            raise InconsistentInputError(
                f"{name} {week} is from fit {stamp['fit_id']} (rank {stamp.get('rank')}), but the week's fit is "
                f"{manifest['fit_id']} (rank {manifest.get('rank')}, {where}): tables of two fits are never read "
                f"together; {rerun}"
            )
        if rows is not None and stamp.get("rows") != rows:
            raise InconsistentInputError(
                f"{path}: {rows} rows, but fit {stamp['fit_id']} wrote {stamp.get('rows')}: changed after the fit; {rerun}"
            )
        return stamp

    # --- lineage: which contents of another table's week a table was computed from ----------
    def digest(self, name: str, week: str) -> str | None:
        """Partition ``week`` of ``name`` as it is now, for a writer to record what it read:
        its content digest, ``None`` when the week has none (:mod:`jobs.warehouse.lineage`)."""
        try:
            return current_digest(self.partition(name, week))
        except StampError as exc:
            raise InconsistentInputError(f"{exc}; rerun the {WRITERS.get(name, name)} job for {week}") from None

    def check_lineage(self, name: str, week: str) -> None:
        """Refuse partition ``week`` of ``name`` when an upstream partition it was computed from
        (its contract's ``made_from``) has been rewritten with other contents, or removed or
        added, since: :class:`InconsistentInputError` naming the job to rerun. A partition
        written before lineage was recorded is not checked."""
        upstream = MADE_FROM.get(name)
        try:
            content = read_content(self.partition(name, week)) if upstream else None
        except StampError as exc:
            raise InconsistentInputError(f"{exc}; rerun the {WRITERS.get(name, name)} job for {week}") from None
        if not content:
            return
        recorded = content.get("made_from", {})
        for up in upstream:
            then, now = recorded.get(up, UNRECORDED), self.digest(up, week)
            if then == now:
                continue
            was = f"contents {then}" if then else "no partition"
            is_ = f"contents {now}" if now else "gone"
            raise InconsistentInputError(
                f"{name} {week} was computed from {up} {week} with {was}, but {up} {week} is now {is_} "
                f"({self.partition(up, week)}): rerun since, so {name} no longer matches it; "
                f"rerun the {WRITERS.get(name, 'job that writes ' + name)} job for {week}"
            )

    def plays_before_week(self, week: str) -> pd.DataFrame:
        """Every play before ``week``'s cutoff (skips included): user_id, track_id, played_at."""
        return self.plays_before(cutoff(week))

    def spark_plays_before(self, spark: Any, cutoff: dt.datetime) -> Any:
        """The ``plays`` table before ``cutoff`` as a Spark DataFrame (the session is the caller's)."""
        from pyspark.sql import functions as F

        plays = self.table_dir("plays")
        if not plays.is_dir():
            raise MissingInputError(f"{plays}: missing; run the ingest job first")
        return spark.read.parquet(str(plays)).filter(F.col(PLAYED_AT) < F.lit(cutoff))

    def plays_before(
        self, cutoff: dt.datetime, columns: tuple[str, ...] = (USER_ID, TRACK_ID, PLAYED_AT)
    ) -> pd.DataFrame:
        """Every ingested play strictly before ``cutoff`` (skips included)."""
        plays = self.table_dir("plays")
        if not plays.is_dir():
            raise MissingInputError(f"{plays}: missing; run the ingest job first")
        dataset = ds.dataset(plays, format="parquet", partitioning="hive", exclude_invalid_files=True)
        cut = pa.scalar(cutoff, type=pa.timestamp("us", tz="UTC"))
        return dataset.to_table(columns=list(columns), filter=ds.field(PLAYED_AT) < cut).to_pandas()

    # --- writing ----------------------------------------------------------------------
    def lock(self, target: Path, lock_timeout: float = LOCK_TIMEOUT_S) -> AbstractContextManager[None]:
        """The lock :meth:`staged` holds on ``target``, for a writer that publishes by other means."""
        return exclusive_lock(lock_file(target), lock_timeout, str(target))

    def staged(self, target: Path, lock_timeout: float = LOCK_TIMEOUT_S) -> AbstractContextManager[Path]:
        """:func:`jobs.warehouse.atomic.staged`: write into the yielded folder, published on success."""
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

    def staged_together(
        self, targets: Sequence[Path], last: Callable[[], None] | None = None, lock_timeout: float = LOCK_TIMEOUT_S
    ) -> AbstractContextManager[list[Path]]:
        """:func:`jobs.warehouse.sets.staged_together`: several folders published as one, all or none."""
        return staged_together(targets, last, lock_timeout)

    def publish_set(
        self, set_name: str, week: str, frames: dict[str, pd.DataFrame], info: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Publish the week's partitions of every table of ``set_name`` as one fit; returns its manifest.

        Each frame is cast to its contract and written to a staging folder with a
        ``_fit.json`` stamp (the fit: a fresh ``fit_id``, ``info`` such as the run id and
        rank, its own row count); all are swapped in together (:meth:`staged_together`),
        and the manifest (``<set_name>/week=W/manifest.json``: the fit and every table's
        row count) is written last. Any failure before that leaves the old set and manifest.
        """
        if sorted(frames) != sorted(SETS[set_name]):
            raise ValueError(f"{set_name}: tables {sorted(frames)}, expected {sorted(SETS[set_name])}")
        tables = {name: _to_contract(name, frame) for name, frame in frames.items()}
        fit = {"set": set_name, "fit_id": uuid.uuid4().hex[:12], "week": week, **(info or {})}
        manifest = {**fit, "tables": {name: table.num_rows for name, table in tables.items()}}
        targets = [self.partition(name, week) for name in tables]
        last = lambda: write_json_atomic(self.partition(set_name, week) / MANIFEST, manifest)  # noqa: E731
        with self.staged_together(targets, last) as stages:
            for table, stage in zip(tables.values(), stages, strict=True):
                _write_partition(stage, table, fit)
        return manifest

    def write(
        self,
        name: str,
        week: str,
        frame: pd.DataFrame,
        fit: dict[str, Any] | None = None,
        extra: Callable[[Path], None] | None = None,
        made_from: dict[str, str | None] | None = None,
    ) -> Path:
        """Replace partition ``week`` of table ``name`` with ``frame`` cast to its contract.

        ``fit``: the fit of the set the table was computed from (:meth:`read_together`), so
        that readers can check it (a table of :data:`DERIVED`). ``extra(folder)`` writes more
        files into the staged partition, published with it in the same swap (name them
        ``_...``: table readers skip such files), e.g. the Annoy index beside ``song_vectors``.
        ``made_from``: for a table whose contract names ``made_from``, the :meth:`digest` of
        each of those tables' partition as it was read (checked by :meth:`check_lineage`)."""
        table = _to_contract(name, frame)
        needed = set(MADE_FROM.get(name, ()))
        if set(made_from or {}) != needed:
            raise ValueError(
                f"{name}: made_from must give the digests of {sorted(needed)}, got {sorted(made_from or {})}"
            )
        target = self.partition(name, week)
        with self.staged(target) as stage:
            _write_partition(stage, table, fit, made_from)
            if extra is not None:
                extra(stage)
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
        out = {}
        for path in sorted(folder.glob("*.json")):
            try:
                out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise MissingInputError(
                    f"{path}: not valid JSON ({exc}); rerun the {path.stem} job for {week}, or delete the file"
                ) from None
        return out


def _to_contract(name: str, frame: pd.DataFrame) -> pa.Table:
    from schemas.tables import arrow_schema

    schema = arrow_schema(name)
    missing = [c for c in schema.names if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: frame lacks columns {missing}")
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def _write_partition(
    folder: Path, table: pa.Table, fit: dict[str, Any] | None, made_from: dict[str, str | None] | None = None
) -> None:
    pq.write_table(table, folder / "part-0.parquet", compression="zstd")
    if fit is not None:
        write_stamp(folder, fit, table.num_rows)
    stamp_content(folder, made_from)


def check_one_rank(week: str, frames: dict[str, pd.DataFrame | None]) -> int | None:
    """The one length of the ``vector`` column of every frame (``None`` when none has rows).

    Vectors of one latent space share a rank: :class:`InconsistentInputError` names each
    table's lengths otherwise, blaming the tables whose lengths differ from the first one's.
    """
    lengths = {
        name: sorted({len(v) for v in frame[VECTOR]})
        for name, frame in frames.items()
        if frame is not None and len(frame)
    }
    if not lengths:
        return None
    first = next(iter(lengths.values()))
    if len(first) == 1 and all(v == first for v in lengths.values()):
        return first[0]
    found = ", ".join(f"{name} {'/'.join(map(str, v))}" for name, v in lengths.items())
    odd = [name for name, v in lengths.items() if v != first or len(v) > 1]
    rerun = ", ".join(dict.fromkeys(WRITERS.get(name, name) for name in odd))
    raise InconsistentInputError(
        f"{week}: vectors of different lengths ({found}) are not one latent space; rerun {rerun} for {week}"
    )


# --- which run wrote a folder ----------------------------------------------------------------
RUN_FILE = "_run.json"  # readers skip names starting with "_"


def current_run_id() -> str:
    """This run's id: Airflow's DAG run id when a task runs under Airflow, else a fresh one."""
    return os.environ.get("AIRFLOW_CTX_DAG_RUN_ID") or f"manual__{uuid.uuid4().hex[:12]}"


def write_run_id(folder: Path, run_id: str, data: Path | None = None) -> None:
    """``_run.json``: the run that wrote ``folder`` and, when given, the data folder it read (absolute)."""
    info = {"run_id": run_id} | ({"data": str(Path(data).resolve())} if data is not None else {})
    write_json_atomic(Path(folder) / RUN_FILE, info)


def read_run_id(folder: Path) -> str | None:
    """The run that wrote ``folder``, or ``None`` (no folder, or written before runs were recorded)."""
    path = Path(folder) / RUN_FILE
    return json.loads(path.read_text())["run_id"] if path.is_file() else None


# --- pure transforms of plays -------------------------------------------------------------
def heard_pairs(plays: pd.DataFrame) -> pd.DataFrame:
    """Distinct (user_id, track_id) of ``plays``: what each listener has heard, skips included."""
    return plays[[USER_ID, TRACK_ID]].drop_duplicates(ignore_index=True)


def active_listeners(plays: pd.DataFrame, cut: dt.datetime, window_weeks: int) -> set[str]:
    """Listeners with any play (skips included) in the ``window_weeks`` before ``cut``: who is owed a list."""
    window_start = pd.Timestamp(cut - dt.timedelta(weeks=window_weeks))
    return set(plays.loc[(plays[PLAYED_AT] >= window_start) & (plays[PLAYED_AT] < pd.Timestamp(cut)), USER_ID])
