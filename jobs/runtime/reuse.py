"""A week's step reuses its outputs when nothing it is computed from changed.

A rerun of a week used to recompute every step. Now each weekly step of the DAG (:data:`STEPS`)
gets a *key* before it runs: the SHA-256 of

* the step, its arguments and the week;
* the configuration, but for how tasks run (``dag``; Spark's master, memory and log level),
  where a job computes (the ``engine`` of ``merge``, ``sequence``, ``audio`` and ``culture``,
  with ``merge.spark_block`` and ``merge.workers``: either engine leaves the same tables, so switching one reuses the
  week; its run metrics then name the engine that computed it) and where outputs and caches
  live (``paths.warehouse``, ``paths.checkpoints``, ``paths.cache``);
* the code: the source of every module of ``jobs`` and ``schemas``, the Python version and the
  installed distributions' versions;
* the input folder (``paths.data``): every file's path, size and modification time;
* the warehouse's earlier weeks: every ``<table>/week=V`` and ``models/<m>/week=V`` folder with
  ``V`` before the week, by content (:func:`folder_digest`);
* each upstream step of the week (the DAG's edges): the key in its stamp and its output folders
  as they are now, so a step's key covers everything upstream of it, and an upstream output
  changed by hand counts as a change.

When the step finishes (done or skipped) it writes its stamp,
``<warehouse>/_steps/week=W/<step>.json``: the key, the digest of each output folder of the
week it owns (:attr:`Step.outputs`; an absent folder is recorded as absent) and the run
metrics it returned. The next run of the week compares: the same key and every output
folder still as recorded means the step's outputs are what it would compute again (the
steps are deterministic), so it writes the recorded metrics with ``reused`` added and exits
at once, with the same exit code (a skip stays a skip). Anything else (no stamp, another
key, an output changed or deleted by hand, ``dag.reuse: false``) runs the step, which first
removes its stamp; a failed run leaves none.

Steps that read the world outside the warehouse each time (``crawl``: the web) or publish
the week (``merge``, ``validate``, ``report``) always run. The crawl's pages carry their fetch
time, and culture's tables record the pages' digest as their lineage, so culture (1.7 s on the
sample, its page cache warm) and the AH-DQN after it run again after every crawl. Run metrics, reports, ``_run.json`` (which
run wrote a partition) and hidden names are not content. Deleting ``_steps`` (or the
whole warehouse) makes the next run compute everything; the caches under ``paths.cache``
are independent of this.

Reads the configuration, the code, ``paths.data`` and the warehouse; writes only the stamps.
Used by :func:`jobs.runtime.cli.week_job`; nothing to run alone.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jobs.config import Config
from jobs.warehouse.atomic import write_json_atomic
from jobs.warehouse.cache import sha256_file
from jobs.warehouse.sets import read_json
from jobs.warehouse.store import Warehouse
from jobs.warehouse.weeks import week_start

log = logging.getLogger(__name__)

STAMPS = "_steps"
FORMAT = 1  # the stamp's format: a new one makes every step run once
NOT_CONTENT = {"_run.json"}  # which run wrote a partition, not what it holds
NOT_INPUTS = {"run_metrics", "reports"}  # written for people; no step reads them
# how tasks run and where the outputs and caches live: not what a step computes (a warehouse
# moved with its stamps, e.g. `cp -a`, keeps its steps reusable)
NOT_SETTINGS: dict[str, Any] = {
    "dag": True,
    "paths": {"warehouse", "checkpoints", "cache"},
    "spark": {"master", "driver_memory", "executor_memory", "log_level"},  # the cluster test: same tables
    # where a job computes: each engine leaves the same tables (the engines' tests compare them);
    # whether a cache saves work: the same tables with it and without (the caches' tests)
    "merge": {"engine", "spark_block", "workers"},
    "sequence": {"engine"},
    "ingest": {"cache"},
    "als": {"cache"},
    "audio": {"engine", "cache"},
    "culture": {"engine", "cache"},
}


@dataclass(frozen=True)
class Step:
    """A weekly step: its DAG task, the steps of the week it reads, the week's folders it writes."""

    task: str
    upstream: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # "<table>" or "models/<model>": their week=W folders; "plays": ingest's days
    reusable: bool = True


