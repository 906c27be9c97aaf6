"""Typed configuration: ``conf/pipeline.yaml`` plus environment overrides.

Reads the YAML file named by ``--conf``, ``$DW_CONF`` or ``conf/pipeline.yaml`` and
applies overrides from the environment, ``DW__<SECTION>__<KEY>=value`` (values parsed
as YAML scalars), plus the shortcuts ``DW_DATA`` and ``DW_WAREHOUSE`` for the two paths
people change most. Everything is validated on load: unknown sections or keys, wrong
types and out-of-range values raise :class:`ConfigError` naming the key.

Relative paths are resolved against the project root, so jobs behave the same
whatever directory they are started from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Under spark-submit this module may be imported from a zip (--py-files), so the root can
# be given explicitly; the DAG and the Makefile always set it.
PROJECT_ROOT = Path(os.environ.get("DW_PROJECT_ROOT") or Path(__file__).resolve().parents[2])
DEFAULT_CONF = PROJECT_ROOT / "conf" / "pipeline.yaml"


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


@dataclass(frozen=True)
class Paths:
    data: Path = Path("data/sample")
    warehouse: Path = Path("data/warehouse")
    checkpoints: Path = Path("data/checkpoints")


@dataclass(frozen=True)
class SparkConf:
    master: str = "local[2]"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8
    log_level: str = "WARN"


@dataclass(frozen=True)
class IngestConf:
    max_bad_share: float = 0.05
    service_start: str = "2008-10-07"
    max_ms_played: int = 86_400_000
    max_future_days: int = 366


@dataclass(frozen=True)
class AlsConf:
    window_weeks: int = 8
    decay_half_life_days: float = 0.0
    min_ms_played: int = 30_000
    rank: int = 32
    reg_param: float = 0.1
    alpha: float = 8.0
    eps: float = 1.0
    max_iter: int = 12
    seed: int = 42
    num_blocks: int = 2
    checkpoint_interval: int = 5
    eval_k: int = 30
    eval_max_users: int = 5000


@dataclass(frozen=True)
class MergeConf:
    k: int = 30
    artist_cap: int = 2
    min_plays: int = 3
    thin_history: str = "fallback"
    w_als: float = 1.0
    w_audio: float = 0.9
    w_culture: float = 0.1
    cold_slots: int = 5
    min_cold_score: float = 0.5
    top_artists: int = 5
    new_release_days: int = 14


@dataclass(frozen=True)
class AudioConf:
    sample_rate: int = 22_050
    window_seconds: float = 30.0
    n_mels: int = 128
    hop_length: int = 512
    n_fft: int = 2048
    min_seconds: float = 1.0
    workers: int = 0
    clip_timeout_seconds: float = 120.0


@dataclass(frozen=True)
class AudioCnnConf:
    min_plays: int = 5
    crop_frames: int = 128
    filters: tuple[int, ...] = (64, 128, 128)
    pools: tuple[int, ...] = (4, 2, 1)
    kernel_size: int = 4
    dense_units: tuple[int, ...] = (256, 128)
    dropout: float = 0.3
    learning_rate: float = 0.001
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 5
    validation_share: float = 0.1
    seed: int = 11
    evaluate: bool = True
    holdout_share: float = 0.15
    eval_k: int = 30


@dataclass(frozen=True)
class CrawlConf:
    seeds: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    allow_private_seeds: bool = True
    user_agent: str = "DiscoverWeeklyBot/0.1 (+https://example.org/discover-weekly-bot)"
    delay_seconds: float = 1.0
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 10.0
    max_bytes: int = 2_000_000
    max_pages: int = 2000
    max_depth: int = 4
    max_redirects: int = 5
    max_retries: int = 2
    backoff_seconds: float = 0.5


@dataclass(frozen=True)
class CultureConf:
    window: str = "sentence"
    window_tokens: int = 12
    top_k: int = 20
    neighbours: int = 10
    batch_size: int = 64
    min_term_count: int = 1


@dataclass(frozen=True)
class WorldConf:
    seed: int = 7
    users: int = 1500
    artists: int = 120
    tracks: int = 1500
    new_releases: int = 40
    weeks: int = 8
    plays_per_user_week: float = 14.0
    clip_seconds: float = 8.0
    end: str = "2026-11-16"
    bad_row_share: float = 0.003
    audio_tracks: int = 0  # clips for this many played tracks (seeded sample) + every new release; 0 = all
    web_artists: int = 0  # web pages about this many artists (seeded sample); 0 = all


@dataclass(frozen=True)
class Config:
    paths: Paths = field(default_factory=Paths)
    spark: SparkConf = field(default_factory=SparkConf)
    ingest: IngestConf = field(default_factory=IngestConf)
    als: AlsConf = field(default_factory=AlsConf)
    merge: MergeConf = field(default_factory=MergeConf)
    audio: AudioConf = field(default_factory=AudioConf)
    audio_cnn: AudioCnnConf = field(default_factory=AudioCnnConf)
    crawl: CrawlConf = field(default_factory=CrawlConf)
    culture: CultureConf = field(default_factory=CultureConf)
    world: WorldConf = field(default_factory=WorldConf)


# (section, key) -> check returning an error message or None
_RULES: dict[tuple[str, str], Any] = {
    ("ingest", "max_bad_share"): lambda v: None if 0 <= v <= 1 else "must be between 0 and 1",
    ("als", "rank"): lambda v: None if v >= 1 else "must be >= 1",
    ("als", "window_weeks"): lambda v: None if v >= 1 else "must be >= 1",
    ("als", "max_iter"): lambda v: None if v >= 1 else "must be >= 1",
    ("als", "alpha"): lambda v: None if v >= 0 else "must be >= 0",
    ("als", "eps"): lambda v: None if v > 0 else "must be > 0",
    ("als", "reg_param"): lambda v: None if v >= 0 else "must be >= 0",
    ("als", "num_blocks"): lambda v: None if v >= 1 else "must be >= 1",
    ("als", "decay_half_life_days"): lambda v: None if v >= 0 else "must be >= 0 (0 = no decay)",
    ("merge", "k"): lambda v: None if v >= 1 else "must be >= 1",
    ("merge", "artist_cap"): lambda v: None if v >= 1 else "must be >= 1",
    ("merge", "thin_history"): lambda v: None if v in ("fallback", "skip") else "must be fallback or skip",
    ("merge", "cold_slots"): lambda v: None if v >= 0 else "must be >= 0",
    ("merge", "w_als"): lambda v: None if v >= 0 else "must be >= 0",
    ("merge", "w_audio"): lambda v: None if v >= 0 else "must be >= 0",
    ("merge", "w_culture"): lambda v: None if v >= 0 else "must be >= 0",
    ("world", "audio_tracks"): lambda v: None if v >= 0 else "must be >= 0 (0 = every track)",
    ("world", "web_artists"): lambda v: None if v >= 0 else "must be >= 0 (0 = every artist)",
    ("audio", "sample_rate"): lambda v: None if v >= 8000 else "must be >= 8000",
    ("audio", "window_seconds"): lambda v: None if v > 0 else "must be > 0",
    ("audio", "n_mels"): lambda v: None if 8 <= v <= 512 else "must be between 8 and 512",
    ("audio", "hop_length"): lambda v: None if v >= 1 else "must be >= 1",
    ("audio", "workers"): lambda v: None if v >= 0 else "must be >= 0 (0 = all cores)",
    ("audio", "clip_timeout_seconds"): lambda v: None if v >= 1 else "must be >= 1",
    ("audio_cnn", "holdout_share"): lambda v: None if 0 < v < 1 else "must be between 0 and 1",
    ("audio_cnn", "validation_share"): lambda v: None if 0 < v < 1 else "must be between 0 and 1",
    ("audio_cnn", "crop_frames"): lambda v: None if v >= 8 else "must be >= 8",
    ("audio_cnn", "max_epochs"): lambda v: None if v >= 1 else "must be >= 1",
    ("crawl", "delay_seconds"): lambda v: None if v >= 0 else "must be >= 0",
    ("crawl", "max_bytes"): lambda v: None if v >= 1024 else "must be >= 1024",
    ("crawl", "max_pages"): lambda v: None if v >= 1 else "must be >= 1",
    ("crawl", "max_redirects"): lambda v: None if v >= 0 else "must be >= 0",
    ("crawl", "connect_timeout_seconds"): lambda v: None if v > 0 else "must be > 0",
    ("crawl", "read_timeout_seconds"): lambda v: None if v > 0 else "must be > 0",
    ("culture", "window"): lambda v: None if v in ("sentence", "tokens") else "must be sentence or tokens",
    ("culture", "top_k"): lambda v: None if v >= 1 else "must be >= 1",
    ("world", "users"): lambda v: None if v >= 2 else "must be >= 2",
    ("world", "artists"): lambda v: None if v >= 12 else "must be >= 12 (one per genre)",
    ("world", "weeks"): lambda v: None if v >= 2 else "must be >= 2",
    ("world", "end"): lambda v: None if _is_monday(v) else "must be an ISO date that is a Monday",
    ("ingest", "service_start"): lambda v: None if _is_date(v) else "must be an ISO date",
}


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_monday(value: str) -> bool:
    return _is_date(value) and dt.date.fromisoformat(value).weekday() == 0


def _coerce(section: str, key: str, value: Any, target: type | str) -> Any:
    """Check ``value`` against the dataclass field type; ints are accepted for floats."""
    name = target if isinstance(target, str) else target.__name__
    where = f"{section}.{key}"
    if name == "Path":
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        path = Path(value)
        return path if path.is_absolute() else PROJECT_ROOT / path
    if name == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if name == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if name == "tuple[int, ...]":
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{where}: expected a list of integers, got {value!r}")
        return tuple(value)
    if name == "tuple[str, ...]":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if name == "str":
        if isinstance(value, dt.date):
            return value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {name}")


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith("DW__"):
            continue
        parts = name[4:].lower().split("__")
        if len(parts) != 2:
            raise ConfigError(f"{name}: overrides are spelled DW__<SECTION>__<KEY>")
        out.setdefault(parts[0], {})[parts[1]] = yaml.safe_load(raw) if raw != "" else ""
    if environ.get("DW_DATA"):
        out.setdefault("paths", {})["data"] = environ["DW_DATA"]
    if environ.get("DW_WAREHOUSE"):
        out.setdefault("paths", {})["warehouse"] = environ["DW_WAREHOUSE"]
    return out


def _check_cross(config: Config) -> None:
    if len(config.audio_cnn.filters) != len(config.audio_cnn.pools):
        raise ConfigError("audio_cnn.filters and audio_cnn.pools must have the same length")
    if not config.audio_cnn.dense_units or min(config.audio_cnn.dense_units) < 1:
        raise ConfigError("audio_cnn.dense_units must list at least one positive layer width")


def build_config(raw: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Validate a parsed YAML mapping (plus overrides) into a :class:`Config`."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a mapping of sections")
    merged: dict[str, dict[str, Any]] = {}
    for source in (raw, overrides or {}):
        for section, values in source.items():
            if values is None:
                continue
            if not isinstance(values, dict):
                raise ConfigError(f"{section}: expected a mapping of keys")
            merged.setdefault(section, {}).update(values)

    sections = {f.name: f for f in dataclasses.fields(Config)}
    built: dict[str, Any] = {}
    for section, values in merged.items():
        if section not in sections:
            raise ConfigError(f"unknown section {section!r}; known: {sorted(sections)}")
        cls = sections[section].default_factory  # type: ignore[misc]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(f"unknown key {section}.{key}; known: {sorted(fields)}")
            kwargs[key] = _coerce(section, key, value, fields[key].type)
            rule = _RULES.get((section, key))
            if rule is not None and (problem := rule(kwargs[key])):
                raise ConfigError(f"{section}.{key}={value!r}: {problem}")
        built[section] = cls(**kwargs)
    config = Config(**built)
    # Defaults for paths are relative too: anchor them at the project root.
    paths = config.paths
    anchored = Paths(
        **{f.name: _coerce("paths", f.name, getattr(paths, f.name), "Path") for f in dataclasses.fields(paths)}
    )
    _check_cross(config)
    return dataclasses.replace(config, paths=anchored)


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate the configuration; see the module docstring for the lookup order."""
    env = dict(os.environ if environ is None else environ)
    conf_path = Path(path or env.get("DW_CONF") or DEFAULT_CONF)
    try:
        raw = yaml.safe_load(conf_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{conf_path}: configuration file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{conf_path}: not valid YAML: {exc}") from None
    try:
        return build_config(raw, _env_overrides(env))
    except ConfigError as exc:
        raise ConfigError(f"{conf_path}: {exc}") from None
