"""Tools that are not pipeline stages: the sample-world generator (``jobs.tools.world``), the
playlist query (``jobs.tools.query``) and the settings tune (``jobs.tools.tune``, with its
evaluator ``jobs.tools.tune_eval``). The DAG never runs them; ``make world``, ``make run``
(the world, when missing), ``make query`` and ``make tune`` do."""
