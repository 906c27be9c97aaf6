"""The sample world is deterministic, carries the signal later jobs learn from, and hands no source its answer."""

import hashlib
import html
import json
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from jobs.config import build_config
from jobs.tools.world.cli import TINY, generate
from jobs.tools.world.genres import GENRES
from jobs.tools.world.model import build_world
from jobs.tools.world.web import write_web


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_world_byte_for_byte(tmp_path):
    conf = build_config({"world": {**TINY, "users": 30, "tracks": 60, "clip_seconds": 1.0}}).world
    generate(conf, tmp_path / "a")
    generate(conf, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    other = build_config({"world": {**TINY, "users": 30, "tracks": 60, "clip_seconds": 1.0, "seed": 8}}).world
    generate(other, tmp_path / "c", with_audio=False, with_web=False)
    assert (tmp_path / "a" / "catalog" / "tracks.csv").read_bytes() != (
        tmp_path / "c" / "catalog" / "tracks.csv"
    ).read_bytes()


@pytest.mark.slow
def test_tiny_world_has_every_part(tiny_world):
    manifest = json.loads((tiny_world / "world.json").read_text())
    assert manifest["publish_week"] == "2026-W47"
    assert {p.suffix for p in (tiny_world / "raw" / "plays").iterdir()} == {".csv", ".jsonl", ".parquet"}
    tracks = pd.read_csv(tiny_world / "catalog" / "tracks.csv", keep_default_na=False)
    with_audio = tracks[tracks["audio_path"] != ""]
    assert all((tiny_world / p).exists() for p in with_audio["audio_path"])
    assert (tiny_world / "web" / "robots.txt").read_text().startswith("User-agent: *")
    assert len(list((tiny_world / "web" / "artists").glob("*.html"))) == TINY["artists"]
    assert manifest["injected_bad_rows"]  # the raw logs carry some bad rows on purpose
    playlists = pd.read_csv(tiny_world / "raw" / "playlists" / "playlists.csv")
    assert list(playlists.columns) == ["playlist_id", "owner", "position", "track_id"] and len(playlists)
    assert manifest["playlists"] == playlists["playlist_id"].nunique()
    columns = {  # the truth other jobs and tests read keeps its names and columns
        "artist_genres": ["artist_id", "genre"],
        "track_attributes": ["track_id", "genre", "bpm", "key", "mode", "time_signature", "gain_db"],
        "user_tastes": [g.name for g in GENRES] + ["user_id"],
        "scenes": ["scene", "name", "main_genre", "genre_mix"],
        "artist_scenes": ["artist_id", "scene"],
        "user_scenes": ["user_id", "scene", "weight_start", "weight_end"],
        "album_tracks": ["track_id", "artist_id", "album", "album_position"],
    }
    for name, cols in columns.items():
        assert set(cols) <= set(pd.read_csv(tiny_world / "truth" / f"{name}.csv", nrows=1).columns), name


def test_new_releases_are_unplayed_and_from_the_last_week():
    conf = build_config({"world": TINY}).world
    world = build_world(conf)
    truth = world.truth["track_attributes"]
    new = set(truth.loc[truth["is_new_release"], "track_id"])
    assert len(new) == TINY["new_releases"]
    assert not new & set(world.plays["track_id"])
    tracks = world.tracks.set_index("track_id")
    dates = pd.to_datetime(tracks.loc[sorted(new), "release_date"])
    assert (dates >= pd.Timestamp("2026-11-09")).all() and (dates < pd.Timestamp("2026-11-16")).all()


@pytest.fixture(scope="module")
def world():
    """The default-sized world in memory (no audio, no web: about 2 s)."""
    return build_world(build_config({}).world)


def _plays_with_truth(world):
    plays = world.plays.assign(t=pd.to_datetime(world.plays["played_at"]))
    scene = world.truth["artist_scenes"].set_index("artist_id")["scene"]
    albums = world.truth["album_tracks"].set_index("track_id")
    plays["scene"] = plays["track_id"].map(albums["artist_id"]).map(scene)
    plays["album"] = plays["track_id"].map(albums["artist_id"] + "/" + albums["album"])
    plays["position"] = plays["track_id"].map(albums["album_position"])
    plays["week"] = (plays["t"] - pd.Timestamp(world.start)).dt.days // 7
    return plays.sort_values(["user_id", "t"], kind="stable", ignore_index=True)


def test_plays_follow_scene_tastes_and_popularity_is_skewed(world):
    plays = _plays_with_truth(world)
    tastes = world.truth["user_scenes"]
    favourite = tastes[tastes["weight_start"] > 0.1].groupby("user_id")["scene"].apply(set)
    in_taste = np.mean([s in favourite.get(u, set()) for u, s in zip(plays["user_id"], plays["scene"], strict=True)])
    overall = plays["scene"].value_counts(normalize=True)
    by_chance = np.mean([sum(overall.get(s, 0) for s in favourite.get(u, ())) for u in plays["user_id"]])
    # measured 0.36 against 0.09: a listener's favourite scenes' artists get 4x their share of all plays
    assert in_taste > 2.5 * by_chance
    genre_tastes = world.truth["user_tastes"].set_index("user_id")
    assert list(genre_tastes.columns) == [g.name for g in GENRES]
    np.testing.assert_allclose(genre_tastes.sum(axis=1), 1.0, atol=1e-4)
    per_track = plays["track_id"].value_counts()
    assert per_track.iloc[: len(per_track) // 10].sum() / per_track.sum() > 0.25  # a Zipf-like head (0.62)
    per_user = plays["user_id"].value_counts()
    assert per_user.max() > 5 * per_user.median()  # heavy and light listeners
    assert plays["week"].nunique() == 8
    assert 0.05 < (plays["ms_played"] < 30_000).mean() < 0.3  # skips stay (0.13)


def test_scenes_cut_across_genres_and_outnumber_them(world):
    scenes = world.truth["scenes"]
    assert len(scenes) > len(GENRES)
    artists = world.truth["artist_genres"].merge(world.truth["artist_scenes"], on="artist_id")
    genres_per_scene = artists.groupby("scene")["genre"].nunique()
    scenes_per_genre = artists.groupby("genre")["scene"].nunique()
    assert (genres_per_scene > 1).mean() > 0.5 and (scenes_per_genre > 1).all()
    assert set(artists["genre"]) == {g.name for g in GENRES}


def test_genre_is_a_tendency_in_the_sound_not_a_rule(world):
    truth = world.truth["track_attributes"]
    spans = truth.groupby("genre")["bpm"].quantile([0.1, 0.9]).unstack()
    overlaps = [
        sum(
            1
            for h in spans.index
            if h != g and spans.loc[g, 0.1] < spans.loc[h, 0.9] and spans.loc[h, 0.1] < spans.loc[g, 0.9]
        )
        for g in spans.index
    ]
    assert min(overlaps) >= 3  # every genre's middle 80% of tempos overlaps at least 3 others'
    assert spans.loc["ambient", 0.9] > spans.loc["techno", 0.1]  # disjoint in generator version 3 (60-76, 126-134)
    assert (truth.groupby("genre")["bpm"].std() > 8).all()
    assert (truth.groupby("genre")["time_signature"].nunique() == 2).all()  # meters vary within a genre
    sounds = world.sounds
    for g in range(len(GENRES)):
        mine = world.track_genre == g
        assert len(set(sounds.drums[mine])) >= 3
        brightness = (sounds.harmonics[mine] * np.arange(1, 9)).sum(1) / sounds.harmonics[mine].sum(1)
        assert brightness.std() > 0.1  # partials differ from track to track (measured 0.15 to 0.65 by genre)


def test_listening_has_sessions(world):
    plays = _plays_with_truth(world)
    gap = plays.groupby("user_id")["t"].diff().dt.total_seconds().dropna() / 60
    # inside a session a play starts when the last one ends (< 16 min: the longest tracks); sessions are >= 1 h apart
    assert (gap >= 0).all()
    assert (gap < 16).mean() > 0.6 and (gap >= 60).mean() > 0.1  # measured 0.80 and 0.20
    assert ((gap >= 16) & (gap < 60)).sum() == 0
    assert (plays["t"] < pd.Timestamp(world.end)).all()


def _album_runs(plays):
    """Runs of 3+ plays of one album from its first track on, in album order, back to back."""
    album, pos, user = plays["album"].to_numpy(), plays["position"].to_numpy(), plays["user_id"].to_numpy()
    step = (album[1:] == album[:-1]) & (pos[1:] == pos[:-1] + 1) & (user[1:] == user[:-1])
    starts = step[:-1] & step[1:] & (pos[:-2] == 1)
    return int(starts.sum())


def test_albums_are_sometimes_played_through_in_order(world):
    plays = _plays_with_truth(world)
    shuffled = plays.sample(frac=1.0, random_state=0).sort_values("user_id", kind="stable", ignore_index=True)
    # measured 3,497 runs in time order against 1 in a shuffled order of the same plays
    assert _album_runs(plays) > 1000 and _album_runs(shuffled) < 20


def test_tastes_drift_over_the_weeks(world):
    plays = _plays_with_truth(world)
    change = world.truth["user_scenes"].assign(delta=lambda d: d["weight_end"] - d["weight_start"])
    leaving = change.loc[change.groupby("user_id")["delta"].idxmin()].query("delta < -0.1").set_index("user_id")
    arriving = change.loc[change.groupby("user_id")["delta"].idxmax()].query("delta > 0.1").set_index("user_id")
    assert 0.4 < len(leaving) / plays["user_id"].nunique() < 0.8  # six in ten drift

    def share(weeks, scenes):
        p = plays[plays["week"].isin(weeks) & plays["user_id"].isin(scenes.index)]
        return (p["scene"] == p["user_id"].map(scenes["scene"])).mean()

    # measured: the scene a listener leaves 0.25 -> 0.08, the one they move to 0.04 -> 0.23
    assert share([0, 1], leaving) > 2 * share([6, 7], leaving)
    assert share([6, 7], arriving) > 2 * share([0, 1], arriving)


def test_playlists_are_ordered_documents_from_their_owners_scenes(world):
    lists = world.playlists
    assert list(lists.columns) == ["playlist_id", "owner", "position", "track_id"]
    assert lists["playlist_id"].nunique() > 100
    for _, one in lists.groupby("playlist_id"):
        assert one["position"].tolist() == list(range(1, len(one) + 1))
        assert one["track_id"].is_unique and one["owner"].nunique() == 1
    assert set(lists["owner"]) <= set(world.listeners.user_ids)
    new = set(world.truth["track_attributes"].query("is_new_release")["track_id"])
    assert set(lists["track_id"]) <= set(world.tracks["track_id"]) - new
    tastes = world.truth["user_scenes"]
    favourite = tastes[tastes["weight_end"] > 0.1].groupby("user_id")["scene"].apply(set)
    scene = (
        lists["track_id"]
        .map(world.tracks.set_index("track_id")["artist_id"])
        .map(world.truth["artist_scenes"].set_index("artist_id")["scene"])
    )
    in_taste = np.mean([s in favourite.get(o, set()) for o, s in zip(lists["owner"], scene, strict=True)])
    assert in_taste > 0.2  # measured 0.29; the favourite scenes' artists hold about 0.09 of all plays


GENRE_NAME = re.compile("|".join(rf"\b{re.escape(g.name)}\b" for g in GENRES), re.I)


def test_pages_name_no_genre_and_links_cross_genres(world, tmp_path):
    write_web(world, tmp_path, seed=7)
    pages = sorted(tmp_path.rglob("*.html"))
    assert len(pages) > 200
    named = [p.name for p in pages if GENRE_NAME.search(html.unescape(re.sub(r"<[^>]+>", " ", p.read_text())))]
    assert named == []
    genre = world.truth["artist_genres"].set_index("artist_id")["genre"]
    scene = world.catalog.artist_scene
    latent = world.scenes.latent
    crossed, close = [], []
    for page in (tmp_path / "artists").glob("*.html"):
        for target in re.findall(r'href="\.\./artists/(a\d+)\.html"', page.read_text()):
            crossed.append(genre[target] != genre[page.stem])
            close.append(latent[scene[int(page.stem[1:])]] @ latent[scene[int(target[1:])]])
    random_close = (latent[scene] @ latent[scene].T).mean()
    # measured: 0.72 of links cross genres (random links would: 0.91), towards nearer scenes than random
    assert 0.4 < np.mean(crossed) < 0.85
    assert np.mean(close) > random_close + 0.2


@pytest.mark.slow
def test_audio_follows_each_tracks_own_tempo(tiny_world):
    """Clips of the fastest tracks (by their own tempo, whatever their genre) have more onsets than the slowest."""
    truth = pd.read_csv(tiny_world / "truth" / "track_attributes.csv")
    tracks = pd.read_csv(tiny_world / "catalog" / "tracks.csv", keep_default_na=False).set_index("track_id")

    def onset_rate(track_id):
        y, sr = sf.read(tiny_world / tracks.loc[track_id, "audio_path"])
        frame = 512
        energy = np.array([np.sum(y[i : i + frame] ** 2) for i in range(0, len(y) - frame, frame)])
        rises = np.diff(energy) > energy.mean()
        return rises.sum() / (len(y) / sr)

    has_audio = truth[truth["track_id"].isin(tracks.index[tracks["audio_path"] != ""])].sort_values("bpm")
    slow, fast = has_audio["track_id"].head(8), has_audio["track_id"].tail(8)
    assert np.mean([onset_rate(t) for t in fast]) > np.mean([onset_rate(t) for t in slow])


def _user_data(root):
    """A folder of the user's own data: no world.json, so nothing the generator wrote."""
    (root / "catalog").mkdir(parents=True)
    (root / "catalog" / "tracks.csv").write_text("track_id,title,artist_id\nt1,Song,a1\n")
    return _digest(root)


def test_generator_refuses_to_replace_data_it_did_not_write(tmp_path):
    from jobs.tools.world.cli import main

    user = tmp_path / "mine"
    before = _user_data(user)
    for flags in ([], ["--if-missing"]):
        assert main(["--out", str(user), "--tiny", "--no-audio", "--no-web", *flags]) == 2
        assert _digest(user) == before
    # an empty folder, or one it wrote itself, is fine
    assert main(["--out", str(tmp_path / "empty"), "--tiny", "--no-audio", "--no-web", "--users", "20"]) == 0
    assert json.loads((tmp_path / "empty" / "world.json").read_text())["generator_version"] >= 1


@pytest.mark.slow
def test_make_run_with_data_never_generates_into_it(tmp_path):
    """`make run DATA=path` reads the user's folder; a folder without raw/plays/ is an error, untouched."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    user = tmp_path / "mine"
    before = _user_data(user)
    home = tmp_path / "airflow"
    home.mkdir()
    (home / "airflow.db").touch()  # the metadata database counts as prepared: no migration in this test
    env = {**os.environ, "DW_AIRFLOW_HOME": str(home)}
    done = subprocess.run(
        ["make", "--no-print-directory", "run", f"DATA={user}", "WEEK=2026-W47"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "must hold raw/plays/ and catalog/" in done.stdout + done.stderr
    assert _digest(user) == before
    assert not (user / "world.json").exists()
