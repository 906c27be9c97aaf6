"""discover_weekly: every Monday 06:00 UTC, publish 30 unheard songs per active listener.

Wiring only: each task runs a job from ``jobs/`` (runnable alone, see its docstring).
Spark jobs go through ``spark-submit`` via the Spark provider's SparkSubmitOperator, so
the ``spark_default`` connection alone decides where they run (``local[2]`` by default,
a ``spark://``, YARN or Kubernetes master on a cluster). The project's code is shipped to
executors as ``build/pipeline.zip`` (``--py-files``), rebuilt by the ``package_code`` task.

Trigger a given week by hand (the ``week`` param wins over the logical date; any ISO week,
1998's too; ``make run WEEK=W`` passes it the same way)::

    airflow dags trigger discover_weekly -c '{"week": "2026-W47"}'
    airflow dags test discover_weekly 2026-11-16T06:00:00+00:00 -c '{"week": "2026-W47"}'

``start_date`` is ``dag.start_date`` (1970-01-05) so that any week's Monday is a logical
date Airflow runs tasks for; ``catchup=False``, so the scheduler still creates only the
latest Monday's run. A scheduler creates the DAG paused (``dag.paused_on_creation``): the
Monday schedule starts after ``airflow dags unpause discover_weekly``.

Flow::

    resolve_week, package_code -> ingest -> als --------------+
    resolve_week -> audio_features --+-> audio_train -> audio_infer -+-> merge -> validate -> report
                               als --+          audio_infer -> taste_clusters -+                ^
                                     +-> audio_eval ----------------------------------------------+
    resolve_week -> crawl -> culture --------------------------------+
           ingest -> song_vectors -> taste_vectors ------------------+
           ingest -> bandit ------------------------------------------+
    als, audio_infer, taste_vectors -> listener_models -> ahdqn -------+

``audio_eval`` is the CNN's cold-start evaluation: it trains its own CNN from random weights,
so it runs beside ``audio_train``, and only the report waits for it (the report runs when
no upstream failed, a skipped evaluation included).

``listener_models`` trains the per-listener content model and the user model on the weeks
before the run week; ``ahdqn`` builds the world model on the user model, trains the
action-head DQN against it and orders the ``ahdqn`` arm's playlists (it skips when no listener
is in that arm: ``playlist.policy``, ``experiment.arms``).

``bandit`` trains BaRT's reward model on the exposures logged in earlier weeks (it skips
until there are ``bandit.min_exposures``); the merge fills the ``bart`` arm's bandit places
with it (``experiment.arms``, ``bandit.*``) and leaves the week's ``exposures`` and
``bandit_actions`` beside the table, which ``validate`` publishes with it.

``merge`` leaves the table out of sight; ``validate`` checks every rule and only then
publishes the week. An audio, culture or sequence step with too little input (no audio,
too few tracks with audio and plays, no seeds, no page text, too few sessions) skips: it
writes ``"skipped": <reason>`` in its run metrics and exits 99, which Airflow records as
the task's ``skipped`` state (``skip_on_exit_code``). The steps after it run under the
``none_failed`` trigger rule: each sees that its input is missing, removes its own
outputs of an earlier run of the week and skips in turn (its reason names the upstream
skip), and the merge runs with what exists (it says so in its metrics). A missing ALS
output or a corrupt input fails the run.

The audio tasks (spectrograms and attributes, CNN training, inference) and the sequence
tasks (word2vec song vectors with their Annoy index, the RNN's taste vectors) run as their
own processes so the Airflow worker never imports TensorFlow, gensim or librosa. Too few
sessions to learn from is a skip like the audio ones: the merge then runs without the
``sequence`` source. ``taste_clusters`` groups each listener's recent tracks by their audio
vectors; the merge allots playlist places to the groups (it skips with the audio steps).

Settings come from the project configuration, loaded when this file is parsed (see
``jobs/config/sections.py``): Spark driver and executor memory from ``spark``, task retries
and their first delay, the start date and the pause on creation from ``dag`` (e.g.
``DW__DAG__RETRIES=0``, ``DW__SPARK__DRIVER_MEMORY=8g``).
An invalid configuration is an import error of this DAG, naming the key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, TriggerRule, task

from jobs.config import load_config  # the project is installed (make setup); pydantic + yaml only
from jobs.runtime import dag_parts

ROOT = Path(os.environ.get("DW_PROJECT_ROOT") or Path(__file__).resolve().parents[1])

CONFIG = load_config()
PYTHON = os.environ.get("DW_PYTHON") or sys.executable
SKIPPED = 99  # a job's exit code for "skipped" (jobs.runtime.cli.SKIPPED; not imported: it pulls in pyarrow)
SPARK_CONN = os.environ.get("DW_SPARK_CONN_ID", "spark_default")
# Mondays 06:00 UTC; DW_SCHEDULE=none turns the schedule off (a sandbox that only takes manual runs)
SCHEDULE = os.environ.get("DW_SCHEDULE", "0 6 * * 1")
JOB_ENV = dag_parts.job_env(ROOT, PYTHON)
WEEK = dag_parts.WEEK

with DAG(
    dag_id="discover_weekly",
    description="Weekly 30-song playlists of unheard tracks for every active listener",
    schedule=None if SCHEDULE.lower() == "none" else SCHEDULE,
    start_date=dag_parts.start_date(CONFIG),  # early: any week may be run (make run does)
    catchup=False,
    is_paused_upon_creation=CONFIG.dag.paused_on_creation,
    max_active_runs=1,
    default_args=dag_parts.default_args(CONFIG, timeout_hours=2),
    params={"week": dag_parts.week_param("ISO week to build, e.g. 2026-W47; empty = the week of the logical date")},
    tags=["recsys", "discover-weekly"],
    doc_md=__doc__,
) as dag:

    @task
    def resolve_week(params: dict | None = None, dag_run=None) -> str:  # noqa: ANN001 - Airflow injects it
        """The run's ISO week: the ``week`` param, else the week of the logical date."""
        return dag_parts.run_week(params, dag_run)

    @task
    def package_code() -> str:
        """Zip jobs/ and schemas/ for --py-files; returns the zip's path."""
        from jobs.runtime.package import build_zip

        return str(build_zip(ROOT))

    week = resolve_week()
    code = package_code()

    spark_common = {
        "conn_id": SPARK_CONN,
        "py_files": "{{ ti.xcom_pull(task_ids='package_code') }}",
        "application_args": ["--week", WEEK],
        "env_vars": JOB_ENV,
        "driver_memory": CONFIG.spark.driver_memory,
        "executor_memory": CONFIG.spark.executor_memory,
    }
    ingest = SparkSubmitOperator(
        task_id="ingest", application=str(ROOT / "jobs" / "ingest.py"), name="dw-ingest", **spark_common
    )
    als = SparkSubmitOperator(task_id="als", application=str(ROOT / "jobs" / "als.py"), name="dw-als", **spark_common)

    def job(task_id: str, command: str, after_skips: bool = False, priority: int = 1) -> BashOperator:
        """A non-Spark job in its own process: ``python -m jobs.<command> --week W``.

        Exit 99 is a skip (:data:`jobs.runtime.cli.SKIPPED`). ``after_skips``: the task runs when
        no upstream failed, even if one skipped (it decides itself what a missing input means).
        ``priority``: the task's own weight; Airflow adds its downstream tasks' weights and
        gives a free slot to the ready task of the highest sum.
        """
        return BashOperator(
            task_id=task_id,
            bash_command=f"{PYTHON} -m jobs.{command} --week {WEEK}",
            cwd=str(ROOT),
            env=JOB_ENV,
            append_env=True,
            skip_on_exit_code=SKIPPED,
            trigger_rule=TriggerRule.NONE_FAILED if after_skips else TriggerRule.ALL_SUCCESS,
            priority_weight=priority,
        )

    merge = job("merge", "merge", after_skips=True)
    validate = job("validate", "validate")
    report = job("report", "report", after_skips=True)
    audio_features = job("audio_features", "audio_features --quiet")
    audio_train = job("audio_train", "audio_cnn train", after_skips=True)
    audio_infer = job("audio_infer", "audio_cnn infer", after_skips=True)
    audio_eval = job("audio_eval", "audio_cnn evaluate", after_skips=True)
    crawl = job("crawl", "crawl")
    culture = job("culture", "culture_terms", after_skips=True)
    song_vectors = job("song_vectors", "song_vectors")
    taste_vectors = job("taste_vectors", "taste_vectors", after_skips=True)
    taste_clusters = job("taste_clusters", "taste_clusters", after_skips=True)
    bandit = job("bandit", "bandit")
    # ready with taste_clusters, which has as many tasks after it, and three times as long: first
    listener_models = job("listener_models", "listener_models", after_skips=True, priority=3)
    ahdqn = job("ahdqn", "ahdqn", after_skips=True)

    [week, code] >> ingest >> als
    week >> audio_features
    [als, audio_features] >> audio_train >> audio_infer >> taste_clusters
    week >> crawl >> culture
    ingest >> song_vectors >> taste_vectors
    ingest >> bandit
    [als, audio_infer, taste_vectors] >> listener_models
    [listener_models, taste_clusters, culture] >> ahdqn
    [als, audio_infer, taste_clusters, culture, taste_vectors, bandit, ahdqn] >> merge >> validate >> report
    [als, audio_features] >> audio_eval >> report
