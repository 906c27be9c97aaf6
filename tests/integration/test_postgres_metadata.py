"""Airflow with PostgreSQL as its metadata database: a throw-away PostgreSQL server on 127.0.0.1,
``airflow db migrate`` against it, then the whole discover_weekly DAG through ``airflow dags test`` on
the tiny world; the run, its task instances and the DAG's serialized form are rows in PostgreSQL, and
no SQLite file is made. The run starts from a copy of the week computed once (the ``tiny_week``
fixture), so its steps are reused: it tests Airflow on PostgreSQL, not the jobs again.

Needs the PostgreSQL server programs (initdb, pg_ctl, postgres; found on PATH, in /usr/local/bin or
in /usr/lib/postgresql/<version>/bin); skipped with the reason when they are missing. PostgreSQL
refuses to run as root, so as root the server runs as an unprivileged user (``postgres`` or
``nobody``, through ``runuser``) in a directory of its own under the system temp dir (pytest's
tmp_path is private to root).
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobs.warehouse.store import Warehouse
from tests.airflow_env import ROOT, airflow_env, copy_warehouse

WEEK = "2026-W47"
LOGICAL_DATE = "2026-11-16T06:00:00+00:00"
DATABASE = "airflow_meta"
ROLE = "airflow"

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.spark, pytest.mark.tf]


def _server_program(name: str) -> str | None:
    """initdb / pg_ctl: on PATH, in /usr/local/bin, else in the newest /usr/lib/postgresql/<v>/bin."""
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin")
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    return versions[-1] if versions else None


def _run_as() -> list[str]:
    """The command prefix that runs a program as an unprivileged user ([] when we are not root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return [runuser, "-u", user, "--"]
    pytest.skip("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check(cmd: list[str], what: str, log: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        server_log = log.read_text()[-4000:] if log is not None and log.exists() else ""
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-80:])
        pytest.fail(f"{what} failed ({proc.returncode}):\n{tail}\n{server_log}")
    return proc


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on 127.0.0.1 with an empty database for Airflow; yields its SQLAlchemy URL."""
    initdb, pg_ctl = _server_program("initdb"), _server_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip(
            "PostgreSQL server programs (initdb, pg_ctl) not found on PATH, /usr/local/bin or /usr/lib/postgresql"
        )
    as_user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="dw-pg-"))
    if as_user:
        user = as_user[2]
        shutil.chown(base, user, user)
    data, log, port = base / "data", base / "postgres.log", _free_port()
    started = False
    try:
        _check(
            [*as_user, initdb, "-D", str(data), "-U", ROLE, "--auth=trust", "-E", "UTF8", "--no-instructions"], "initdb"
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
        started = True  # from here on a server may be running: always try to stop it
        _check(
            [*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
            "pg_ctl start",
            log,
        )
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user=ROLE, dbname="postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            conn.close()
        yield {"url": f"postgresql+psycopg2://{ROLE}@127.0.0.1:{port}/{DATABASE}", "port": port}
    finally:
        if started:
            subprocess.run(
                [*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"], capture_output=True
            )
        shutil.rmtree(base, ignore_errors=True)


def _query(postgres, sql: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=postgres["port"], user=ROLE, dbname=DATABASE)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_the_weekly_dag_runs_with_its_metadata_in_postgres(postgres, tiny_world, tiny_week, tmp_path):
    home, warehouse = tmp_path / "airflow", copy_warehouse(tiny_week, tmp_path / "warehouse")
    env = airflow_env(home, tiny_world, warehouse)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = postgres["url"]
    airflow = [sys.executable, "-m", "airflow"]

    conn = _check(
        [*airflow, "config", "get-value", "database", "sql_alchemy_conn"], "airflow config", env=env, cwd=ROOT
    )
    assert conn.stdout.strip() == postgres["url"]
    _check([*airflow, "db", "migrate"], "airflow db migrate", env=env, cwd=ROOT, timeout=600)
    _check(
        [*airflow, "dags", "test", "discover_weekly", LOGICAL_DATE],
        "airflow dags test",
        env=env,
        cwd=ROOT,
        timeout=1200,
    )

    runs = _query(postgres, "SELECT state, run_type FROM dag_run WHERE dag_id = 'discover_weekly'")
    assert runs == [("success", "manual")]
    states = dict(_query(postgres, "SELECT task_id, state FROM task_instance WHERE dag_id = 'discover_weekly'"))
    # every task succeeds but the bandit, which skips: no arm of the default experiment uses it
    assert len(states) == 19 and states.pop("bandit") == states.pop("ahdqn") == "skipped", states
    assert set(states.values()) == {"success"}, states
    assert _query(postgres, "SELECT count(*) FROM serialized_dag WHERE dag_id = 'discover_weekly'") == [(1,)]
    assert _query(
        postgres, "SELECT count(*) FROM xcom WHERE dag_id = 'discover_weekly' AND task_id = 'resolve_week'"
    ) == [(1,)]
    assert not list(home.glob("*.db")), "Airflow made a SQLite database although PostgreSQL was configured"

    table = pq.read_table(warehouse / "discover_weekly" / f"week={WEEK}").to_pandas()
    assert table["user_id"].nunique() > 50 and (table.groupby("user_id").size() == 30).all()
    reused = {job for job, m in Warehouse(warehouse).read_metrics(WEEK).items() if m.get("reused")}
    assert {"ingest", "als", "audio_cnn", "taste_vectors"} <= reused  # the copy's steps, not computed again