# By the name of the step's run metrics (jobs.runtime.cli.week_job's ``metrics``). The upstream
# steps are the DAG's edges (tests/integration/test_dag.py checks them against dags/discover_weekly.py).
STEPS: dict[str, Step] = {
    "ingest": Step("ingest", (), ("plays", "saves", "quarantine")),
    "als": Step("als", ("ingest",), ("play_counts", "user_factors", "item_factors", "als_metrics", "als_fit")),
    "audio_features": Step("audio_features", (), ("spectrograms", "audio_attributes", "audio_rejects")),
    "audio_cnn": Step("audio_train", ("als", "audio_features"), ("models/audio_cnn",)),
    "audio_infer": Step("audio_infer", ("audio_cnn",), ("track_vectors", "audio_vectors")),
    "audio_eval": Step("audio_eval", ("als", "audio_features")),  # its run metrics only
    "crawl": Step("crawl", (), ("pages",), reusable=False),
    "culture": Step("culture", ("crawl",), ("cultural_terms", "artist_similarity")),
    "song_vectors": Step("song_vectors", ("ingest",), ("song_vectors",)),
    "taste_vectors": Step("taste_vectors", ("song_vectors",), ("taste_vectors", "models/taste_rnn")),
    "taste_clusters": Step("taste_clusters", ("audio_infer",), ("taste_clusters",)),
    "bandit": Step("bandit", ("ingest",), ("bandit_model",)),
    "listener_models": Step("listener_models", ("als", "audio_infer", "taste_vectors"), ("models/listener_models",)),
    "ahdqn": Step("ahdqn", ("listener_models", "taste_clusters", "culture"), ("models/ahdqn",)),
}


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def folder_digest(folder: Path) -> str | None:
    """What a warehouse folder holds (``None``: absent).

    A folder whose writer stamped its content (``_content.json``, plays' ``_fingerprint``) is
    its stamps' bytes plus its data files' names and sizes; any other folder (a model, the
    quarantine) is every file's bytes. Lock files, hidden names and :data:`NOT_CONTENT` are left out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name not in NOT_CONTENT
    )
    stamped = any(p.name in ("_content.json", "_fingerprint") and p.parent == folder for p in files)
    parts = []
    for p in files:
        rel = p.relative_to(folder).as_posix()
        if stamped and not p.name.startswith("_"):
            parts.append((rel, p.stat().st_size))
        else:
            parts.append((rel, sha256_file(p)))
    return _sha(parts)[:32]


@cache
def code_digest() -> str:
    """The source of every module of ``jobs`` and ``schemas`` (from files or Spark's code zip),
    the Python version and every installed distribution's version."""
    digest = hashlib.sha256(sys.version.encode())
    for package in ("jobs", "schemas"):
        stack = [importlib.resources.files(package)]
        found = []
        while stack:
            node = stack.pop()
            for child in node.iterdir():
                if child.is_dir() and child.name != "__pycache__":
                    stack.append(child)
                elif child.name.endswith(".py"):
                    found.append((str(child)[len(str(importlib.resources.files(package))) :], child))
        for rel, child in sorted(found, key=lambda pair: pair[0]):
            digest.update(f"{package}{rel}\0".encode() + child.read_bytes())
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    digest.update("\0".join(dists).encode())
    return digest.hexdigest()


def inputs_digest(data: Path) -> str:
    """Every file under the input folder: path, size and modification time (as make judges a source)."""
    data = Path(data)
    listing = []
    for root, dirs, files in os.walk(data):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            st = path.stat()
            listing.append((path.relative_to(data).as_posix(), st.st_size, st.st_mtime_ns))
    return _sha(str(data), listing)


def earlier_weeks_digest(wh: Warehouse, week: str) -> str:
    """Every week-partitioned folder of the warehouse before ``week``, by content."""
    entries = []
    if wh.root.is_dir():
        tables = [p for p in wh.root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
        models = wh.root / "models"
        if models.is_dir():
            tables += [p for p in models.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
        for table in sorted(tables):
            if table.name in NOT_INPUTS or table == models:
                continue
            for part in sorted(table.glob("week=*")):
                if part.is_dir() and part.name[len("week=") :] < week:
                    entries.append((part.relative_to(wh.root).as_posix(), folder_digest(part)))
    return _sha(entries)


def output_folders(wh: Warehouse, step: Step, week: str) -> dict[str, Path]:
    """The week's folders ``step`` writes, by name (``plays``: each day before the week)."""
    out: dict[str, Path] = {}
    for name in step.outputs:
        if name == "plays":
            cut = week_start(week).isoformat()
            for day in wh.partitions("plays", "day"):
                if day < cut:
                    out[f"plays/day={day}"] = wh.table_dir("plays") / f"day={day}"
        elif name.startswith("models/"):
            out[name] = wh.model_dir(name.split("/", 1)[1], week)
        else:
            out[name] = wh.partition(name, week)
    return out


def outputs_digest(wh: Warehouse, step: Step, week: str) -> dict[str, str | None]:
    return {name: folder_digest(path) for name, path in output_folders(wh, step, week).items()}


def stamp_path(wh: Warehouse, name: str, week: str) -> Path:
    return wh.partition(STAMPS, week) / f"{name}.json"


def read_stamp(wh: Warehouse, name: str, week: str) -> dict[str, Any] | None:
    try:
        stamp = read_json(stamp_path(wh, name, week))
    except (ValueError, OSError):
        return None
    ok = isinstance(stamp, dict) and stamp.get("format") == FORMAT and isinstance(stamp.get("outputs"), dict)
    return stamp if ok else None


def upstream_digest(wh: Warehouse, name: str, week: str) -> str | None:
    """What a downstream step's key takes from an upstream step: the key of its recorded run and its
    output folders as they are now (a folder changed by hand after that run changes it too);
    ``None`` when the upstream step has no stamp."""
    stamp = read_stamp(wh, name, week)
    return None if stamp is None else _sha(stamp["key"], outputs_digest(wh, STEPS[name], week))


@dataclass
class Plan:
    """One run of one step: its key, and whether the recorded run can stand for it."""

    wh: Warehouse
    name: str
    step: Step
    week: str
    key: str | None  # None: an upstream step has no stamp, so nothing proves the inputs unchanged
    enabled: bool

    def reusable(self) -> dict[str, Any] | None:
        """The recorded run metrics when this run may reuse the recorded outputs, else ``None``."""
        if not (self.enabled and self.step.reusable and self.key):
            return None
        stamp = read_stamp(self.wh, self.name, self.week)
        if stamp is None or stamp.get("key") != self.key or not isinstance(stamp.get("metrics"), dict):
            return None
        now = outputs_digest(self.wh, self.step, self.week)
        if now != stamp["outputs"]:
            changed = sorted(k for k in set(now) | set(stamp["outputs"]) if now.get(k) != stamp["outputs"].get(k))
            log.info("%s: outputs changed since the recorded run (%s); running it", self.name, ", ".join(changed))
            return None
        return stamp["metrics"]

    def forget(self) -> None:
        """Before the step runs: its old stamp stops vouching for outputs it is about to replace."""
        stamp_path(self.wh, self.name, self.week).unlink(missing_ok=True)

    def record(self, metrics: dict[str, Any]) -> None:
        """After the step finished (done or skipped): the key, its outputs and metrics."""
        stamp = {
            "format": FORMAT,
            "step": self.name,
            "week": self.week,
            "key": self.key or "",
            "outputs": outputs_digest(self.wh, self.step, self.week),
            "metrics": metrics,
        }
        write_json_atomic(stamp_path(self.wh, self.name, self.week), stamp)


def plan(config: Config, name: str, week: str, arguments: dict[str, Any]) -> Plan | None:
    """The plan of step ``name`` for ``week`` (``None``: not a weekly step of the DAG)."""
    step = STEPS.get(name)
    if step is None:
        return None
    wh = Warehouse(config.paths.warehouse)
    upstream = {u: upstream_digest(wh, u, week) for u in step.upstream}
    key = None
    if all(upstream.values()):
        settings = config.model_dump(mode="json", exclude=NOT_SETTINGS)
        key = _sha(
            FORMAT,
            name,
            week,
            arguments,
            settings,
            code_digest(),
            inputs_digest(config.paths.data),
            earlier_weeks_digest(wh, week),
            upstream,
        )
    return Plan(wh, name, step, week, key, enabled=config.dag.reuse)
