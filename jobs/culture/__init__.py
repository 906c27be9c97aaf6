"""Culture: web pages about artists -> weighted cultural terms and artist similarity.

* :mod:`~jobs.culture.crawler`: ``Fetched`` and ``Crawler``: robots.txt, politeness, bounds,
  scope (allow-list, address rules, ``file://`` roots), redirects by hand, retries,
  breadth-first crawl; the rules the crawl keeps are written there;
* :mod:`~jobs.culture.connections`: sockets with one read deadline per response, and the
  HTTP(S) connection pinned to the checked addresses (no second DNS lookup, no proxies);
* :mod:`~jobs.culture.urls`: ``normalise_url``, ``host_of``, ``origin_of``, ``resolve_host``,
  ``is_public_address``, ``file_path`` and ``read_seeds``;
* :mod:`~jobs.culture.html_text`: the forgiving tree builder, boilerplate and link-density
  rules, ``parse_html``;
* :mod:`~jobs.culture.encodings`: byte-order mark, header and ``<meta>`` charset, guesses;
* :mod:`~jobs.culture.terms`: spaCy mentions, the terms near them, tf-idf weights, artist
  similarity and its genre precision beside the references;
* :mod:`~jobs.culture.reference`: the plain tf-idf reference the cultural terms are judged against.

The stages are :mod:`jobs.crawl` (seeds -> ``pages``) and :mod:`jobs.culture_terms`
(``pages`` -> ``cultural_terms``, ``artist_similarity``, with spaCy).
"""
