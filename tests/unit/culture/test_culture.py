"""Culture: term extraction near mentions, tf-idf weighting and similarity on hand-written documents."""

import logging
import math
from collections import Counter

import pandas as pd
import pytest

from jobs import culture_terms as culture
from jobs.config import CultureConf
from jobs.culture import terms as culture_lib


@pytest.fixture(scope="module")
def nlp():
    return culture_lib.load_nlp()


def _terms(nlp, docs, names, conf=None):
    conf = conf or CultureConf()
    artists = pd.DataFrame({"artist_id": [f"a{i}" for i in range(len(names))], "name": names})
    matcher = culture_lib.build_matcher(nlp, artists)
    return culture_lib.terms_near_mentions(list(nlp.pipe(docs)), matcher, conf)


def test_terms_come_from_the_mention_sentence_lemmatised_without_names_or_stop_words(nlp):
    docs = [
        "KALO MIRA is a hypnotic techno act from Berlin. Their warehouse sets are relentless.",
        "Fans of the dodos love the gritty verses. The Dodos and Kalo Mira played together.",
    ]
    got = _terms(nlp, docs, ["Kalo Mira", "The Dodos"])
    assert dict(got["a0"]) == {
        ("adj", "hypnotic"): 1,
        ("n2", "hypnotic techno"): 1,
        ("n2", "techno act"): 1,
        ("np", "berlin"): 1,
        ("np", "hypnotic techno act"): 1,
    }
    # case-insensitive match, plural lemmatised, the second sentence adds nothing but names and stop words
    assert dict(got["a1"]) == {
        ("adj", "gritty"): 1,
        ("n2", "gritty verse"): 1,
        ("np", "fan"): 1,
        ("np", "gritty verse"): 1,
    }


def test_token_window_reaches_past_the_sentence(nlp):
    docs = ["Kalo Mira. Relentless drums."]
    sentence = _terms(nlp, docs, ["Kalo Mira"])
    window = _terms(nlp, docs, ["Kalo Mira"], CultureConf(window="tokens", window_tokens=4))
    assert ("adj", "relentless") not in sentence.get("a0", Counter())
    assert window["a0"][("adj", "relentless")] == 1


def test_weights_are_tf_idf_normalised_per_artist_and_type():
    counts = {
        "a1": Counter({("adj", "dark"): 3, ("adj", "loud"): 1, ("np", "riff"): 2}),
        "a2": Counter({("adj", "loud"): 2, ("adj", "sunny"): 1}),
        "a3": Counter({("adj", "loud"): 5}),
    }
    out = culture_lib.weigh_terms(counts, top_k=10)
    got = {(r.artist_id, r.term_type, r.term): r.score for r in out.itertuples()}
    # "loud" is everywhere: idf = log(3/3) = 0, so it is dropped; a3 has nothing left
    assert ("a1", "adj", "loud") not in got and not any(k[0] == "a3" for k in got)
    assert got[("a1", "adj", "dark")] == 1.0 and got[("a1", "np", "riff")] == 1.0
    assert got[("a2", "adj", "sunny")] == 1.0
    counts["a1"][("adj", "grim")] = 1
    out = culture_lib.weigh_terms(counts, top_k=10)
    score = out.set_index(["artist_id", "term"])["score"]
    assert score[("a1", "grim")] == pytest.approx((1 * math.log(3)) / (3 * math.log(3)), abs=1e-6)
    assert len(culture_lib.weigh_terms(counts, top_k=1).query("artist_id == 'a1' and term_type == 'adj'")) == 1


def test_similarity_ranks_the_artist_with_shared_terms_first():
    terms = pd.DataFrame(
        {
            "artist_id": ["a1", "a1", "a2", "a2", "a3"],
            "term": ["dark", "riff", "dark", "riff", "sunny"],
            "term_type": ["adj", "np", "adj", "np", "adj"],
            "score": [1.0, 0.5, 0.8, 0.4, 1.0],
        }
    )
    sims = culture_lib.similarity(terms, neighbours=2)
    first = sims.groupby("artist_id").head(1).set_index("artist_id")["neighbor_id"].to_dict()
    assert first == {"a1": "a2", "a2": "a1"}  # a3 shares nothing: no neighbour with similarity 0
    assert sims.set_index(["artist_id", "neighbor_id"])["similarity"][("a1", "a2")] == pytest.approx(1.0)


