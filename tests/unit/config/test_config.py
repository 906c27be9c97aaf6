import json
import os
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from jobs.config import (
    PROJECT_ROOT,
    SECTIONS,
    AlsConf,
    ConfigError,
    build_config,
    describe,
    load_config,
)


def test_shipped_config_loads_and_anchors_paths_at_the_project_root():
    config = load_config(environ={})
    assert config.paths.data == PROJECT_ROOT / "data" / "sample"
    assert config.paths.warehouse == PROJECT_ROOT / "data" / "warehouse"
    assert config.merge.k == 30 and config.merge.artist_cap == 2
    assert config.als.rank >= 1


def test_environment_overrides_are_typed(tmp_path):
    config = load_config(environ={"DW__ALS__RANK": "7", "DW__ALS__ALPHA": "2.5", "DW_DATA": str(tmp_path)})
    assert config.als.rank == 7
    assert config.als.alpha == 2.5
    assert config.paths.data == tmp_path


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"als": {"rank": "big"}}, "als.rank: expected an integer"),
        ({"als": {"rank": 0}}, "als.rank=0: must be >= 1"),
        ({"als": {"ranks": 3}}, "unknown key als.ranks"),
        ({"alss": {"rank": 3}}, "unknown section 'alss'"),
        ({"ingest": {"max_bad_share": 2}}, "must be between 0 and 1"),
        ({"world": {"end": "2026-11-17"}}, "must be an ISO date that is a Monday"),
        ({"merge": {"artist_cap": True}}, "expected an integer"),
    ],
)
def test_invalid_values_are_rejected_with_the_key_named(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(raw)


def test_missing_and_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", environ={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("als: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken, environ={})
    with pytest.raises(ConfigError, match="DW__<SECTION>__<KEY>"):
        load_config(environ={"DW__RANK": "3"})


def test_relative_paths_resolve_against_the_project_root():
    config = build_config({"paths": {"data": "elsewhere/x"}})
    assert config.paths.data == PROJECT_ROOT / Path("elsewhere/x")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # a wrong type, named with the value given
        ({"audio_cnn": {"evaluate": "yes"}}, "audio_cnn.evaluate: expected true/false, got 'yes'"),
        ({"als": {"alpha": "2.5"}}, "als.alpha: expected a number, got '2.5'"),
        ({"audio_cnn": {"filters": [64, "x"]}}, "audio_cnn.filters[1]: expected an integer, got 'x'"),
        ({"als": 3}, "als: expected a mapping of keys, got 3"),
        # an out-of-range value, with the range and what the key means
        ({"audio": {"n_mels": 4}}, "audio.n_mels=4: must be between 8 and 512 -- mel bands"),
        ({"dag": {"retries": -1}}, "dag.retries=-1: must be >= 0"),
        ({"culture": {"window": "page"}}, "culture.window='page': must be 'sentence' or 'tokens'"),
        ({"spark": {"driver_memory": "lots"}}, "spark.driver_memory='lots': must be a JVM memory size"),
        ({"ingest": {"service_start": "2008-13-01"}}, "ingest.service_start='2008-13-01': must be an ISO date"),
        # an unknown key in a new section
        (
            {"dag": {"retry": 1}},
            "unknown key dag.retry; known: ['parallelism', 'paused_on_creation', 'retries', 'retry_delay_minutes', "
            "'reuse', 'start_date']",
        ),
        # cross-field rules
        (
            {"audio_cnn": {"pools": [2, 1]}},
            "audio_cnn.pools=[2, 1]: must have one entry per layer of audio_cnn.filters (3)",
        ),
        ({"audio_cnn": {"dense_units": []}}, "audio_cnn.dense_units=[]: must not be empty"),
        ({"audio_cnn": {"dense_units": [16, 0]}}, "audio_cnn.dense_units[1]=0: must be >= 1"),
    ],
)
def test_pydantic_errors_name_the_key_and_what_is_wrong(raw, message):
    with pytest.raises(ConfigError) as caught:
        build_config(raw)
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        build_config({"als": {"rank": 0}, "merge": {"k": 2.5}})
    assert "als.rank=0: must be >= 1" in str(caught.value)
    assert "merge.k: expected an integer, got 2.5" in str(caught.value)


