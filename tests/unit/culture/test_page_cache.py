"""Terms per page kept under the hash of its text: unchanged pages skip spaCy, and the tables never change."""

import hashlib
import shutil

import pandas as pd
import pytest

from jobs import culture_terms as culture
from jobs.culture import page_cache
from jobs.culture import terms as culture_lib
from tests.conftest import make_config

NAMES = ["Kalo Mira", "The Dodos", "Vepa Luka"]
TEXTS = [
    "Kalo Mira play hypnotic techno in a dark warehouse. The Dodos love it.",
    "The Dodos play hypnotic techno in a dark warehouse with gritty verses.",
    "Vepa Luka sing gentle ballads by an open fire. Kalo Mira is loud.",
    "Nothing here names anyone at all.",
]


@pytest.fixture(scope="module")
def nlp():
    return culture_lib.load_nlp()


def _week(tmp_path, texts, names=NAMES, **culture_conf):
    data, wh = tmp_path / "data", tmp_path / "wh"
    (data / "catalog").mkdir(parents=True, exist_ok=True)
    ids = [f"a{i}" for i in range(len(names))]
    pd.DataFrame({"artist_id": ids, "name": names}).to_csv(data / "catalog" / "artists.csv", index=False)
    pages = pd.DataFrame({"url": [f"file:///p{i}.html" for i in range(len(texts))], "text": texts, "outcome": "ok"})
    (wh / "pages" / "week=2026-W47").mkdir(parents=True, exist_ok=True)
    pages.to_parquet(wh / "pages" / "week=2026-W47" / "part-0.parquet")
    return make_config(data, wh, culture=culture_conf)


def _digest(config):
    out = {}
    for table in ("cultural_terms", "artist_similarity"):
        files = sorted((config.paths.warehouse / table / "week=2026-W47").rglob("*.parquet"))
        out[table] = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    return out


@pytest.fixture
def counting_nlp(nlp, monkeypatch):
    """spaCy as the job loads it, counting the pages it reads."""
    read: list[str] = []

    class Counting:
        vocab = nlp.vocab

        def make_doc(self, text):
            return nlp.make_doc(text)

        def pipe(self, texts, **kwargs):
            texts = list(texts)
            read.extend(texts)
            return nlp.pipe(texts, **kwargs)

    monkeypatch.setattr(culture, "load_nlp", Counting)
    return read


def test_unchanged_pages_are_not_read_again_and_the_tables_stay_the_same(tmp_path, counting_nlp):
    config = _week(tmp_path, TEXTS)
    first = culture.run(config, "2026-W47")
    assert first["pages_from_cache"] == 0 and len(counting_nlp) == 4
    cold = _digest(config)
    second = culture.run(config, "2026-W47")
    assert second["pages_from_cache"] == 4 and len(counting_nlp) == 4  # spaCy read nothing
    assert _digest(config) == cold
    _week(tmp_path, [*TEXTS[:3], "The Dodos are loud and gritty."])  # one page changed
    third = culture.run(config, "2026-W47")
    assert third["pages_from_cache"] == 3 and counting_nlp[4:] == ["The Dodos are loud and gritty."]


def test_deleting_the_cache_or_turning_it_off_changes_no_table(tmp_path, counting_nlp):
    config = _week(tmp_path, TEXTS)
    culture.run(config, "2026-W47")
    warm = _digest(config)
    shutil.rmtree(config.paths.cache)
    assert culture.run(config, "2026-W47")["pages_from_cache"] == 0
    assert _digest(config) == warm
    off = config.model_copy(update={"culture": config.culture.model_copy(update={"cache": False})})
    assert culture.run(off, "2026-W47")["pages_from_cache"] == 0
    assert _digest(off) == warm


def test_a_new_artist_or_window_is_a_new_version(tmp_path):
    config = _week(tmp_path, TEXTS)
    artists = pd.read_csv(config.paths.data / "catalog" / "artists.csv")
    version = page_cache.terms_version(config.culture, artists)
    assert page_cache.terms_version(config.culture, artists) == version
    more = pd.concat([artists, pd.DataFrame({"artist_id": ["a9"], "name": ["Gentle Ballads"]})])
    assert page_cache.terms_version(config.culture, more) != version
    tokens = config.culture.model_copy(update={"window": "tokens"})
    assert page_cache.terms_version(tokens, artists) != version


def test_cached_counts_equal_spacys_in_their_order(nlp, tmp_path):
    artists = pd.DataFrame({"artist_id": ["a0", "a1", "a2"], "name": NAMES})
    config = _week(tmp_path, TEXTS)
    matcher = culture_lib.build_matcher(nlp, artists)

    def extract(batch):
        return [culture_lib.page_terms(doc, matcher, config.culture) for doc in nlp.pipe(batch)]

    fresh, hits = page_cache.counts_by_page(TEXTS, extract, tmp_path / "c")
    again, hits2 = page_cache.counts_by_page(TEXTS, extract, tmp_path / "c")
    assert (hits, hits2) == (0, 4)
    assert [{a: list(c.items()) for a, c in p.items()} for p in again] == [
        {a: list(c.items()) for a, c in p.items()} for p in fresh
    ]
    merged = culture_lib.merge_counts(again)
    direct = culture_lib.terms_near_mentions(list(nlp.pipe(TEXTS)), matcher, config.culture)
    assert {a: list(c.items()) for a, c in merged.items()} == {a: list(c.items()) for a, c in direct.items()}
