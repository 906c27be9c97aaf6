"""Tools that are not pipeline stages: the sample-world generator (``jobs.tools.world``) and
the playlist query (``jobs.tools.query``). The DAG never runs them; ``make world``, ``make run``
(the world, when missing) and ``make query`` do."""
