"""Crawl: a polite, bounded web crawler that collects pages about artists.

The job reads the seeds (``<data>/web/seeds.txt`` plus ``crawl.seeds``) and the previous
week's ``pages`` partition (for conditional GETs), and writes the ``pages`` table
(``week=W``, one row per URL tried, with its outcome) and ``run_metrics/week=W/crawl.json``.

The package, one concern per module (import from the module itself, e.g.
``from jobs.crawl.urls import normalise_url``; nothing is re-exported here):

* ``job``: the entry point: ``previous_pages``, ``run`` (seeds -> crawl -> ``pages`` table and
  metrics), ``main``; what the job reads and writes, and its outcomes.
* ``crawler``: ``Fetched`` and ``Crawler``: robots.txt, politeness, bounds, scope (allow-list,
  address rules, ``file://`` roots), redirects by hand, retries, breadth-first crawl; the rules
  the crawl keeps are written there.
* ``connections``: sockets with one read deadline per response, and the HTTP(S) connection pinned
  to the checked addresses (no second DNS lookup, no environment proxies).
* ``urls``: ``normalise_url``, ``host_of``, ``origin_of``, ``resolve_host``, ``is_public_address``,
  ``file_path`` (``file://`` URL to a resolved path) and ``read_seeds``.
* ``html_text``: the forgiving tree builder, the boilerplate and link-density rules, ``parse_html``.
* ``encodings``: byte-order mark, header and ``<meta>`` charset, guesses: ``detect_encoding``,
  ``decode``, ``looks_binary``.

Run alone::

    python -m jobs.crawl --week 2026-W47
"""
