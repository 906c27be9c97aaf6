"""The loop's week runner (``--via jobs``): the DAG's edges, steps at once, and a failure."""

import json
import sys

import pytest

from jobs.tools import simulate


def test_the_steps_wait_for_the_dags_upstream_steps():
    graph = simulate.step_graph(full=True)
    assert list(graph) == [simulate.step_name(s) for s in simulate.steps(full=True)]
    assert graph["ingest"] == [] and graph["crawl"] == [] and graph["audio_features"] == []
    assert graph["als"] == ["ingest"] and graph["taste_vectors"] == ["song_vectors"]
    assert graph["audio_cnn train"] == ["als", "audio_features"] and graph["audio_cnn infer"] == ["audio_cnn train"]
    assert graph["listener_models"] == ["als", "audio_cnn infer", "taste_vectors"]
    assert graph["ahdqn"] == ["listener_models", "taste_clusters", "culture_terms"]
    assert set(graph["merge"]) == set(graph) - {"merge", "validate"} and graph["validate"] == ["merge"]
    # without audio, no step waits for an audio step
    fast = simulate.step_graph(full=False)
    assert fast["listener_models"] == ["als", "taste_vectors"] and fast["ahdqn"] == ["listener_models", "culture_terms"]


def _command(name: str, log, seconds: float = 0.3, code: int = 0) -> list[str]:
    """A step that writes when it started and ended into ``log`` (one JSON line each) and exits ``code``."""
    script = (
        "import json, sys, time\n"
        f"w = lambda e: open({str(log)!r}, 'a').write(json.dumps([{name!r}, e, time.time()]) + '\\n')\n"
        f"w('start'); print('step {name} says hello'); time.sleep({seconds}); w('end'); sys.exit({code})\n"
    )
    return [sys.executable, "-c", script]


def _events(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_steps_run_after_their_predecessors_and_at_most_n_at_once(tmp_path):
    log = tmp_path / "events.jsonl"
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["a"], "e": ["b", "c", "d"]}
    cmds = {n: _command(n, log, code=simulate.SKIPPED if n == "c" else 0) for n in graph}
    times = simulate.run_commands("2026-W47", cmds, graph, {}, tmp_path, parallel=2)
    assert set(times) == set(graph) and all(t > 0 for t in times.values())
    events = _events(log)
    at = {(n, e): t for n, e, t in events}
    for name, deps in graph.items():
        for dep in deps:  # a skip (exit 99) counts as done
            assert at[(dep, "end")] <= at[(name, "start")], (dep, name)
    running, most = 0, 0
    for _, e, _ in sorted(events, key=lambda x: (x[2], x[1] == "start")):
        running += 1 if e == "start" else -1
        most = max(most, running)
    assert most == 2  # b, c and d were ready together: two at a time
    assert (tmp_path / "2026-W47-b.log").read_text() == "step b says hello\n"


def test_a_failed_step_stops_new_ones_and_names_its_log(tmp_path):
    log = tmp_path / "events.jsonl"
    graph = {"a": [], "slow": [], "b": ["a"]}
    cmds = {"a": _command("a", log, 0.1, code=3), "slow": _command("slow", log, 1.0), "b": _command("b", log)}
    with pytest.raises(simulate.SimulationError) as err:
        simulate.run_commands("2026-W47", cmds, graph, {}, tmp_path, parallel=2)
    text = str(err.value)
    assert "(exit 3)" in text and str(tmp_path / "2026-W47-a.log") in text and "step a says hello" in text
    names = {n for n, _, _ in _events(log)}
    assert names == {"a", "slow"}  # b never started; slow was waited for
    assert ("slow", "end") in {(n, e) for n, e, _ in _events(log)}


def test_an_interrupted_week_leaves_no_step_running(tmp_path, monkeypatch):
    import subprocess
    import time
    from types import SimpleNamespace

    started, real = [], subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    def interrupt(_seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate.subprocess, "Popen", popen)
    monkeypatch.setattr(simulate, "time", SimpleNamespace(perf_counter=time.perf_counter, sleep=interrupt))
    cmds = {"long": [sys.executable, "-c", "import time; time.sleep(60)"]}
    with pytest.raises(KeyboardInterrupt):
        simulate.run_commands("2026-W47", cmds, {"long": []}, {}, tmp_path, parallel=1)
    assert len(started) == 1 and started[0].poll() is not None  # ended, not left behind