def test_environment_overrides_win_over_the_file_key_by_key(tmp_path):
    conf = tmp_path / "site.yaml"
    conf.write_text("als:\n  rank: 16\n  alpha: 4.0\nworld:\n  end: 2026-11-23\n")
    env = {"DW__ALS__RANK": "64", "DW__SPARK__DRIVER_MEMORY": "8g", "DW__DAG__RETRIES": "0"}
    env |= {"DW__CRAWL__SEEDS": "[http://a.test/, http://b.test/]", "DW__AUDIO_CNN__EVALUATE": "false"}
    config = load_config(conf, environ=env)
    assert (config.als.rank, config.als.alpha) == (64, 4.0)
    assert config.world.end == "2026-11-23"  # an unquoted YAML date is kept as ISO text
    assert config.spark.driver_memory == "8g" and config.dag.retries == 0
    assert config.crawl.seeds == ("http://a.test/", "http://b.test/")
    assert config.audio_cnn.evaluate is False
    with pytest.raises(ConfigError, match=r"site\.yaml: dag\.retries: expected an integer, got 'often'"):
        load_config(conf, environ={"DW__DAG__RETRIES": "often"})
    with pytest.raises(ConfigError, match=r"unknown key spark\.driver_mem"):
        load_config(conf, environ={"DW__SPARK__DRIVER_MEM": "8g"})


def test_models_are_frozen_and_copied_with_changes():
    config = build_config({})
    with pytest.raises(ValidationError):
        config.als.rank = 3
    changed = config.als.model_copy(update={"rank": 3})
    assert (changed.rank, config.als.rank) == (3, 32)
    assert AlsConf(rank=3) == changed
    with pytest.raises(ValidationError):
        AlsConf(rank=0)


def test_the_shipped_configuration_resolves_to_the_values_recorded_before_pydantic():
    """The sample week depends on every one of them: same value, same type (8.0 is not 8)."""
    recorded = json.loads((Path(__file__).parent / "config_snapshot.json").read_text())
    now = load_config(environ={}).model_dump()
    for section, values in recorded.items():
        for key, value in values.items():
            got = now[section][key]
            got = str(got.relative_to(PROJECT_ROOT)) if isinstance(got, Path) else got
            got = list(got) if isinstance(got, tuple) else got
            assert (got, type(got)) == (value, type(value)), f"{section}.{key}"
    # the settings added since: the DAG's, with the values it hard-coded before
    assert (now["spark"]["executor_memory"], now["dag"]) == (
        "2g",
        {"retries": 2, "retry_delay_minutes": 2.0, "paused_on_creation": True, "start_date": "1970-01-05"}
        | {"parallelism": 2, "reuse": True},  # make run's task slots (jobs.runtime.dagrun), step reuse, added since
    )


def test_defaults_are_stated_once_the_shipped_file_only_overrides():
    raw = yaml.safe_load((PROJECT_ROOT / "conf" / "pipeline.yaml").read_text()) or {}
    defaults = build_config({})
    restated = [
        f"{s}.{k}" for s, values in raw.items() for k in values if build_config({s: {k: values[k]}}) == defaults
    ]
    assert restated == [], "conf/pipeline.yaml restates defaults; they live in jobs/config/__init__.py"


def test_every_setting_is_documented_and_the_description_reads_back():
    for section, model in SECTIONS.items():
        for key, field in model.model_fields.items():
            assert field.description, f"{section}.{key} has no description"
    config = load_config(environ={"DW__ALS__RANK": "7"})
    text = describe(config)
    assert "  rank: 7" in text and "# latent factors" in text
    assert build_config(yaml.safe_load(text)) == config


