"""The validate job's publication under faults: an empty or shrunken week is refused, a
retried publish keeps the new table, another run's pending table is refused, and two
validate jobs of one week at once never leave it unpublished (the interleaving is forced
with events, not sleeps)."""

import hashlib
import threading

import pandas as pd
import pytest

from jobs import validate
from jobs.merge import job as merge
from jobs.warehouse import atomic, store
from jobs.warehouse.store import Warehouse, read_run_id
from tests.unit.stages.test_merge import LAST_GOOD, _good, _table, _validate_world

WEEK = "2026-W47"


def _digest(folder):
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.parquet")))).hexdigest()


def test_an_empty_week_is_refused_and_the_last_good_week_stays(tmp_path):
    config, published = _validate_world(tmp_path, _good())
    merge.write_pending(_table([]).drop(columns=["week"]), set(), config.paths.warehouse, WEEK, {})
    with pytest.raises(validate.ValidationError, match="the table is empty"):
        validate.run(config, WEEK)
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD


def test_a_week_reaching_far_fewer_listeners_than_the_last_one_is_refused(tmp_path):
    config, published = _validate_world(tmp_path, _good())
    wh = Warehouse(config.paths.warehouse)
    last = pd.concat([_good().assign(user_id=u) for u in ("u1", "u2", "u3")]).drop(columns=["week"])
    wh.write("discover_weekly", "2026-W46", last)
    with pytest.raises(
        validate.ValidationError,
        match=r"1 listeners have a playlist, fewer than "
        r"publish.min_listener_share=0.5 of the 3 in 2026-W46",
    ):
        validate.run(config, WEEK)
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD
    lenient = config.model_copy(update={"publish": config.publish.model_copy(update={"min_listener_share": 0.3})})
    assert validate.run(lenient, WEEK)["listeners"] == 1


def test_a_publish_killed_before_its_clean_up_is_finished_by_the_retry(tmp_path, monkeypatch):
    config, published = _validate_world(tmp_path, _good())
    wh = Warehouse(config.paths.warehouse)
    new = _digest(wh.pending(WEEK) / "table")

    def killed(folder):
        raise KeyboardInterrupt("killed after the swap")

    monkeypatch.setattr(store, "discard_dir", killed)
    with pytest.raises(KeyboardInterrupt):
        validate.run(config, WEEK)
    assert _digest(published) == new  # the swap happened; the old table now sits in the pending folder
    monkeypatch.undo()
    metrics = validate.run(config, WEEK)  # Airflow's retry
    assert metrics["already_published"] is True
    assert _digest(published) == new  # not swapped back
    assert not wh.pending(WEEK).exists()


def test_another_runs_pending_table_is_refused(tmp_path):
    config, published = _validate_world(tmp_path, _good())
    theirs = read_run_id(Warehouse(config.paths.warehouse).pending(WEEK))
    with pytest.raises(validate.ValidationError, match=f"holds run {theirs}'s table, not this run's"):
        validate.run(config, WEEK, run_id="scheduled__2026-11-16T06:00:00+00:00")
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD


def test_two_validates_of_one_week_at_once_leave_it_published(tmp_path, monkeypatch):
    config, published = _validate_world(tmp_path, _good())
    wh = Warehouse(config.paths.warehouse)
    new = _digest(wh.pending(WEEK) / "table")
    inside, release = threading.Event(), threading.Event()
    real_check = validate._check

    def slow_check(*args):
        inside.set()
        assert release.wait(10)
        return real_check(*args)

    monkeypatch.setattr(validate, "_check", slow_check)
    results = {}

    def first():
        results["first"] = validate.run(config, WEEK)

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(10)  # the first holds the week's lock, checking
    monkeypatch.setattr(validate, "_check", real_check)
    second = threading.Thread(target=lambda: results.setdefault("second", _catch(lambda: validate.run(config, WEEK))))
    second.start()
    release.set()
    t.join(20)
    second.join(20)
    assert results["first"]["rows"] == 3
    assert isinstance(results["second"], validate.ValidationError)  # it waited, then found nothing pending
    assert "nothing to validate" in str(results["second"])
    assert _digest(published) == new
    assert sorted(p.name for p in published.parent.iterdir() if not p.name.startswith(".lock")) == [f"week={WEEK}"]


def test_publish_never_moves_the_live_week_aside_for_a_missing_table(tmp_path):
    _, published = _validate_world(tmp_path, _good())
    with pytest.raises(FileNotFoundError):
        atomic.publish_dir(tmp_path / "gone", published)
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD


def _catch(fn):
    try:
        return fn()
    except validate.ValidationError as exc:
        return exc


