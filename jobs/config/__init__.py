"""Typed configuration: the section models of :mod:`jobs.config.sections` (every setting,
its default and its meaning) plus overrides.

Defaults are stated once, there. Overrides come, later winning, from the settings tuned on the
warehouse's own earlier weeks (``<warehouse>/tuned/settings.yaml``, its ``als`` and ``merge``
sections, written by the ``discover_weekly_tune`` DAG or ``make tune``; ``tune.apply: false``
ignores it), from the YAML file named by ``--conf``, ``$DW_CONF`` or ``conf/pipeline.yaml``
(only what a deployment changes), then from the environment: ``DW__<SECTION>__<KEY>=value`` (values parsed as YAML scalars, so
``7``, ``2.5``, ``false`` and ``[a, b]`` are typed), plus the shortcuts ``DW_DATA`` and
``DW_WAREHOUSE`` for the two paths people change most. Everything is validated on load by
pydantic: unknown sections or keys, wrong types and out-of-range values raise
:class:`ConfigError` naming the key as ``section.key``, e.g. ``als.rank=0: must be >= 1``.

Relative paths are resolved against the project root, so jobs behave the same whatever
directory they are started from. Print every resolved setting with its meaning::

    python -m jobs.config [--conf FILE]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.config.sections import (
    PROJECT_ROOT,
    AlsConf,
    AudioCnnConf,
    AudioConf,
    BanditConf,
    CrawlConf,
    CultureConf,
    DagConf,
    ExperimentConf,
    IngestConf,
    MergeConf,
    Paths,
    PlaylistConf,
    PublishConf,
    RlConf,
    SequenceConf,
    SparkConf,
    TasteClustersConf,
    TuneConf,
    WorldConf,
    _Section,
)

__all__ = [
    "DEFAULT_CONF",
    "PROJECT_ROOT",
    "SECTIONS",
    "AlsConf",
    "AudioCnnConf",
    "AudioConf",
    "BanditConf",
    "Config",
    "ConfigError",
    "CrawlConf",
    "CultureConf",
    "DagConf",
    "ExperimentConf",
    "IngestConf",
    "MergeConf",
    "Paths",
    "PlaylistConf",
    "PublishConf",
    "RlConf",
    "SequenceConf",
    "SparkConf",
    "TasteClustersConf",
    "TuneConf",
    "WorldConf",
    "build_config",
    "load_config",
    "setting_sources",
    "tuned_settings_file",
]

DEFAULT_CONF = PROJECT_ROOT / "conf" / "pipeline.yaml"


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


class Config(BaseModel):
    """The whole configuration: one frozen model per section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paths: Paths = Field(default_factory=Paths)
    spark: SparkConf = Field(default_factory=SparkConf)
    dag: DagConf = Field(default_factory=DagConf)
    ingest: IngestConf = Field(default_factory=IngestConf)
    als: AlsConf = Field(default_factory=AlsConf)
    merge: MergeConf = Field(default_factory=MergeConf)
    sequence: SequenceConf = Field(default_factory=SequenceConf)
    publish: PublishConf = Field(default_factory=PublishConf)
    audio: AudioConf = Field(default_factory=AudioConf)
    audio_cnn: AudioCnnConf = Field(default_factory=AudioCnnConf)
    taste_clusters: TasteClustersConf = Field(default_factory=TasteClustersConf)
    crawl: CrawlConf = Field(default_factory=CrawlConf)
    culture: CultureConf = Field(default_factory=CultureConf)
    world: WorldConf = Field(default_factory=WorldConf)
    tune: TuneConf = Field(default_factory=TuneConf)
    experiment: ExperimentConf = Field(default_factory=ExperimentConf)
    bandit: BanditConf = Field(default_factory=BanditConf)
    playlist: PlaylistConf = Field(default_factory=PlaylistConf)
    rl: RlConf = Field(default_factory=RlConf)


SECTIONS: dict[str, type[_Section]] = {name: f.annotation for name, f in Config.model_fields.items()}

_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true/false",
    "string_type": "a string",
    "tuple_type": "a list",
    "path_type": "a path",
    "model_type": "a mapping of keys",
}
_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _range(section: str, key: str) -> str | None:
    """``must be between 0 and 1`` / ``must be >= 1`` from the field's declared bounds."""
    field = SECTIONS[section].model_fields.get(key)
    found = {name: getattr(m, name) for m in (field.metadata if field else []) for name in _BOUNDS if hasattr(m, name)}
    low = [(op, v) for op, v in found.items() if op in ("ge", "gt")]
    high = [(op, v) for op, v in found.items() if op in ("le", "lt")]
    if low and high:
        return f"must be between {low[0][1]} and {high[0][1]}"
    if low or high:
        op, value = (low or high)[0]
        return f"must be {_BOUNDS[op]} {value}"
    return None


