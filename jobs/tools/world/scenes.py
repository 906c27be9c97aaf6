"""Scenes: the sample world's hidden taste structure, finer than genres and cutting across them.

A scene is a point in a ``LATENT_DIM``-dimensional latent space plus a mixture of genres
(a main genre, one or two others), a home town and a small dialect of the shared music
vocabulary. Genres have latent centroids too; a scene's point leans towards its genres'
centroids but is mostly its own. Artists belong to one scene and draw their genre from its
mixture, so a scene holds artists of several genres and a genre spreads over several
scenes. Listeners' tastes are weights over scenes (``listeners.py``); what pages say about
an artist comes mostly from the shared vocabulary, partly from its scene's dialect and
only a little from its genre's words (``web.py``).

No I/O: ``build_scenes`` draws from the world's one random stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.tools.world.genres import GENRES

LATENT_DIM = 16

# words any music writer uses about any genre: most of what the pages say comes from here
SHARED_ADJECTIVES = (
    "bright", "restless", "glowing", "shadowy", "slow-burning", "intimate", "sprawling", "tender",
    "bold", "hazy", "playful", "brooding", "lush", "spare", "urgent", "bittersweet",
    "cinematic", "hushed", "jagged", "sweeping", "nocturnal", "sunlit", "wiry", "patient",
    "dense", "airy", "woozy", "crisp", "grainy", "glossy", "strange", "dusky",
    "clattering", "shimmering", "gentle", "dreamy", "tight", "loose", "fierce", "quiet",
)  # fmt: skip
SHARED_NOUNS = (
    "melody", "pulse", "chorus", "rhythm", "arrangement", "production", "motif", "record",
    "song cycle", "bass line", "vocal", "refrain", "drum machine", "guitar line", "keyboard",
    "tape loop", "loop", "crescendo", "bridge", "tape hiss", "debut", "live set", "b-side",
    "coda", "counterpoint", "lyric", "tempo change", "middle eight", "horn part", "string part",
    "high note", "echo", "reverb", "feedback", "backing band", "home studio", "demo", "encore",
)  # fmt: skip
TOWNS = (
    "Lisbon", "Osaka", "Glasgow", "Montreal", "Lagos", "Bogota", "Helsinki", "Marseille",
    "Leeds", "Austin", "Melbourne", "Krakow", "Nairobi", "Seoul", "Oakland", "Porto",
    "Tbilisi", "Halifax", "Rotterdam", "Cork", "Valparaiso", "Tucson", "Ghent", "Bergen",
    "Manchester", "Toulouse", "Brisbane", "Accra", "Sapporo", "Leipzig", "Denver", "Bilbao",
    "Tallinn", "Quebec", "Perth", "Gdansk", "Naples", "Dakar", "Hobart", "Malmo",
)  # fmt: skip
SCENE_WORDS = (
    "basement", "harbour", "rooftop", "night bus", "corner shop", "canal", "old cinema",
    "railway arch", "tram depot", "back room", "car park", "seafront", "attic", "mill",
)  # fmt: skip


@dataclass(frozen=True)
class Scenes:
    """The scenes and genre centroids (arrays indexed by scene)."""

    names: list[str]  # e.g. "the Lisbon canal crowd"
    towns: list[str]
    latent: np.ndarray  # (scenes, LATENT_DIM), unit rows
    genre_mix: np.ndarray  # (scenes, genres), rows sum to 1
    main_genre: np.ndarray  # per scene, index into GENRES
    dialect_adjectives: list[tuple[str, ...]]  # per scene: shared words its writers favour
    dialect_nouns: list[tuple[str, ...]]
    genre_latent: np.ndarray  # (genres, LATENT_DIM), unit rows


def n_scenes(artists: int) -> int:
    """More scenes than genres, about four artists each, capped so large worlds stay cheap."""
    return int(min(48, max(len(GENRES) + 4, artists // 4)))


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def build_scenes(artists: int, rng: np.random.Generator) -> Scenes:
    """Scenes with latent points, genre mixtures, towns and dialects."""
    n_genres = len(GENRES)
    count = n_scenes(artists)
    genre_latent = unit(rng.normal(size=(n_genres, LATENT_DIM)))
    main = rng.permutation(np.resize(np.arange(n_genres), count))  # every genre is some scene's main one
    mix = np.zeros((count, n_genres))
    latent = np.empty((count, LATENT_DIM))
    for s in range(count):
        others = rng.choice(np.delete(np.arange(n_genres), main[s]), int(rng.integers(1, 3)), replace=False)
        mix[s, main[s]] = rng.uniform(0.45, 0.65)
        mix[s, others] = (1 - mix[s, main[s]]) * rng.dirichlet(np.ones(len(others)))
        lean = mix[s] @ genre_latent
        latent[s] = unit(0.9 * lean + unit(rng.normal(size=LATENT_DIM)))
    towns = [str(t) for t in rng.choice(TOWNS, count, replace=count > len(TOWNS))]
    names = [f"the {town} {rng.choice(SCENE_WORDS)} crowd" for town in towns]
    dialect_adjectives = [tuple(rng.choice(SHARED_ADJECTIVES, 5, replace=False).tolist()) for _ in range(count)]
    dialect_nouns = [tuple(rng.choice(SHARED_NOUNS, 5, replace=False).tolist()) for _ in range(count)]
    return Scenes(
        names=names,
        towns=towns,
        latent=latent,
        genre_mix=mix,
        main_genre=main,
        dialect_adjectives=dialect_adjectives,
        dialect_nouns=dialect_nouns,
        genre_latent=genre_latent,
    )
