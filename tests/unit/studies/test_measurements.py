"""docs/measurements.md's generated sections are what the JSON files say."""

import json

from jobs.config import PROJECT_ROOT
from studies import measurements


def test_the_offline_evaluation_tables_follow_the_json():
    result = json.loads((PROJECT_ROOT / "docs" / "evaluation.json").read_text())
    page = (PROJECT_ROOT / "docs" / "measurements.md").read_text()
    assert measurements.offline_eval(result) in page  # rerun python -m studies.measurements after make evaluate


def test_a_paired_interval_is_bold_only_when_it_excludes_zero():
    assert measurements._interval({"mean": 0.01, "low": 0.002, "high": 0.02}, signed=True).startswith("**")
    assert not measurements._interval({"mean": 0.01, "low": -0.002, "high": 0.02}, signed=True).startswith("**")
    assert measurements._interval({"mean": -0.01, "low": -0.02, "high": -0.001}, signed=True).startswith("**")


def test_check_reports_a_page_that_differs(tmp_path, capsys):
    page = tmp_path / "m.md"
    page.write_text("text\n<!-- BEGIN offline-eval (generated) -->\nold\n<!-- END offline-eval -->\n")
    evaluation = PROJECT_ROOT / "docs" / "evaluation.json"
    assert measurements.main(["--md", str(page), "--evaluation", str(evaluation), "--check"]) == 1
    assert measurements.main(["--md", str(page), "--evaluation", str(evaluation)]) == 0
    assert measurements.main(["--md", str(page), "--evaluation", str(evaluation), "--check"]) == 0
    assert page.read_text().startswith("text\n")
