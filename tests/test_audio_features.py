"""Audio attributes on signals made here with known answers, and the rejects table."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from jobs import audio_features as af
from tests.conftest import make_config

SR = 22_050
S = af.Settings()


def click_track(bpm: float, seconds: float = 12.0, accents: tuple[float, ...] = (1.0,)) -> np.ndarray:
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    click = np.sin(2 * np.pi * 1000 * np.arange(int(0.03 * SR)) / SR) * np.exp(-np.arange(int(0.03 * SR)) / 200)
    period = 60.0 / bpm
    for i, t in enumerate(np.arange(0, seconds, period)):
        start = int(t * SR)
        seg = click[: len(y) - start] * accents[i % len(accents)]
        y[start : start + len(seg)] += seg
    return y * 0.5


def chord(freqs, seconds):
    t = np.arange(int(seconds * SR)) / SR
    env = np.minimum(1, t * 20) * np.exp(-t * 0.8)
    return sum(np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in freqs) * env


def note(midi):
    return 440.0 * 2 ** ((midi - 69) / 12)


def progression(triads, seconds_each=1.5):
    return np.concatenate([chord([note(m) for m in tri], seconds_each) for tri in triads]).astype(np.float32) * 0.2


def test_click_track_at_120_bpm_reads_120():
    y = click_track(120)
    tempo, conf = af.attributes(y, S)["tempo_bpm"], af.attributes(y, S)["tempo_confidence"]
    assert tempo == pytest.approx(120, abs=2)
    assert 0 < conf <= 1


def test_c_major_progression_reads_c_major():
    # C - F - G - C, twice
    y = progression([(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)] * 2)
    a = af.attributes(y, S)
    assert (a["key"], a["mode"]) == ("C", "major")
    assert a["key_confidence"] > 0


def test_a_minor_progression_reads_a_minor():
    # Am - Dm - E - Am (harmonic minor: the G# marks the mode)
    y = progression([(57, 60, 64), (62, 65, 69), (64, 68, 71), (57, 60, 64)] * 2)
    a = af.attributes(y, S)
    assert (a["key"], a["mode"]) == ("A", "minor")


def test_waltz_reads_three_four_and_a_march_four_four():
    waltz = click_track(120, seconds=16, accents=(1.0, 0.3, 0.3))
    march = click_track(120, seconds=16, accents=(1.0, 0.3, 0.3, 0.3))
    assert af.attributes(waltz, S)["time_signature"] == 3
    assert af.attributes(march, S)["time_signature"] == 4


def test_a_copy_6_db_quieter_reads_6_db_quieter():
    y = progression([(60, 64, 67), (65, 69, 72)])
    quiet = y * 10 ** (-6 / 20)
    assert af.loudness_db(y) - af.loudness_db(quiet) == pytest.approx(6.0, abs=0.05)
    assert af.attributes(quiet, S)["loudness_db"] == pytest.approx(af.attributes(y, S)["loudness_db"] - 6, abs=0.05)


def test_log_mel_shape_and_storage_round_trip():
    y = click_track(100, seconds=5)
    mel = af.log_mel(y, S)
    assert mel.dtype == np.float16
    assert mel.shape == (128, 1 + len(y) // 512)
    back = af.mel_from_bytes(mel.astype("<f2").tobytes(), *mel.shape)
    np.testing.assert_array_equal(back, mel)


def test_load_clip_takes_the_middle_window(tmp_path):
    y = np.concatenate([np.full(SR * 2, 0.1), np.full(SR * 2, 0.5), np.full(SR * 2, 0.1)]).astype(np.float32)
    sf.write(tmp_path / "x.wav", y, SR)
    clip = af.load_clip(tmp_path / "x.wav", af.Settings(window_seconds=2.0))
    assert len(clip) == 2 * SR
    assert np.allclose(clip, 0.5, atol=1e-3)


def test_bad_files_end_in_the_rejects_table_with_reasons(tmp_path):
    data = tmp_path / "data"
    (data / "audio").mkdir(parents=True)
    (data / "catalog").mkdir()
    sf.write(data / "audio" / "good.wav", click_track(120, seconds=4), SR)
    sf.write(data / "audio" / "silent.wav", np.zeros(SR * 4, dtype=np.float32), SR)
    sf.write(data / "audio" / "short.wav", click_track(120, seconds=0.3), SR)
    (data / "audio" / "corrupt.flac").write_bytes(b"fLaC" + bytes(range(256)) * 10)
    (data / "audio" / "empty.wav").write_bytes(b"")
    names = ["good.wav", "silent.wav", "short.wav", "corrupt.flac", "empty.wav", "gone.wav", ""]
    ids = [f"t{i}" for i in range(len(names))]
    pd.DataFrame({"artist_id": ["a1"], "name": ["A"]}).to_csv(data / "catalog" / "artists.csv", index=False)
    pd.DataFrame(
        {
            "track_id": ids,
            "title": ids,
            "artist_id": "a1",
            "album": "x",
            "release_date": "2020-01-01",
            "duration_ms": 1000,
            "audio_path": [f"audio/{n}" if n else "" for n in names],
        }
    ).to_csv(data / "catalog" / "tracks.csv", index=False)
    config = make_config(data, tmp_path / "wh", audio={"workers": 2})
    metrics = af.run(config, "2026-W47")
    rejects = pq.read_table(tmp_path / "wh" / "audio_rejects" / "week=2026-W47").to_pandas()
    reasons = dict(zip(rejects["track_id"], rejects["reason"]))
    assert reasons["t1"] == "silent"
    assert reasons["t2"] == "too_short"
    assert reasons["t3"].startswith("unreadable:")
    assert reasons["t4"].startswith("unreadable:")
    assert reasons["t5"] == "missing_file"
    assert reasons["t6"] == "no_audio"
    assert "t0" not in reasons
    specs = pq.read_table(tmp_path / "wh" / "spectrograms" / "week=2026-W47").to_pandas()
    assert specs["track_id"].tolist() == ["t0"]
    attrs = pq.read_table(tmp_path / "wh" / "audio_attributes" / "week=2026-W47").to_pandas()
    assert attrs["track_id"].tolist() == ["t0"]
    assert metrics["spectrograms"] == 1 and sum(metrics["rejects"].values()) == 6