def _message(error: dict[str, Any]) -> str:
    """One pydantic error as ``section.key=value: what is wrong``."""
    loc, kind, value = error["loc"], error["type"], error.get("input")
    section = str(loc[0])
    where = section + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])
    if kind == "extra_forbidden":
        if len(loc) == 1:
            return f"unknown section {section!r}; known: {sorted(SECTIONS)}"
        return f"unknown key {where}; known: {sorted(SECTIONS[section].model_fields)}"
    if kind in _EXPECTED:
        return f"{where}: expected {_EXPECTED[kind]}, got {value!r}"
    ctx = error.get("ctx") or {}
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bounded = _range(section, str(loc[1])) if len(loc) == 2 else None
        problem = bounded or "must be " + " ".join(f"{_BOUNDS[k]} {v}" for k, v in ctx.items() if k in _BOUNDS)
    elif kind == "too_short":
        problem = "must not be empty" if ctx.get("min_length") == 1 else f"needs {ctx.get('min_length')} entries"
    elif kind == "literal_error":
        problem = f"must be {ctx.get('expected')}"
    elif kind == "value_error":
        problem = str(ctx.get("error"))
    else:
        problem = error["msg"]
    field = SECTIONS[section].model_fields.get(str(loc[1])) if section in SECTIONS and len(loc) == 2 else None
    hint = f" -- {field.description}" if field is not None and field.description else ""
    return f"{where}={value!r}: {problem}{hint}"


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


def build_config(raw: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Validate a parsed YAML mapping (plus overrides, key by key) into a :class:`Config`."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a mapping of sections")
    merged: dict[str, Any] = {}
    for source in (raw, overrides or {}):
        for section, values in source.items():
            if values is None:
                continue
            if isinstance(values, dict) and isinstance(merged.get(section), dict):
                merged[section] = {**merged[section], **values}
            else:
                merged[section] = values
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("; ".join(_message(e) for e in exc.errors())) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{key!r} repeats (first on line {first[key] + 1}); merge the two blocks",
                    key_node.start_mark,
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


TUNED_SECTIONS = ("als", "merge")  # what a tuned overlay may set (jobs.tools.tune searches only these)


def tuned_settings_file(warehouse: Path) -> Path:
    """Where the tune DAG (or ``make tune``) leaves the settings it chose for a warehouse."""
    return Path(warehouse) / "tuned" / "settings.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of sections")
    return raw


def _tuned(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """The ``als`` and ``merge`` sections of a tuned overlay (anything else in it is not the tune's)."""
    odd = [s for s in TUNED_SECTIONS if s in raw and raw[s] is not None and not isinstance(raw[s], dict)]
    if odd:
        raise ConfigError(f"{path}: section {odd[0]!r} must be a mapping of keys, got {raw[odd[0]]!r}")
    return {s: v for s, v in raw.items() if s in TUNED_SECTIONS and isinstance(v, dict)}


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate the configuration; see the module docstring for the lookup order."""
    env = dict(os.environ if environ is None else environ)
    conf_path = Path(path or env.get("DW_CONF") or DEFAULT_CONF)
    raw = _read_yaml(conf_path)
    try:
        config = build_config(raw, _env_overrides(env))
    except ConfigError as exc:
        raise ConfigError(f"{conf_path}: {exc}") from None
    tuned_path = tuned_settings_file(config.paths.warehouse)
    if not config.tune.apply or not tuned_path.is_file():
        return config
    tuned = _tuned(_read_yaml(tuned_path), tuned_path)
    layered = {s: {**tuned.get(s, {}), **(raw.get(s) or {})} for s in TUNED_SECTIONS if s in tuned}
    try:
        return build_config({**raw, **layered}, _env_overrides(env))
    except ConfigError as exc:
        raise ConfigError(f"{tuned_path} under {conf_path}: {exc}") from None


def setting_sources(config: Config, path: str | Path | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """Where the settings of ``config`` came from, one line each: the configuration file, the tuned
    overlay with the keys it set (its header's first lines say when and on which weeks), the environment."""
    env = dict(os.environ if environ is None else environ)
    conf_path = Path(path or env.get("DW_CONF") or DEFAULT_CONF)
    lines = [f"configuration file {conf_path}"]
    tuned_path = tuned_settings_file(config.paths.warehouse)
    if config.tune.apply and tuned_path.is_file():
        raw, tuned = _read_yaml(conf_path), _tuned(_read_yaml(tuned_path), tuned_path)
        env_keys = _env_overrides(env)
        used = [
            f"{s}.{k}={v}"
            for s, values in sorted(tuned.items())
            for k, v in sorted(values.items())
            if k not in (raw.get(s) or {}) and k not in env_keys.get(s, {})
        ]
        about = [
            line[2:].strip() for line in tuned_path.read_text(encoding="utf-8").splitlines()[:2] if line[:1] == "#"
        ]
        lines.append(
            f"tuned on this warehouse's earlier weeks, {tuned_path}: {', '.join(used) or 'nothing left to set'}"
        )
        lines += [f"  ({line})" for line in about]
    elif tuned_path.is_file():
        lines.append(f"tuned settings {tuned_path} ignored (tune.apply is false)")
    overridden = sorted(n for n in env if n.startswith("DW__") or n in ("DW_DATA", "DW_WAREHOUSE"))
    if overridden:
        lines.append(f"environment: {', '.join(overridden)}")
    return lines


def describe(config: Config) -> str:
    """Every setting as YAML, each with its meaning as a comment (the reference for conf/pipeline.yaml)."""
    lines = []
    for section, model in SECTIONS.items():
        lines.append(f"{section}:")
        for key, field in model.model_fields.items():
            value = getattr(getattr(config, section), key)
            value = list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) else value
            text = yaml.safe_dump({key: value}, default_flow_style=True, width=1000).strip()[1:-1]
            lines.append(f"  {text:<40} # {field.description}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the resolved configuration, every setting with its meaning.")
    parser.add_argument("--conf", help="configuration file (default conf/pipeline.yaml)")
    args = parser.parse_args(argv)
    print(describe(load_config(args.conf)))
    return 0
