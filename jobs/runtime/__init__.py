"""How a stage runs: its command line, exit codes, skips, run metrics, and the make targets around a DAG run.

* :mod:`~jobs.runtime.cli`: ``week_job`` (``--week``, ``--conf``, logging, timing, run
  metrics), the exit codes (0 done, 2 an expected failure, 99 :data:`~jobs.runtime.cli.SKIPPED`)
  and :func:`~jobs.runtime.cli.skipped`, the one way a step skips;
* :mod:`~jobs.runtime.runinfo`: the helpers ``make run`` calls (publish week, logical date,
  the summary, a failed run's tasks);
* :mod:`~jobs.runtime.package`: the code zip shipped to Spark executors (``--py-files``);
* :mod:`~jobs.runtime.airflow_env`: the environment for running the DAG outside ``make``.
"""
