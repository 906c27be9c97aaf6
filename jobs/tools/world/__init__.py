"""The embedded sample world: listeners, catalog, play logs, audio and a small web.

Everything is a deterministic function of the seed and the sizes (``world`` section of
``conf/pipeline.yaml``, overridable by flags). Writes, under ``--out`` (default
``paths.data``)::

    catalog/artists.csv, catalog/tracks.csv      the catalog (input contract)
    raw/plays/YYYY-MM-DD.{csv,jsonl,parquet}     one file per day, the three formats in turn
    audio/<track_id>.flac                        a short clip per track, sound set by genre
    web/                                         HTML about the artists + robots.txt + seeds.txt
    truth/                                       ground truth (genres, tastes) for evaluation only
    world.json                                   manifest: seed, sizes, the week to publish

The hidden structure is real: listeners have tastes over 12 genres; a genre fixes a
track's tempo range, key and mode preference, timbre, meter and drum pattern, and the
vocabulary written about its artists. Popularity is Zipf-like, listeners are heavy or
light, favourites are replayed, and plays of tracks outside a listener's taste are more
often skipped. A few malformed rows are mixed into the raw logs on purpose, and the
latest week brings new releases that nobody has played.

The package::

    genres.py      the Genre dataclass and the tables of the 12 genres (and their kick patterns)
    catalog.py     artist names, artists, tracks, albums, releases, popularity
    listeners.py   tastes, activity, and the listening itself (the clean plays)
    model.py       the typed World and build_world (catalog, listeners, plays, truth; no I/O)
    plays.py       rows broken on purpose, and the raw play files in three formats
    audio.py       clip synthesis by genre, and writing audio/*.flac
    web.py         the small web about the artists
    cli.py         generate (writes the world atomically, with world.json), the command line

One random stream seeded by ``seed`` draws the world in a fixed order (catalog, listeners,
plays); the broken rows, each clip and the web have their own streams derived from it.

Run alone::

    python -m jobs.tools.world --out data/sample            # default size
    python -m jobs.tools.world --out /tmp/tiny --tiny       # the test size
"""
