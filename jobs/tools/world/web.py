"""The sample world's small web: a music magazine about its artists, for the crawler.

``write_web`` writes ``web/``: ``index.html``, an artist biography and an album review per
artist, a "scene report" list per scene, an about page, a draft under ``private/`` that
``robots.txt`` disallows, and ``seeds.txt`` for the crawler. Every page carries the same
navigation and footer boilerplate, and links are relative.

What the pages say is a real but partial signal: each descriptive word of a sentence comes
from the vocabulary every genre's writers share (55%), from the artist's scene's dialect
of that vocabulary (30%), or from the artist's genre's own words (15%); scenes have home
towns, and no page names a genre. An artist's page links to three related artists drawn by
how close their scenes are (same scene first, then scenes nearby in the latent space, which
may be of other genres) and one artist at random.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from jobs.tools.world.genres import GENRES
from jobs.tools.world.model import World, scene_ids
from jobs.tools.world.scenes import SHARED_ADJECTIVES, SHARED_NOUNS, TOWNS
from schemas.columns import ARTIST_ID

GENRE_WORDS, SCENE_WORDS = 0.15, 0.30  # shares of descriptive words; the rest are shared words

TEMPLATES = (
    "{name} make {a1} music built on {n1} and {n2}.",
    "Critics call {name} the most {a1} voice of {scene}.",
    "On stage, {name} turn every {n1} into something {a2} and {a1}.",
    "The new record finds {name} at their most {a2}, with a {a1} {n2} at its heart.",
    "Fans of {name} love the {n1}; the {n2} is {a1}.",
    "{name} started out in {town}, playing {a1} {n1} in small clubs.",
    "Ask {name} about the {n1} and they talk for an hour about {a1} {n2}.",
)


def write_web(world: World, out: Path, seed: int, n_artists: int = 0) -> int:
    """A small site about the artists: index, artist bios, album reviews, scene lists, robots.txt.

    ``n_artists > 0`` writes pages about a seeded sample of that many artists only."""
    rng = np.random.default_rng(seed + 1)
    artists = world.artists
    scenes = world.scenes
    genre_of = world.artist_genre
    scene_of = world.catalog.artist_scene
    for sub in ("artists", "reviews", "lists", "private"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    slugs = [f"{a.lower()}" for a in artists[ARTIST_ID]]
    covered = np.ones(len(artists), dtype=bool)
    if 0 < n_artists < len(artists):  # large worlds: pages about a sample of the artists
        covered[:] = False
        covered[rng.choice(len(artists), n_artists, replace=False)] = True
    pool = np.flatnonzero(covered)
    first_album = world.tracks.drop_duplicates(ARTIST_ID).set_index(ARTIST_ID)["album"]
    closeness = scenes.latent[scene_of[pool]] @ scenes.latent.T  # (covered artists, scenes)

    def page(title: str, body: str, depth: int = 1) -> str:
        """A whole HTML page; links written ``@/path`` become relative to the page's folder."""
        nav = '<nav><a href="@/index.html">Home</a> | <a href="@/lists/index.html">Lists</a> | <a href="@/about.html">About</a></nav>'
        foot = "<footer>Copyright Sample Music Weekly. All rights reserved. Cookie settings. Subscribe to our newsletter.</footer>"
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f"<body>{nav}<article><h1>{html.escape(title)}</h1>{body}</article>{foot}</body></html>\n"
        ).replace('href="@/', f'href="{"../" * depth}')

    def word(i: int, kind: str) -> str:
        r = rng.random()
        if r < GENRE_WORDS:
            words = GENRES[genre_of[i]].adjectives if kind == "a" else GENRES[genre_of[i]].nouns
        elif r < GENRE_WORDS + SCENE_WORDS:
            s = scene_of[i]
            words = scenes.dialect_adjectives[s] if kind == "a" else scenes.dialect_nouns[s]
        else:
            words = SHARED_ADJECTIVES if kind == "a" else SHARED_NOUNS
        return str(rng.choice(words))

    def sentences(i: int, n: int) -> list[str]:
        out_s = []
        for _ in range(n):
            a1, a2, n1, n2 = word(i, "a"), word(i, "a"), word(i, "n"), word(i, "n")
            town = scenes.towns[scene_of[i]] if rng.random() < 0.7 else str(rng.choice(TOWNS))
            tmpl = TEMPLATES[int(rng.integers(0, len(TEMPLATES)))]
            name = str(artists["name"].iloc[i])
            out_s.append(tmpl.format(name=name, a1=a1, a2=a2, n1=n1, n2=n2, town=town, scene=scenes.names[scene_of[i]]))
        return out_s

    def link(j: int) -> str:
        return f'<a href="@/artists/{slugs[j]}.html">{html.escape(artists["name"].iloc[j])}</a>'

    pages = 0
    for k, i in enumerate(pool):
        row = artists.iloc[i]
        others = pool[pool != i]
        links: list[int] = []
        if len(others):
            weight = np.exp(4.0 * closeness[k, scene_of[others]]) * np.where(scene_of[others] == scene_of[i], 3.0, 1.0)
            links = [int(j) for j in rng.choice(others, min(3, len(others)), replace=False, p=weight / weight.sum())]
            links.append(int(others[rng.integers(0, len(others))]))
        link_html = " ".join(link(j) for j in dict.fromkeys(links))
        body = "".join(f"<p>{html.escape(s)}</p>" for s in sentences(i, 6))
        body += f'<p>Related artists: {link_html}</p><p><a href="@/reviews/{slugs[i]}-1.html">Review</a></p>'
        (out / "artists" / f"{slugs[i]}.html").write_text(page(f"{row['name']} - biography", body), encoding="utf-8")
        album = first_album.get(row[ARTIST_ID], "Early Recordings")  # a large world can leave an artist no tracks
        body = f"<p>Review of {html.escape(album)}.</p>" + "".join(f"<p>{html.escape(s)}</p>" for s in sentences(i, 5))
        body += f'<p>Back to <a href="@/artists/{slugs[i]}.html">{html.escape(row["name"])}</a>.</p>'
        (out / "reviews" / f"{slugs[i]}-1.html").write_text(page(f"Review: {album}", body), encoding="utf-8")
        pages += 2
    sids = scene_ids(scenes)
    listed = []
    for s, sid in enumerate(sids):
        members = pool[scene_of[pool] == s]
        if not len(members):
            continue
        items = "".join(f"<li>{link(j)}: {html.escape(word(j, 'a'))} {html.escape(word(j, 'n'))}</li>" for j in members)
        title = f"Scene report: {scenes.names[s]}"
        body = f"<p>Who to hear in {html.escape(scenes.towns[s])} right now.</p><ol>{items}</ol>"
        (out / "lists" / f"scene-{sid}.html").write_text(page(title, body), encoding="utf-8")
        listed.append((sid, title))
        pages += 1
    list_links = "".join(
        f'<li><a href="@/lists/scene-{sid}.html">{html.escape(title)}</a></li>' for sid, title in listed
    )
    (out / "lists" / "index.html").write_text(page("Lists", f"<ul>{list_links}</ul>"), encoding="utf-8")
    (out / "about.html").write_text(page("About", "<p>A sample music magazine.</p>", depth=0), encoding="utf-8")
    (out / "private" / "drafts.html").write_text(page("Drafts", "<p>Not for crawlers.</p>"), encoding="utf-8")
    (out / "index.html").write_text(
        page("Sample Music Weekly", f"<p>Music news.</p><ul>{list_links}</ul>", depth=0), encoding="utf-8"
    )
    (out / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")
    (out / "seeds.txt").write_text(
        "# one URL per line; relative entries are file:// paths under this folder\nindex.html\n", encoding="utf-8"
    )
    return pages + 4
