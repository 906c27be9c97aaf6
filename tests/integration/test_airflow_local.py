"""bin/airflow-local's own supervision, with a stand-in `airflow` program on PATH (the real
three processes are exercised by test_airflow_scheduler.py): a taken port is refused before
anything starts, and a process that dies is named with its log and ends the others."""

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_AIRFLOW = """#!/usr/bin/env bash
case "$1" in
  api-server) echo "ERROR: [Errno 98] error while attempting to bind on address: address already in use"; exit 1 ;;
  *) exec sleep 60 ;;
esac
"""


def _run(tmp_path, port, fake=FAKE_AIRFLOW):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "airflow").write_text(fake)
    (bin_dir / "airflow").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AIRFLOW_HOME": str(tmp_path)}
    return subprocess.run(
        [str(ROOT / "bin" / "airflow-local"), str(port)], env=env, capture_output=True, text=True, timeout=60
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_taken_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        done = _run(tmp_path, s.getsockname()[1])
    assert done.returncode == 2
    assert "already in use" in done.stdout
    assert not (tmp_path / "scheduler.log").exists()


def test_the_worker_log_server_port_is_refused(tmp_path):
    done = _run(tmp_path, 8793)
    assert done.returncode == 2
    assert "worker log server port" in done.stdout


def test_a_process_that_dies_is_named_and_the_others_are_stopped(tmp_path):
    done = _run(tmp_path, _free_port())
    assert done.returncode == 1
    assert "the Airflow api-server exited with code 1" in done.stdout
    assert "address already in use" in done.stdout  # the last lines of its own log
    assert "stopping Airflow" in done.stdout
    left = subprocess.run(["pgrep", "-f", "sleep 60$"], capture_output=True, text=True).stdout.split()
    mine = [p for p in left if str(tmp_path) in Path(f"/proc/{p}/environ").read_bytes().decode(errors="replace")]
    assert mine == []
