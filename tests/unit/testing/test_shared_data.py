"""The rule for tests that read ``../shared/data``: skip only without the folder, fail on a wrong path."""

import pytest

from tests.conftest import shared_data


def test_a_machine_without_the_shared_data_skips(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="not on this machine"):
        shared_data("real-audio", "truth.csv", root=tmp_path / "absent")


def test_a_missing_set_or_file_fails_naming_the_path(tmp_path):
    (tmp_path / "real-audio").mkdir()
    with pytest.raises(pytest.fail.Exception, match=str(tmp_path / "real-audio" / "truth.csv")):
        shared_data("real-audio", "truth.csv", root=tmp_path)
    with pytest.raises(pytest.fail.Exception, match=str(tmp_path / "lastfm-2k")):
        shared_data("lastfm-2k", root=tmp_path)


def test_a_present_set_is_returned(tmp_path):
    (tmp_path / "real-audio").mkdir()
    (tmp_path / "real-audio" / "truth.csv").write_text("x\n")
    assert shared_data("real-audio", "truth.csv", root=tmp_path) == tmp_path / "real-audio"