def test_python_m_jobs_config_prints_every_setting_as_the_docs_say():
    import subprocess
    import sys

    env = {**os.environ, "DW__ALS__RANK": "9"}
    done = subprocess.run(
        [sys.executable, "-m", "jobs.config"], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == describe(load_config(environ=env)) + "\n" and "  rank: 9" in done.stdout


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("key", ["DW__MERGE__W_ALS", "DW__MERGE__MIN_COLD_SCORE", "DW__SEQUENCE__LEARNING_RATE"])
def test_settings_are_finite_numbers(key, value):
    name = key[4:].lower().replace("__", ".")
    with pytest.raises(ConfigError, match=f"{name}=.*finite number"):
        load_config(environ={key: value})


def test_an_overlay_that_repeats_a_section_or_key_is_refused_naming_the_line(tmp_path):
    repeated = tmp_path / "overlay.yaml"
    repeated.write_text("merge:\n  k: 30\nals:\n  rank: 8\nmerge:\n  w_als: 2\n")
    with pytest.raises(ConfigError, match=r"(?s)'merge' repeats \(first on line 1\).*line 5"):
        load_config(repeated, environ={})
    repeated.write_text("als:\n  rank: 8\n  rank: 16\n")
    with pytest.raises(ConfigError, match=r"(?s)'rank' repeats \(first on line 2\).*line 3"):
        load_config(repeated, environ={})
    repeated.write_text("als:\n  rank: 8\nmerge:\n  k: 30\n")  # distinct keys load as before
    assert load_config(repeated, environ={}).als.rank == 8


def test_settings_tuned_on_the_warehouse_apply_under_the_file_and_the_environment(tmp_path):
    from jobs.config import load_config, setting_sources, tuned_settings_file

    wh = tmp_path / "wh"
    tuned = tuned_settings_file(wh)
    tuned.parent.mkdir(parents=True)
    tuned.write_text(
        "# Written by `python -m jobs.tools.tune --week 1998-W10` (make tune) on /data: use with DW_CONF=<this file>.\n"
        "# Validation weeks (plays before 1998-W10 only): 1998-W04 to 1998-W09, 112 listener-weeks.\n"
        "als: {window_weeks: 52, rank: 32}\nmerge: {w_popularity: 2.0, popularity_days: 28}\n"
        "paths: {data: /elsewhere}\n"  # not the tune's to set: ignored
    )
    conf = tmp_path / "pipeline.yaml"
    conf.write_text("merge: {w_popularity: 0.5}\n")  # the deployment's own choice wins over the tune's
    env = {"DW_WAREHOUSE": str(wh), "DW__ALS__RANK": "16"}  # and the environment over both
    config = load_config(conf, environ=env)
    assert (config.als.window_weeks, config.als.rank) == (52, 16)
    assert (config.merge.w_popularity, config.merge.popularity_days) == (0.5, 28)
    assert config.paths.data.name != "elsewhere"
    lines = setting_sources(config, conf, environ=env)
    assert (
        lines[1] == f"tuned on this warehouse's earlier weeks, {tuned}: als.window_weeks=52, merge.popularity_days=28"
    )
    assert "1998-W04 to 1998-W09" in lines[3] and lines[-1] == "environment: DW_WAREHOUSE, DW__ALS__RANK"

    off = load_config(conf, environ={**env, "DW__TUNE__APPLY": "false"})
    assert off.als.window_weeks == 8
    assert "ignored (tune.apply is false)" in setting_sources(off, conf, environ={**env, "DW__TUNE__APPLY": "false"})[1]
    assert load_config(conf, environ={"DW_WAREHOUSE": str(tmp_path / "none")}).als.window_weeks == 8  # no overlay


@pytest.mark.parametrize(
    "body, message",
    [
        (b"als: [1, 2]\n", "section 'als' must be a mapping of keys"),
        (b"# r\xe9gl\xe9\nals: {rank: 16}\n", "not UTF-8 (byte 3"),
    ],
)
def test_a_hostile_tuned_overlay_is_refused_naming_it(tmp_path, body, message):
    from jobs.config import ConfigError, load_config, tuned_settings_file

    tuned = tuned_settings_file(tmp_path / "wh")
    tuned.parent.mkdir(parents=True)
    tuned.write_bytes(body)
    conf = tmp_path / "c.yaml"
    conf.write_text("{}\n")
    with pytest.raises(ConfigError, match=rf"{tuned}: .*{re.escape(message)}"):
        load_config(conf, environ={"DW_WAREHOUSE": str(tmp_path / "wh")})
