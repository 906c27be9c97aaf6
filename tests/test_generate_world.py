"""The sample world is deterministic and carries the signal later jobs learn from."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from jobs.common.config import build_config
from jobs.tools.world.cli import TINY, generate
from jobs.tools.world.genres import GENRES
from jobs.tools.world.model import build_world


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


def test_plays_follow_tastes_and_popularity_is_skewed():
    conf = build_config({"world": {**TINY, "users": 200}}).world
    world = build_world(conf)
    plays = world.plays
    genre = dict(zip(world.truth["track_attributes"]["track_id"], world.truth["track_attributes"]["genre"]))
    tastes = world.truth["user_tastes"].set_index("user_id")
    top_genre = tastes.idxmax(axis=1)
    share_in_top = (plays["track_id"].map(genre) == plays["user_id"].map(top_genre)).mean()
    assert share_in_top > 0.4  # 12 genres: by chance it would be about 1/12
    per_track = plays["track_id"].value_counts()
    top_decile = per_track.iloc[: max(1, len(per_track) // 10)].sum() / per_track.sum()
    assert top_decile > 0.25  # a Zipf-like head
    per_user = plays["user_id"].value_counts()
    assert per_user.max() > 5 * per_user.median()  # heavy and light listeners
    weeks = pd.to_datetime(plays["played_at"]).dt.isocalendar().week.nunique()
    assert weeks == 8


@pytest.mark.slow
def test_audio_depends_on_genre(tiny_world):
    """Clips of a fast and a slow genre differ in onset rate, a crude tempo proxy."""
    truth = pd.read_csv(tiny_world / "truth" / "track_attributes.csv")
    tracks = pd.read_csv(tiny_world / "catalog" / "tracks.csv", keep_default_na=False).set_index("track_id")

    def onset_rate(track_id):
        y, sr = sf.read(tiny_world / tracks.loc[track_id, "audio_path"])
        frame = 512
        energy = np.array([np.sum(y[i : i + frame] ** 2) for i in range(0, len(y) - frame, frame)])
        rises = np.diff(energy) > energy.mean()
        return rises.sum() / (len(y) / sr)

    fast = [g.name for g in GENRES if g.bpm[0] >= 150]
    slow = [g.name for g in GENRES if g.bpm[1] <= 100 and g.drums != "none"]
    has_audio = truth["track_id"].isin(tracks.index[tracks["audio_path"] != ""])
    fast_ids = truth[truth["genre"].isin(fast) & has_audio]["track_id"].head(5)
    slow_ids = truth[truth["genre"].isin(slow) & has_audio]["track_id"].head(5)
    assert len(fast_ids) and len(slow_ids)
    assert np.mean([onset_rate(t) for t in fast_ids]) > np.mean([onset_rate(t) for t in slow_ids])


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

    root = Path(__file__).resolve().parents[1]
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
