"""The closed loop on the sample world: each week the pipeline publishes, then the world's listeners live it.

``make simulate [WEEKS=8] [SIZE=small|tiny|sample] [SEED=7] [ARMS=als,blend,bart] [SIM=folder]``
runs ``python -m jobs.tools.simulate``. In the simulation folder (default
``data/sim-<size>-<seed>``):

* ``data/``: a sample world of that size and seed (generated once; without audio unless
  ``--full``), whose ``raw/plays/`` and ``raw/saves/`` grow by one week per simulated week;
* ``warehouse/``: the pipeline's warehouse; ``logs/``: each step's log;
* ``truth/responses/<week>.parquet``: every shown row, the hidden answer probabilities and
  the outcomes (for evaluation only: the pipeline reads nothing here);
* ``sim.json``: the settings and the weeks finished (written after each week, atomically).

A week: the pipeline's jobs run for the week (``--via jobs``: each job in its own process,
in the DAG's order, exit 99 a skip; ``--via airflow``: ``airflow dags test``), each listener
with a playlist is in the arm ``experiment.arms`` draws for them (the policies of
:mod:`jobs.feedback.arms`), and then :func:`jobs.tools.world.live.live_week` draws the
week's own plays and the answers to the published lists, written into ``data/raw`` for the
next week's run. A killed run continues from the first week not finished (that week is
redone from its start: every step replaces what it writes). Deterministic for a seed.
``--report`` only writes ``loop.json`` and ``loop.html`` (weekly curves per arm) from what is
there; they are also written at the end of every run.

Run alone::

    python -m jobs.tools.simulate --weeks 8 --size tiny --out /tmp/sim
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import WorldConf, build_config, load_config
from jobs.runtime.airflow_env import ROOT, airflow_env
from jobs.runtime.cli import SKIPPED, one_line_errors
from jobs.tools.world.cli import TINY, generate, generator_version_of
from jobs.tools.world.live import SimWorld, live_week, load_sim_world, write_week
from jobs.warehouse.atomic import write_json_atomic
from jobs.warehouse.weeks import shift, week_of

log = logging.getLogger("simulate")

SIZES: dict[str, dict[str, Any]] = {
    "tiny": TINY,
    "small": {
        "users": 400,
        "artists": 48,
        "tracks": 600,
        "new_releases": 20,
        "weeks": 8,
        "plays_per_user_week": 12.0,
        "clip_seconds": 3.0,
    },
    "sample": {},
}
FAST_STEPS = (
    "ingest",
    "als",
    "song_vectors",
    "taste_vectors",
    "crawl",
    "culture_terms",
    "bandit",
    "listener_models",
    "ahdqn",
    "merge",
    "validate",
)
AUDIO_STEPS = ("audio_features --quiet", "audio_cnn train", "audio_cnn infer", "taste_clusters")


class SimulationError(RuntimeError):
    """A step of the loop failed; the message names the step, the week and its log."""


def world_conf(size: str, seed: int) -> WorldConf:
    base = load_config().world.__dict__
    return build_config({"world": {**base, **SIZES[size], "seed": seed}}).world


def steps(full: bool) -> list[str]:
    if not full:
        return list(FAST_STEPS)
    return [*FAST_STEPS[:4], *AUDIO_STEPS, *FAST_STEPS[4:]]


# the run metrics' name of a step whose name says otherwise (the names :data:`jobs.runtime.reuse.STEPS` uses)
METRICS_NAME = {"audio_cnn train": "audio_cnn", "audio_cnn infer": "audio_infer", "culture_terms": "culture"}


def step_name(step: str) -> str:
    """A step's name in logs and times: its job (``audio_cnn train``: job and command)."""
    words = step.split()
    return " ".join(words[:2]) if words[0] == "audio_cnn" else words[0]


def step_graph(full: bool) -> dict[str, list[str]]:
    """Each step of a week (``--via jobs``, by :func:`step_name`) and the steps it waits for: the
    DAG's edges (:data:`jobs.runtime.reuse.STEPS`); the merge waits for every other step, validate
    for the merge."""
    from jobs.runtime.reuse import STEPS

    names = [step_name(step) for step in steps(full)]
    by_metrics = {METRICS_NAME.get(name, name): name for name in names}
    graph: dict[str, list[str]] = {}
    for metrics, name in by_metrics.items():
        if metrics == "merge":
            graph[name] = [n for n in names if n not in ("merge", "validate")]
        elif metrics == "validate":
            graph[name] = ["merge"]
        else:
            graph[name] = [by_metrics[u] for u in STEPS[metrics].upstream if u in by_metrics]
    return graph


