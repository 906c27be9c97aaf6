"""The embedded sample world: listeners, catalog, play logs, playlists, audio and a small web.

Everything is a deterministic function of the seed and the sizes (``world`` section of
``conf/pipeline.yaml``, overridable by flags). Writes, under ``--out`` (default
``paths.data``)::

    catalog/artists.csv, catalog/tracks.csv      the catalog (input contract; album order = row order)
    raw/plays/YYYY-MM-DD.{csv,jsonl,parquet}     one file per day, the three formats in turn
    raw/playlists/playlists.csv                  playlist_id, owner, position, track_id (ingest ignores it)
    audio/<track_id>.flac                        a short clip per track, played with the track's own sound
    web/                                         HTML about the artists + robots.txt + seeds.txt
    truth/                                       ground truth for evaluation only: artist_genres,
                                                 track_attributes, user_tastes (over genres), scenes,
                                                 artist_scenes, user_scenes, album_tracks, injected_bad_rows
    world.json                                   manifest: seed, sizes, the week to publish

The model (generator version 4). The hidden structure is a latent space, not the genre
list, so that no source is handed its answer:

* **Scenes** (more than the 12 genres; ``scenes.py``) are points in a 16-dimensional latent
  space, each with a mixture of two or three genres, a home town and a dialect of the
  shared vocabulary. Artists belong to a scene and draw their genre from its mixture, so
  scenes cut across genres. An artist's latent vector is its scene's point plus its own
  offset and a lean towards its genre; a track's is its artist's plus the track's own
  offset, so two tracks of one genre are not alike.
* **Taste and plays** (``listeners.py``, ``sessions.py``): a listener's taste is weights
  over scenes, and six in ten drift, one favourite scene handing its weight week by week
  to a new one. A taste play draws a scene from the week's taste, then a track by that
  scene's affinity ``exp(6 cos(scene, track))`` times the track's popularity (Zipf-like,
  scaled by artist fame, a bump after release); 30% of plays replay one of 12 favourites,
  7% come from popularity alone. Plays come in sessions (plays back to back, minutes
  apart; sessions at least an hour apart, at hours from a daily rhythm); one session in
  seven plays an album through in order; plays far from the listener's taste are skipped
  more often (2-30 s). The new releases of the last week are never played.
* **Sound** (``sound.py``, ``audio.py``): a genre is a tendency. Tempo is drawn around a
  centre pulled from the genre's range towards the middle (ranges overlap), the meter is
  the genre's three times in four, the drum pattern the genre's 30% of the time, and
  partials, register, noise, attack and hi-hats mix the genre's with readings of the
  track's latent vector, so the audio carries the track's scene and place, and only part
  of its genre.
* **Web** (``web.py``): words come 55% from a vocabulary all genres share, 30% from the
  artist's scene's dialect, 15% from its genre's words; no page names a genre; related
  artists are drawn by scene closeness (most links cross genres) plus one at random.
* **Playlists** (``playlists.py``): one listener in six owns 1-3 ordered lists drawn from
  their scenes.

``python -m studies.world_leakage`` measures what the world gives away (genre from simple
audio features, genre names on pages, links across genres, tf-idf neighbours). A few
malformed rows are mixed into the raw logs on purpose (``plays.py``).

The package::

    genres.py      the Genre dataclass and the tables of the 12 genres (and their kick patterns)
    scenes.py      scenes, the latent space, the shared vocabulary and towns
    catalog.py     artist names, artists, tracks, latent vectors, albums, releases, popularity
    sound.py       each track's sound (tempo, meter, drums, timbre, key, mode, gain)
    listeners.py   tastes over scenes and their drift, activity, scene affinities
    sessions.py    the listening itself: sessions, albums, favourites, skips, times
    playlists.py   the listeners' playlists
    model.py       the typed World and build_world (everything above, and the truth tables; no I/O)
    plays.py       rows broken on purpose, and the raw play files in three formats
    audio.py       clip synthesis from a track's sound, and writing audio/*.flac
    web.py         the small web about the artists
    cli.py         generate (writes the world atomically, with world.json), the command line

One random stream seeded by ``seed`` draws the world in a fixed order (scenes, catalog,
sounds, listeners, plays, playlists); the broken rows, each clip and the web have their
own streams derived from it.

Run alone::

    python -m jobs.tools.world --out data/sample            # default size
    python -m jobs.tools.world --out /tmp/tiny --tiny       # the test size
"""
