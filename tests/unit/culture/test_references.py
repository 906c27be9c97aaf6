"""The naive references beside the headline metrics: known answers on hand-made frames."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from jobs.culture import reference as culture_reference
from jobs.culture import terms as culture_lib
from jobs.recsys import baselines


def test_popularity_scores_all_time_and_recent_with_all_time_ordering_ties():
    all_time = pd.Series({"a": 10.0, "b": 5.0, "c": 1.0})
    recent = pd.Series({"b": 2.0, "c": 2.0})
    np.testing.assert_array_equal(baselines.popularity_scores(["a", "b", "c", "z"], all_time), [10, 5, 1, 0])
    scores = baselines.popularity_scores(["a", "b", "c", "z"], all_time, recent)
    assert list(np.argsort(-scores, kind="stable")) == [1, 2, 0, 3]  # b and c tie recently: b played more
    assert scores[1] < 3 and scores[0] < 1  # the tie-break never outweighs one recent play


def test_recent_listeners_count_listeners_with_a_counted_play_in_the_last_weeks():
    import datetime as dt

    cut = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    plays = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3"],
            "track_id": ["a", "a", "a", "b", "b"],
            "played_at": pd.to_datetime(
                ["2026-11-10", "2026-11-11", "2026-10-01", "2026-11-15", "2026-11-14"], utc=True
            ),
            "ms_played": [200_000, 200_000, 200_000, 200_000, 1_000],  # the last one a skip
        }
    )
    # a: u1 twice (u2's play is older); b: u2 (u3's is a skip)
    assert baselines.recent_listeners(plays, cut, weeks=2, min_ms=30_000).to_dict() == {"a": 1.0, "b": 1.0}


def test_artist_mean_plays_scores_a_track_by_its_artists_mean():
    plays = pd.Series({"t1": 10, "t2": 2, "t3": 4})
    artist_of = pd.Series({"t1": "A", "t2": "A", "t3": "B", "new": "A", "lone": "C"})
    got = baselines.artist_mean_plays(["new", "t3", "lone"], plays, artist_of)
    np.testing.assert_allclose(got, [6.0, 4.0, 16 / 3])  # C has no played track: the overall mean


def test_genre_oracle_scores_a_track_by_the_listeners_share_of_its_genre():
    pairs = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "track_id": ["t1", "t2", "t2"], "plays": [3, 1, 5]})
    genre_of = pd.Series({"t1": "rock", "t2": "jazz", "t3": "rock", "t4": "folk"})
    shares = baselines.genre_shares(pairs, genre_of)
    got = baselines.genre_oracle_scores(shares, ["u1", "u2", "nobody"], ["rock", "jazz", "folk", None])
    np.testing.assert_allclose(got, [[0.75, 0.25, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])


def test_artist_documents_match_whole_names_in_any_case():
    artists = pd.DataFrame({"artist_id": ["a1", "a2", "a3"], "name": ["The Velos", "Kalo", "Nobody Here"]})
    texts = ["THE VELOS play dub.", "Kalomira is not Kalo; Kalo plays techno.", "The Veloster is a car."]
    docs = culture_reference.artist_documents(texts, artists)
    assert set(docs) == {"a1", "a2"}  # "Veloster" and "Kalomira" are not the names
    assert docs["a1"] == Counter({"the": 1, "velos": 1, "play": 1, "dub": 1})
    assert docs["a2"]["techno"] == 1 and docs["a2"]["kalo"] == 2


def test_tfidf_neighbours_pair_artists_by_their_rare_shared_words():
    docs = {
        "a1": Counter({"dub": 3, "bass": 2, "music": 1}),
        "a2": Counter({"dub": 2, "bass": 1, "music": 1}),
        "a3": Counter({"fiddle": 3, "folk": 2, "music": 1}),
        "a4": Counter({"fiddle": 1, "folk": 3, "music": 1}),
    }
    sims = culture_reference.tfidf_neighbours(docs, neighbours=5)
    first = sims.sort_values(["artist_id", "similarity"], ascending=[True, False]).groupby("artist_id").head(1)
    assert dict(zip(first["artist_id"], first["neighbor_id"], strict=True)) == {
        "a1": "a2",
        "a2": "a1",
        "a3": "a4",
        "a4": "a3",
    }
    assert len(sims) == 4  # "music" is in every document: idf 0, so unrelated artists have no similarity


def test_genre_precision_per_artist_and_random_expectation():
    genre = pd.Series({"a1": "rock", "a2": "rock", "a3": "jazz", "a4": "rock"})
    sims = pd.DataFrame(
        [("a1", "a2", 0.9), ("a1", "a3", 0.5), ("a3", "a1", 0.4)], columns=["artist_id", "neighbor_id", "similarity"]
    )
    got = culture_reference.genre_precision_per_artist(sims, genre, ["a1", "a3", "a4"], k=5)
    assert got.to_dict() == {"a1": 0.5, "a3": 0.0, "a4": 0.0}  # a4 has no neighbour: a miss
    rand = culture_reference.random_precision(genre, ["a1", "a3"], ["a1", "a2", "a3", "a4"])
    assert rand.to_dict() == pytest.approx({"a1": 2 / 3, "a3": 0.0})


def test_culture_references_put_spacy_beside_tfidf_and_random_over_the_same_artists():
    artists = pd.DataFrame({"artist_id": ["a0", "a1", "a2", "a3"], "name": ["Kalo", "Dodo", "Vepa", "Mira"]})
    genres = pd.DataFrame({"artist_id": ["a0", "a1", "a2", "a3"], "genre": ["techno", "techno", "folk", "folk"]})
    texts = ["Kalo and Dodo: hypnotic warehouse techno.", "Vepa and Mira sing ballads by the fire."]
    # a system that pairs every artist with one of the other genre: precision 0 where tf-idf gets 1/1
    sims = pd.DataFrame(
        [("a0", "a2", 0.9), ("a1", "a3", 0.9), ("a2", "a0", 0.9), ("a3", "a1", 0.9)],
        columns=["artist_id", "neighbor_id", "similarity"],
    )
    block = culture_lib.genre_references(sims, texts, artists, genres, k=1)
    assert block["unit"] == "artist" and block["units"] == 4
    assert block["systems"]["spacy"]["precision@1"]["mean"] == 0.0
    assert block["systems"]["tfidf"]["precision@1"]["mean"] == 1.0
    assert block["systems"]["random"]["precision@1"]["mean"] == pytest.approx(1 / 3)
    assert block["paired"]["spacy - tfidf"]["precision@1"]["high"] == -1.0


def test_report_shows_each_headline_beside_its_reference_and_the_verdict():
    from jobs import report
    from jobs.evaluation.stats import compare
    from schemas.metrics import check_references

    rng = np.random.default_rng(0)
    base = rng.random(50)
    block = compare(
        {"als": {"recall@30": base + 0.3, "ndcg@30": base}, "most_popular": {"recall@30": base, "ndcg@30": base + 0.2}},
        "als",
    )
    check_references(block)
    rows = report.headline_rows([("ALS holdout", block, ("recall@", "ndcg@")), ("missing", None, ("auc",))])
    assert [(r[0], r[1], r[5]) for r in rows] == [
        ("ALS holdout (als)", "recall@30", "beats it"),
        ("ALS holdout (als)", "ndcg@30", "LOSES to it"),
    ]
    assert rows[0][2].startswith(f"{np.mean(base + 0.3):.4f} [") and rows[0][4].startswith("+0.3000 [+0.3000")
    html = report.reference_table(block)
    assert html.count("<tr>") == 4 and "als minus most_popular" in html and "50 listeners" in html
    with pytest.raises(ValueError, match="not 'als - <a system>'"):
        check_references({**block, "paired": {"x - y": {}}})


def test_report_draws_each_metric_on_its_own_scale_and_leaves_out_a_skipped_step():
    import base64
    import io

    from PIL import Image

    from jobs import report

    frame = pd.DataFrame(
        {"als": [0.004, 0.01, 0.3], "most_popular": [0.002, 0.008, 0.35]},
        index=["precision@30", "recall@30", "mean_percentile_rank"],
    )
    png = report.per_metric(frame, "ALS vs most popular")
    image = Image.open(io.BytesIO(base64.b64decode(png.split("base64,", 1)[1].split('"', 1)[0])))
    assert image.width > 3 * image.height / 2  # three panels side by side, one per metric
    assert report.cluster_section({}, {"skipped": "no audio vectors"}, None) == []  # no empty heading
    who = report.audience_section(
        {"in_data": 29, "active": 16, "personal": 16, "fallback": 0, "without_playlist": {"no_play_in_window": 13}},
        {"playlists": {"rows": 480, "mean_overlap": 4.2}, "most_popular": {"rows": 480, "mean_overlap": 27.0}},
    )
    text = "".join(who)
    assert "without a playlist: no_play_in_window" in text and "<td>13</td>" in text and "27.0" in text
