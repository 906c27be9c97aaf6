"""``culture.engine: spark``: spaCy reads the pages on Spark's executors and the tables are the local engine's,
byte for byte; a week whose pages all come from the page cache starts no session."""

import pytest

from jobs import culture_terms as culture
from jobs.culture import spark_engine
from tests.unit.culture.test_page_cache import TEXTS, _digest, _week

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # Spark's Python workers load spaCy: make test


@pytest.fixture
def sessions(spark, monkeypatch):
    """The test session in place of the job's own; the names of the sessions asked for."""
    asked: list[str] = []

    def session(_config, name, fn):
        asked.append(name)
        return fn(spark)

    monkeypatch.setattr(culture, "with_spark", session)
    return asked


def test_the_spark_engine_writes_the_local_engines_tables(tmp_path, sessions, monkeypatch):
    local = _week(tmp_path / "local", [*TEXTS, *TEXTS[:2]], cache=False)
    culture.run(local, "2026-W47")
    on_spark = _week(tmp_path / "spark", [*TEXTS, *TEXTS[:2]], cache=False, engine="spark")
    read = []
    real = spark_engine.spark_page_counts

    def counted(spark, texts, *args):
        read.extend(texts)
        return real(spark, texts, *args)

    monkeypatch.setattr(spark_engine, "spark_page_counts", counted)
    metrics = culture.run(on_spark, "2026-W47")
    assert sessions == ["dw-culture"] and len(read) == 6 and metrics["engine"] == "spark"
    assert _digest(on_spark) == _digest(local)
    assert metrics["artists_with_terms"] == 3


def test_pages_all_in_the_cache_start_no_session(tmp_path, sessions):
    config = _week(tmp_path, TEXTS, engine="spark")
    culture.run(config, "2026-W47")
    assert sessions == ["dw-culture"]
    assert culture.run(config, "2026-W47")["pages_from_cache"] == 4
    assert sessions == ["dw-culture"]


def test_spark_counts_keep_the_order_of_the_texts(spark):
    import pandas as pd

    from jobs.config import build_config
    from jobs.culture import terms

    artists = pd.DataFrame({"artist_id": ["a0", "a1", "a2"], "name": ["Kalo Mira", "The Dodos", "Vepa Luka"]})
    conf = build_config({}).culture
    nlp = terms.load_nlp()
    matcher = terms.build_matcher(nlp, artists)
    expected = [terms.page_terms(doc, matcher, conf) for doc in nlp.pipe(TEXTS)]
    got = spark_engine.spark_page_counts(spark, TEXTS, artists, conf, partitions=3)
    assert got == expected
    assert [list(c) for c in got] == [list(c) for c in expected]  # artists in order of first appearance
    assert [[list(v) for v in c.values()] for c in got] == [[list(v) for v in c.values()] for c in expected]
