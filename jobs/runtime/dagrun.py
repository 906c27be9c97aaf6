"""One DAG run through Airflow, its independent tasks at the same time: what ``make run`` calls.

Reads the configuration's ``dag.parallelism`` (or ``--parallelism``); writes the run's
log to ``LOG`` (and the execution API's to ``LOG`` with ``.api.log`` at the end); the
task logs are Airflow's own, under ``$AIRFLOW_HOME/logs/dag_id=.../run_id=.../``.

* ``parallelism`` 1: ``airflow dags test DAG DATE -c CONF``, every task one after
  the other in one process (Airflow's in-process execution API).
* ``parallelism`` N > 1: the same command with ``--use-executor`` under a
  ``LocalExecutor`` of N task slots. Its task processes reach the execution API over HTTP,
  so an ``airflow api-server --apps execution`` is started on 127.0.0.1 (a free port)
  for the run and stopped after it. Task states, retries and the per-task logs are
  Airflow's, as under a scheduler; the run's own log no longer holds the tasks' output
  in order, so a failure is reported from the task logs
  (:func:`jobs.runtime.runinfo.failed_tasks`).

Settings the executor mode needs (each one found by trying without it): a supervisor
notices its task ended only at its heartbeat interval (5 s by default; 1 s here, or a
task slot stays taken 5 s after each task); every task's token is made when the task can
be scheduled and lasts ``scheduler.task_queued_timeout`` (a day here, since a task can
wait for a slot longer than the default 10 minutes); and both processes share one JWT
secret made for the run.

``dags test`` runs in a process group of its own: on exit, Ctrl-C or SIGTERM the group
(the executor's workers and the tasks they run) is ended with it, and the API server is
stopped, so nothing is left behind. Exit status: that of ``dags test`` (1: a task failed).

Run alone (the Makefile sets AIRFLOW_HOME and the DAG folder)::

    python -m jobs.runtime.dagrun discover_weekly 2026-11-16T06:00:00+00:00 '{"week": "2026-W47"}' run.log
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

API_START_SECONDS = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def executor_env(parallelism: int, port: int, secret: str) -> dict[str, str]:
    """What ``dags test --use-executor`` and the API server need beyond the caller's environment."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "86400",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
    }


def _end_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to ``proc``'s process group, SIGKILL after ``grace`` seconds for what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


@contextlib.contextmanager
def execution_api(env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    """An ``airflow api-server`` (execution API only, one worker) on 127.0.0.1:``port`` while the block runs."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["airflow", "api-server", "--apps", "execution", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + API_START_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Airflow execution API did not start (exit {proc.returncode}); see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/execution/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the Airflow execution API gave no answer in {API_START_SECONDS} s; see {log}"
                    ) from None
                time.sleep(0.5)
        yield
    finally:
        _end_group(proc)


def run(dag_id: str, logical_date: str, conf: str, log: Path, parallelism: int) -> int:
    """``airflow dags test`` of one run, output to ``log``; its exit status."""
    cmd = ["airflow", "dags", "test", dag_id, logical_date, "-c", conf]
    env = dict(os.environ)
    api: contextlib.AbstractContextManager = contextlib.nullcontext()
    if parallelism > 1:
        port = free_port()
        env.update(executor_env(parallelism, port, secrets.token_urlsafe(32)))
        cmd.append("--use-executor")
        api = execution_api(env, port, log.with_name(log.name + ".api.log"))

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with api, open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                return proc.wait()
            finally:
                _end_group(proc)  # the executor's workers (and a killed run's tasks) go with it
    except KeyboardInterrupt:
        print(f"interrupted; the DAG run's processes are stopped (log: {log})", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.runtime.dagrun", description=__doc__.splitlines()[0])
    parser.add_argument("dag_id")
    parser.add_argument("logical_date")
    parser.add_argument("conf", help="the run's conf as JSON")
    parser.add_argument("log", type=Path)
    parser.add_argument("--parallelism", type=int, help="task slots (default: the configuration's dag.parallelism)")
    args = parser.parse_args(argv)
    if args.parallelism is None:
        from jobs.config import load_config

        args.parallelism = load_config().dag.parallelism
    try:
        return run(args.dag_id, args.logical_date, args.conf, args.log, max(1, args.parallelism))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