def test_no_pages_give_empty_tables_and_a_warning(tmp_path, caplog):
    from tests.conftest import make_config

    (tmp_path / "data" / "catalog").mkdir(parents=True)
    pd.DataFrame({"artist_id": ["a1"], "name": ["A"]}).to_csv(
        tmp_path / "data" / "catalog" / "artists.csv", index=False
    )
    with caplog.at_level(logging.WARNING, logger="culture"):
        metrics = culture.run(make_config(tmp_path / "data", tmp_path / "wh"), "2026-W47")
    assert metrics["pages"] == 0 and metrics["terms"] == 0
    assert "neighbour_genre_precision_at_5" not in metrics  # no truth/artist_genres.csv
    assert pd.read_parquet(tmp_path / "wh" / "cultural_terms" / "week=2026-W47").empty
    sims = pd.read_parquet(tmp_path / "wh" / "artist_similarity" / "week=2026-W47")
    assert sims.empty and list(sims.columns) == ["artist_id", "neighbor_id", "similarity"]
    assert any(r.levelno == logging.WARNING and "no page text" in r.getMessage() for r in caplog.records)


def test_overlapping_artist_names_count_once_for_the_longest(nlp):
    got = _terms(nlp, ["Kalo Mira is a hypnotic act. Kalo is a gritty duo."], ["Kalo", "Kalo Mira", "KALO MIRA"])
    assert ("adj", "hypnotic") in got["a1"] and ("adj", "hypnotic") in got["a2"]  # the same name: both count
    assert dict(got["a0"]) == {("adj", "gritty"): 1, ("n2", "gritty duo"): 1, ("np", "gritty duo"): 1}


def test_neighbour_genre_precision_known_answer():
    sims = pd.DataFrame(
        [
            # a1 (rock): 6 neighbours, only the 5 most similar count: a2, a3 rock, a4 jazz, a5 unknown, a6 rock -> 3/5
            ("a1", "a2", 0.9),
            ("a1", "a4", 0.8),
            ("a1", "a3", 0.7),
            ("a1", "a5", 0.6),
            ("a1", "a6", 0.5),
            ("a1", "a7", 0.1),
            ("a2", "a1", 0.9),  # a2 (rock): 1/1
            ("a4", "a1", 0.8),  # a4 (jazz): 0/2, ties broken by id
            ("a4", "a3", 0.8),
            ("a5", "a1", 0.6),  # a5: no known genre, left out
        ],
        columns=["artist_id", "neighbor_id", "similarity"],
    )
    genres = pd.DataFrame(
        {"artist_id": ["a1", "a2", "a3", "a4", "a6", "a7"], "genre": ["rock", "rock", "rock", "jazz", "rock", "rock"]}
    )
    assert culture_lib.neighbour_genre_precision(sims, genres, k=5) == pytest.approx((3 / 5 + 1 + 0) / 3, abs=1e-4)
    assert culture_lib.neighbour_genre_precision(sims, genres, k=1) == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)
    assert culture_lib.neighbour_genre_precision(sims.iloc[:0], genres) is None


def test_run_reports_neighbour_genre_precision(tmp_path, nlp, monkeypatch):
    from tests.conftest import make_config

    data, wh = tmp_path / "data", tmp_path / "wh"
    (data / "catalog").mkdir(parents=True)
    (data / "truth").mkdir()
    names = ["Kalo Mira", "The Dodos", "Vepa Luka"]
    pd.DataFrame({"artist_id": ["a0", "a1", "a2"], "name": names}).to_csv(data / "catalog" / "artists.csv", index=False)
    pd.DataFrame({"artist_id": ["a0", "a1", "a2"], "genre": ["techno", "techno", "folk"]}).to_csv(
        data / "truth" / "artist_genres.csv", index=False
    )
    texts = [
        "Kalo Mira play hypnotic techno in a dark warehouse.",
        "The Dodos play hypnotic techno in a dark warehouse.",
        "Vepa Luka sing gentle ballads by an open fire.",
    ]
    pages = pd.DataFrame({"url": [f"file:///p{i}.html" for i in range(3)], "text": texts, "outcome": "ok"})
    (wh / "pages" / "week=2026-W47").mkdir(parents=True)
    pages.to_parquet(wh / "pages" / "week=2026-W47" / "part-0.parquet")
    monkeypatch.setattr(culture, "load_nlp", lambda: nlp)  # the module's pipeline, loaded once
    metrics = culture.run(make_config(data, wh), "2026-W47")
    sims = pd.read_parquet(wh / "artist_similarity" / "week=2026-W47")
    assert set(zip(sims["artist_id"], sims["neighbor_id"], strict=True)) == {("a0", "a1"), ("a1", "a0")}
    assert metrics["neighbour_genre_precision_at_5"] == 1.0