def run_pipeline(
    week: str, env: dict[str, str], logs: Path, via: str, full: bool, parallel: int = 1
) -> dict[str, float]:
    """Build and publish ``week``; seconds per step (``--via jobs``: up to ``parallel`` steps at
    once, each when the steps it reads are done; a skip counts as done)."""
    logs.mkdir(parents=True, exist_ok=True)
    if via == "airflow":
        from jobs.warehouse.weeks import week_start

        date = f"{week_start(week).isoformat()}T06:00:00+00:00"
        cmds = {"dag": ["airflow", "dags", "test", "discover_weekly", date, "-c", json.dumps({"week": week})]}
        return run_commands(week, cmds, {"dag": []}, env, logs, 1)
    cmds = {}
    for step in steps(full):
        words = step.split()
        cmds[step_name(step)] = [sys.executable, "-m", f"jobs.{words[0]}", *words[1:], "--week", week]
    return run_commands(week, cmds, step_graph(full), env, logs, max(1, parallel))


def run_commands(
    week: str,
    cmds: dict[str, list[str]],
    graph: dict[str, list[str]],
    env: dict[str, str],
    logs: Path,
    parallel: int,
) -> dict[str, float]:
    """Run ``cmds`` (in their order where free to choose) once each of their ``graph`` predecessors
    ended, at most ``parallel`` at a time; seconds per command. The first failure stops the start
    of new ones, waits for those running, and raises :class:`SimulationError` with its log's tail."""
    times: dict[str, float] = {}
    running: dict[str, tuple[subprocess.Popen, Any, float, Path]] = {}
    waiting = list(cmds)
    failed: str | None = None
    try:
        while waiting or running:
            ready = [n for n in waiting if all(d in times for d in graph[n])] if failed is None else []
            for name in ready[: parallel - len(running)]:
                waiting.remove(name)
                path = logs / f"{week}-{name.replace(' ', '_')}.log"
                fh = path.open("w")
                proc = subprocess.Popen(cmds[name], env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
                running[name] = (proc, fh, time.perf_counter(), path)
            if not running:
                break  # a failure left steps waiting
            time.sleep(0.2)
            for name, (proc, fh, t0, path) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                fh.close()
                del running[name]
                times[name] = round(time.perf_counter() - t0, 1)
                if code not in (0, SKIPPED) and failed is None:
                    tail = "\n".join(path.read_text(errors="replace").splitlines()[-25:])
                    failed = f"{week}: {' '.join(cmds[name][1:4])} failed (exit {code}); log {path}:\n{tail}"
    finally:  # interrupted (Ctrl-C): no step is left running
        for proc, fh, _, _ in running.values():
            proc.terminate()
            proc.wait()
            fh.close()
    if failed:
        raise SimulationError(failed)
    return times


def setting_env(sets: list[str]) -> dict[str, str]:
    """``section.key=value`` settings as the jobs' environment overrides (``DW__SECTION__KEY``)."""
    env = {}
    for item in sets:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not section or not name:
            raise SimulationError(f"--set {item!r}: expected section.key=value")
        env[f"DW__{section.upper()}__{name.upper()}"] = value
    return env


def read_state(out: Path) -> dict[str, Any] | None:
    path = out / "sim.json"
    return json.loads(path.read_text()) if path.is_file() else None


def fatigue_after(out: Path, sim: SimWorld, weeks: list[str]) -> np.ndarray:
    """Each listener's fatigue after the finished ``weeks`` (stored with the last one's responses)."""
    if not weeks:
        return np.zeros(sim.users)
    path = out / "truth" / "fatigue" / f"{weeks[-1]}.npy"
    return np.load(path)


def simulate(
    out: Path,
    weeks: int,
    size: str,
    seed: int,
    arms: str,
    via: str = "jobs",
    full: bool = False,
    extra_env: dict[str, str] | None = None,
    sets: list[str] | None = None,
    parallel: int | None = None,
) -> dict[str, Any]:
    """Run (or continue) the loop in ``out`` until ``weeks`` weeks are finished; returns the state.

    ``sets``: ``section.key=value`` settings for every job (e.g. ``als.save_weight=0``);
    ``parallel``: steps at once (default: the configuration's ``dag.parallelism``)."""
    out = out.resolve()
    settings = {"size": size, "seed": seed, "arms": arms, "via": via, "full": full}
    if sets:
        settings["set"] = sorted(sets)
    state = read_state(out) or {"settings": settings, "weeks_done": [], "times": {}}
    if state["settings"] != settings:
        raise SimulationError(
            f"{out} holds a simulation with {state['settings']}, not {settings}: give another --out, or remove it"
        )
    conf = world_conf(size, seed)
    data = out / "data"
    if generator_version_of(data) is None:
        log.info("generating the %s world (seed %s) in %s", size, seed, data)
        generate(conf, data, with_audio=full, with_web=True)
    sim = load_sim_world(conf)
    first = week_of(sim.end)
    env = airflow_env(
        out / "airflow",
        data,
        out / "warehouse",
        out / "checkpoints",
        {
            "DW__DAG__RETRIES": "0",
            "DW__EXPERIMENT__ARMS": "[" + ", ".join(a.strip() for a in arms.split(",")) + "]",
            "DW__TUNE__APPLY": "false",
            **setting_env(sets or []),
            **(extra_env or {}),
        },
    )
    env.pop("DW_CONF", None)
    if via == "airflow":
        subprocess.run(["airflow", "db", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    done: list[str] = state["weeks_done"]
    while len(done) < weeks:
        week = shift(first, len(done))
        t0 = time.perf_counter()
        times = run_pipeline(week, env, out / "logs", via, full, parallel or load_config().dag.parallelism)
        wall = time.perf_counter() - t0
        shown = pd.read_parquet(out / "warehouse" / "discover_weekly" / f"week={week}")
        lived = live_week(sim, week, shown, fatigue_after(out, sim, done), seed)
        write_week(lived, data, week)
        truth = out / "truth"
        (truth / "responses").mkdir(parents=True, exist_ok=True)
        (truth / "fatigue").mkdir(parents=True, exist_ok=True)
        lived.responses.to_parquet(truth / "responses" / f"{week}.parquet", index=False)
        np.save(truth / "fatigue" / f"{week}.npy", lived.fatigue)
        done.append(week)
        state["times"][week] = {**times, "total": round(time.perf_counter() - t0, 1)}
        write_json_atomic(out / "sim.json", state)
        r = lived.responses
        print(
            f"  {week} ({len(done)}/{weeks}): pipeline {wall:.0f} s; "
            f"{r['user'].nunique() if len(r) else 0} playlists, stream rate "
            f"{(r['streamed'].mean() if len(r) else 0):.3f}, {int(r['saved'].sum()) if len(r) else 0} saves, "
            f"{len(lived.plays)} plays lived",
            flush=True,
        )
    return state


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.tools.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--arms", default="als,blend,bart", help="experiment.arms: the policies listeners are split into"
    )
    parser.add_argument("--out", type=Path, help="the simulation folder (default data/sim-<size>-<seed>)")
    parser.add_argument("--via", choices=("jobs", "airflow"), default="jobs")
    parser.add_argument("--full", action="store_true", help="also the audio steps (clips generated; slower)")
    parser.add_argument(
        "--set", action="append", default=[], dest="sets", help="section.key=value for every job (repeatable)"
    )
    parser.add_argument("--parallel", type=int, help="steps at once (default: the configuration's dag.parallelism)")
    parser.add_argument("--report", action="store_true", help="only write loop.json and loop.html from what is there")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = args.out or ROOT / "data" / f"sim-{args.size}-{args.seed}"
    from jobs.tools.loop_report import write_loop_report

    if not args.report:
        t0 = time.perf_counter()
        simulate(
            out,
            args.weeks,
            args.size,
            args.seed,
            args.arms,
            args.via,
            args.full,
            sets=args.sets,
            parallel=args.parallel,
        )
        print(f">> {args.weeks} simulated weeks in {out} ({time.perf_counter() - t0:.0f} s)")
    paths = write_loop_report(out)
    print(f">> weekly curves: {paths[1]} (figures: {paths[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