def test_a_rerun_that_would_shrink_the_published_week_is_refused_until_forced(tmp_path):
    config, published = _validate_world(tmp_path, _good())
    wh = Warehouse(config.paths.warehouse)
    wide = pd.concat([_good().assign(user_id=u) for u in ("u1", "u2", "u3", "u4")]).drop(columns=["week"])
    wh.write("discover_weekly", WEEK, wide)  # the week as published now: four listeners
    before = _digest(published)
    with pytest.raises(
        validate.ValidationError,
        match=r"1 listeners have a playlist, fewer than publish.min_listener_share=0.5 of the 4 in 2026-W47 "
        r"as published now: this rerun would shrink the week; to replace it anyway, rerun with "
        r"DW__PUBLISH__MIN_LISTENER_SHARE=0",
    ):
        validate.run(config, WEEK)
    assert _digest(published) == before  # the published week stays
    forced = config.model_copy(update={"publish": config.publish.model_copy(update={"min_listener_share": 0.0})})
    assert validate.run(forced, WEEK)["listeners"] == 1


def _exposures(table, policy="bart", propensity=0.25):
    cols = ["user_id", "position", "track_id", "source", "reason"]
    return table[cols].assign(policy=policy, policy_version="explore", propensity=propensity)


def _logged_world(tmp_path, exposures):
    config, published = _validate_world(tmp_path, _good())
    wh = Warehouse(config.paths.warehouse)
    merge.write_pending(
        _good().drop(columns=["week"]),
        {"u1"},
        config.paths.warehouse,
        WEEK,
        {},
        data=config.paths.data,
        logs={"exposures": exposures, "bandit_actions": pd.DataFrame(columns=_ACTION_COLUMNS)},
    )
    return config, wh, published


_ACTION_COLUMNS = [
    "user_id",
    "position",
    "track_id",
    "source",
    "reason",
    "kind",
    "features",
    "probability",
    "predicted",
    "chosen",
]


def test_the_exposures_are_published_with_the_week(tmp_path):
    config, wh, published = _logged_world(tmp_path, _exposures(_good()))
    new = _digest(wh.pending(WEEK) / "table")
    validate.run(config, WEEK)
    assert _digest(published) == new
    shown = wh.read("exposures", WEEK)
    assert (
        shown[["user_id", "position", "track_id"]].values.tolist()
        == _good()[["user_id", "position", "track_id"]].values.tolist()
    )
    assert (shown["propensity"] == 0.25).all() and (shown["policy"] == "bart").all()
    assert read_run_id(wh.partition("exposures", WEEK)) == read_run_id(published)
    assert wh.read("bandit_actions", WEEK).empty


def test_exposures_that_differ_from_the_table_stop_the_week(tmp_path):
    wrong = _exposures(_good()).iloc[:2]
    config, wh, published = _logged_world(tmp_path, wrong)
    with pytest.raises(validate.ValidationError, match="exposures differ from the table"):
        validate.run(config, WEEK)
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD
    assert not wh.partition("exposures", WEEK).exists()


def test_a_failed_swap_leaves_neither_the_new_week_nor_its_exposures(tmp_path, monkeypatch):
    config, wh, published = _logged_world(tmp_path, _exposures(_good(), propensity=0.5))
    old_log = _exposures(_good(), policy="blend", propensity=1.0).assign(week=WEEK)
    wh.write("exposures", WEEK, old_log)
    from jobs.warehouse import sets

    real = sets._swap
    calls = []

    def swap(src, dst, both):
        calls.append(str(dst))
        if len(calls) == 3 and "discover_weekly" in str(dst):  # the week itself, after both logs
            raise OSError(28, "No space left on device")
        return real(src, dst, both)

    monkeypatch.setattr(sets, "_swap", swap)
    with pytest.raises(OSError) as err:
        validate.run(config, WEEK)
    assert "No space left" in str(err.value)
    assert (published / "part-0.parquet").read_bytes() == LAST_GOOD
    assert (wh.read("exposures", WEEK)["policy"] == "blend").all()  # swapped back
    assert wh.has_pending_table(WEEK)  # nothing lost: a rerun publishes it
    monkeypatch.undo()
    validate.run(config, WEEK)
    assert (wh.read("exposures", WEEK)["propensity"] == 0.5).all()


def test_the_bandits_log_must_match_the_exposures():
    table = _good()
    exposures = _exposures(table, propensity=0.5)
    actions = pd.DataFrame(
        [
            ("u1", 1, "t1", "als", "Because you play X", "als_because", [0.0], 0.5, None, True),
            ("u1", 1, "t9", "als", "Because you play X", "als_because", [0.0], 0.5, None, False),
        ],
        columns=_ACTION_COLUMNS,
    )
    assert validate.check_bandit_actions(exposures, actions) == []
    wrong = actions.assign(probability=[0.5, 0.4])
    assert any("add up to 1" in p for p in validate.check_bandit_actions(exposures, wrong))
    other = actions.assign(chosen=[False, True])
    assert any("differs from the exposure" in p for p in validate.check_bandit_actions(exposures, other))
    twice = pd.concat([exposures, exposures.iloc[:1]])
    assert any("twice" in p for p in validate.check_exposures(table, twice))
