from pathlib import Path

import pytest

from jobs.common.config import PROJECT_ROOT, ConfigError, build_config, load_config


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
