"""The sample world's small web: a music magazine about its artists, for the crawler.

``write_web`` writes ``web/``: ``index.html``, an artist biography and an album review per
artist (sentences built from the artist's genre vocabulary, with links to related
artists, mostly of the same genre), a "best of" list per genre, an about page, a draft
under ``private/`` that ``robots.txt`` disallows, and ``seeds.txt`` for the crawler.
Every page carries the same navigation and footer boilerplate, and links are relative.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from jobs.tools.world.genres import GENRES, Genre
from jobs.tools.world.model import World


def write_web(world: World, out: Path, seed: int, n_artists: int = 0) -> int:
    """A small site about the artists: index, artist bios, album reviews, genre lists, robots.txt.

    ``n_artists > 0`` writes pages about a seeded sample of that many artists only."""
    rng = np.random.default_rng(seed + 1)
    artists = world.artists
    tracks = world.tracks
    genre_of = world.artist_genre
    for sub in ("artists", "reviews", "lists", "private"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    slugs = [f"{a.lower()}" for a in artists["artist_id"]]
    covered = np.ones(len(artists), dtype=bool)
    if 0 < n_artists < len(artists):  # large worlds: pages about a sample of the artists
        covered[:] = False
        covered[rng.choice(len(artists), n_artists, replace=False)] = True
    by_genre = {g: np.flatnonzero((genre_of == g) & covered) for g in range(len(GENRES))}
    first_album = tracks.drop_duplicates("artist_id").set_index("artist_id")["album"]

    def page(title: str, body: str, depth: int = 1) -> str:
        """A whole HTML page; links written ``@/path`` become relative to the page's folder."""
        nav = '<nav><a href="@/index.html">Home</a> | <a href="@/lists/index.html">Lists</a> | <a href="@/about.html">About</a></nav>'
        foot = "<footer>Copyright Sample Music Weekly. All rights reserved. Cookie settings. Subscribe to our newsletter.</footer>"
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f"<body>{nav}<article><h1>{html.escape(title)}</h1>{body}</article>{foot}</body></html>\n"
        ).replace('href="@/', f'href="{"../" * depth}')

    def sentences(g: Genre, name: str, n: int) -> list[str]:
        out_s = []
        for _ in range(n):
            a1, a2 = rng.choice(g.adjectives, 2, replace=False)
            n1, n2 = rng.choice(g.nouns, 2, replace=False)
            tmpl = rng.integers(0, 6)
            if tmpl == 0:
                s = f"{name} make {a1} {g.name} built on {n1} and {n2}."
            elif tmpl == 1:
                s = f"Critics call {name} the most {a1} voice of the {rng.choice(g.places)} {g.name} scene."
            elif tmpl == 2:
                s = f"On stage, {name} turn every {n1} into something {a2} and {a1}."
            elif tmpl == 3:
                s = f"The new record finds {name} at their most {a2}, with a {a1} {n2} at its heart."
            elif tmpl == 4:
                s = f"Fans of {name} love the {n1}; the {n2} is {a1}."
            else:
                s = f"{name} started out in {rng.choice(g.places)}, playing {a1} {n1} in small clubs."
            out_s.append(s)
        return out_s

    pages = 0
    pool = np.flatnonzero(covered)
    for i, row in enumerate(artists.itertuples(index=False)):
        if not covered[i]:
            continue
        g = GENRES[genre_of[i]]
        same = by_genre[genre_of[i]]
        peers = same[same != i]
        links = [int(j) for j in rng.choice(peers, min(3, len(peers)), replace=False)] if len(peers) else []
        links.append(int(pool[rng.integers(0, len(pool))]))
        link_html = " ".join(
            f'<a href="@/artists/{slugs[j]}.html">{html.escape(artists["name"].iloc[j])}</a>' for j in links if j != i
        )
        body = "".join(f"<p>{html.escape(s)}</p>" for s in sentences(g, row.name, 6))
        body += f'<p>Related artists: {link_html}</p><p><a href="@/reviews/{slugs[i]}-1.html">Review</a></p>'
        (out / "artists" / f"{slugs[i]}.html").write_text(page(f"{row.name} - biography", body), encoding="utf-8")
        album = first_album.get(row.artist_id, "Early Recordings")  # a large world can leave an artist no tracks
        body = f"<p>Review of {html.escape(album)}.</p>" + "".join(
            f"<p>{html.escape(s)}</p>" for s in sentences(g, row.name, 5)
        )
        body += f'<p>Back to <a href="@/artists/{slugs[i]}.html">{html.escape(row.name)}</a>.</p>'
        (out / "reviews" / f"{slugs[i]}-1.html").write_text(page(f"Review: {album}", body), encoding="utf-8")
        pages += 2
    for g_idx, g in enumerate(GENRES):
        members = by_genre[g_idx]
        items = "".join(
            f'<li><a href="@/artists/{slugs[j]}.html">{html.escape(artists["name"].iloc[j])}</a>: '
            f"{html.escape(rng.choice(g.adjectives))} {html.escape(rng.choice(g.nouns))}</li>"
            for j in members
        )
        slug = g.name.replace(" ", "-")
        (out / "lists" / f"best-{slug}.html").write_text(
            page(f"The best {g.name} artists", f"<p>Our favourite {g.name} acts right now.</p><ol>{items}</ol>"),
            encoding="utf-8",
        )
        pages += 1
    list_links = "".join(
        f'<li><a href="@/lists/best-{g.name.replace(" ", "-")}.html">Best {g.name}</a></li>' for g in GENRES
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
