"""A real Airflow (API server, scheduler, DAG processor) started with `make airflow` on 127.0.0.1:
trigger discover_weekly for a week through the REST API, wait for success, check the table, stop it."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pyarrow.parquet as pq
import pytest

from jobs.warehouse.store import Warehouse
from tests.airflow_env import ROOT, copy_warehouse

WEEK = "2026-W47"
pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.spark, pytest.mark.tf]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def _wait(check, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what} (last: {last})")


def _session_processes(sid: int) -> list[str]:
    """Live (not zombie) processes of the session `make airflow` was started in."""
    listing = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(sid)], capture_output=True, text=True)
    return [line for line in listing.stdout.splitlines() if "Z" not in line.split()[1]]


def test_make_airflow_runs_a_week_triggered_through_the_rest_api(tiny_world, tiny_week, tmp_path):
    """On a copy of the week computed once (``tiny_week``): the steps are reused, the scheduler is what is tested."""
    port = _free_port()
    copy_warehouse(tiny_week, tmp_path / "wh")
    env = {
        **os.environ,
        "DW_AIRFLOW_HOME": str(tmp_path / "airflow"),
        "DW_DATA": str(tiny_world),
        "DW_WAREHOUSE": str(tmp_path / "wh"),
        "DW__PATHS__CHECKPOINTS": str(tmp_path / "ckpt"),
        "DW__DAG__RETRIES": "0",
        "DW_SCHEDULE": "none",
        "DW__SPARK__DRIVER_MEMORY": "1g",
    }
    env.pop("AIRFLOW_HOME", None)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "airflow", f"AIRFLOW_PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=open(tmp_path / "make-airflow.log", "w"),  # noqa: SIM115 - the servers outlive this statement
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api/v2"
    try:
        _wait(lambda: _call(f"{api}/version").get("version"), 180, "the API server")
        _wait(
            lambda: any(d["dag_id"] == "discover_weekly" for d in _call(f"{api}/dags")["dags"]),
            120,
            "the DAG processor to parse the DAG",
        )
        run = _call(
            f"{api}/dags/discover_weekly/dagRuns",
            "POST",
            {"logical_date": "2026-11-16T06:00:00Z", "conf": {"week": WEEK}},
        )
        _call(f"{api}/dags/discover_weekly", "PATCH", {"is_paused": False})
        run_id = urllib.parse.quote(run["dag_run_id"], safe="")
        state = _wait(
            lambda: (
                (s := _call(f"{api}/dags/discover_weekly/dagRuns/{run_id}")["state"]) in ("success", "failed") and s
            ),
            900,
            "the DAG run to finish",
        )
        if state != "success":
            tis = _call(f"{api}/dags/discover_weekly/dagRuns/{run_id}/taskInstances")["task_instances"]
            pytest.fail(f"run ended {state}: {[(t['task_id'], t['state']) for t in tis]}")
        table = pq.read_table(tmp_path / "wh" / "discover_weekly" / f"week={WEEK}").to_pandas()
        assert (table.groupby("user_id").size() == 30).all() and table["user_id"].nunique() > 50
        assert (tmp_path / "wh" / "reports" / f"week={WEEK}" / "report.html").exists()
        reused = {job for job, m in Warehouse(tmp_path / "wh").read_metrics(WEEK).items() if m.get("reused")}
        assert {"ingest", "als", "audio_cnn", "taste_vectors"} <= reused
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # what Ctrl-C does: bin/airflow-local stops all it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        leftovers = _session_processes(proc.pid)
        # processes that got SIGKILL may take a moment to be reaped, and on a loaded machine the API
        # server took over 10 s to finish its shutdown after SIGTERM (CI with other work beside it)
        for _ in range(60):
            if not leftovers:
                break
            time.sleep(0.5)
            leftovers = _session_processes(proc.pid)
        if leftovers:  # never leave executor workers behind, even if the assertion below fails
            subprocess.run(["pkill", "-KILL", "-s", str(proc.pid)], check=False)
        assert leftovers == [], f"processes left running after stop: {leftovers}"
    with socket.socket() as s:  # stopped: nothing listens any more
        assert s.connect_ex(("127.0.0.1", port)) != 0
