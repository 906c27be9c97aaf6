"""References for the culture job's cultural neighbours: plain tf-idf on the pages, and random neighbours.

The culture job's headline is ``neighbour_genre_precision_at_5``: the share of an artist's 5
nearest cultural neighbours that share its (hidden) genre. Two naive systems answer the same
question here, so that number stands beside what no NLP would give:

* :func:`tfidf_neighbours`: each artist's document is the visible text of every page that
  names it (a case-insensitive whole-word match of the catalog name), lower-cased word
  counts (``[a-z0-9]+``, nothing removed); weights ``tf * log(N / df)`` across artists;
  neighbours by cosine. No spaCy, no mention windows, no term types.
* :func:`random_precision`: the expected precision of neighbours drawn at random among the
  other artists (the share of them that share the artist's genre), exact, no draw.

:func:`genre_precision_per_artist` scores any neighbour table per artist (the unit the
bootstrap resamples). Pure functions over frames and strings; reads and writes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from schemas.columns import ARTIST_ID, NEIGHBOR_ID

WORD = re.compile(r"[a-z0-9]+")


def artist_documents(texts: Iterable[str], artists: pd.DataFrame) -> dict[str, Counter]:
    """Per artist id, the word counts of every page whose text names the artist (whole words, any case)."""
    pages = [(t.lower(), Counter(WORD.findall(t.lower()))) for t in texts]
    docs: dict[str, Counter] = {}
    for artist_id, name in zip(artists[ARTIST_ID], artists["name"], strict=True):
        words = WORD.findall(str(name).lower())
        if not words:
            continue
        pattern = re.compile(r"(?<![a-z0-9])" + r"[^a-z0-9]+".join(map(re.escape, words)) + r"(?![a-z0-9])")
        doc: Counter = Counter()
        for low, counts in pages:
            if pattern.search(low):
                doc.update(counts)
        if doc:
            docs[str(artist_id)] = doc
    return docs


def tfidf_neighbours(docs: dict[str, Counter], neighbours: int) -> pd.DataFrame:
    """Top cosine neighbours per artist over ``tf * log(N / df)`` vectors of ``docs``.

    Same columns and tie rule as the culture job's ``artist_similarity`` (``artist_id,
    neighbor_id, similarity``; equal similarities by id; only positive similarities kept).
    """
    from scipy.sparse import csr_matrix

    artists = sorted(docs)
    if not artists:
        return pd.DataFrame(columns=[ARTIST_ID, NEIGHBOR_ID, "similarity"])
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for r, a in enumerate(artists):
        for word, tf in docs[a].items():
            rows.append(r)
            cols.append(vocab.setdefault(word, len(vocab)))
            vals.append(float(tf))
    X = csr_matrix((vals, (rows, cols)), shape=(len(artists), len(vocab)))
    df = np.bincount(X.indices, minlength=len(vocab))
    X = X.multiply(np.log(len(artists) / np.maximum(df, 1))[None, :]).tocsr()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = X.multiply(1.0 / np.maximum(norms, 1e-12)[:, None]).tocsr()
    S = np.asarray((X @ X.T).todense())
    np.fill_diagonal(S, -1)
    out = []
    for i, a in enumerate(artists):
        order = np.lexsort((np.arange(len(artists)), -S[i]))[:neighbours]
        out += [(a, artists[j], round(float(S[i, j]), 6)) for j in order if S[i, j] > 0]
    return pd.DataFrame(out, columns=[ARTIST_ID, NEIGHBOR_ID, "similarity"])


def genre_precision_per_artist(sims: pd.DataFrame, genre: pd.Series, artists: Sequence[str], k: int = 5) -> pd.Series:
    """For each of ``artists``, the share of its ``k`` nearest neighbours in ``sims`` (highest similarity
    first, ties by id) that share its genre (``genre``: artist -> genre). An artist with fewer than ``k``
    neighbours is scored on those it has; one with none scores 0 (a miss, not left out)."""
    top = (
        sims.sort_values([ARTIST_ID, "similarity", NEIGHBOR_ID], ascending=[True, False, True])
        .groupby(ARTIST_ID)
        .head(k)
    )
    hit = top[ARTIST_ID].map(genre).eq(top[NEIGHBOR_ID].map(genre))
    per = hit.groupby(top[ARTIST_ID]).mean()
    return per.reindex(pd.Index(artists, name=ARTIST_ID)).fillna(0.0).astype(np.float64)


def random_precision(genre: pd.Series, artists: Sequence[str], pool: Sequence[str]) -> pd.Series:
    """For each of ``artists``, the expected precision of neighbours drawn at random from the other
    artists of ``pool``: the share of them with its genre (an unknown genre never matches)."""
    members = set(pool)
    sizes = pd.Series(pd.Index(pool).map(genre)).value_counts()
    out = []
    for a in artists:
        g = genre.get(a)
        inside = 1 if a in members else 0
        others = len(members) - inside
        out.append((sizes.get(g, 0) - inside) / others if others > 0 and g is not None else 0.0)
    return pd.Series(out, index=pd.Index(artists, name=ARTIST_ID), dtype=np.float64)
