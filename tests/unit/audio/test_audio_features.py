"""Audio attributes on signals made here with known answers, padding to the window, and the rejects table."""

import dataclasses
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from jobs import audio_features as af
from jobs.audio import checks as audio_checks
from jobs.audio import spectrogram as sg
from jobs.audio import workers as audio_workers
from jobs.audio.attributes import attributes
from tests.conftest import make_config

SR = 22_050
S = sg.Settings.from_conf()


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


@pytest.mark.parametrize("bpm", [120, 90, 140])
def test_click_track_reads_its_tempo(bpm):
    a = attributes(click_track(bpm), S)
    assert a["tempo_bpm"] == pytest.approx(bpm, abs=2)
    assert 0 < a["tempo_confidence"] <= 1


def test_c_major_progression_reads_c_major():
    # C - F - G - C, twice
    y = progression([(60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67)] * 2)
    a = attributes(y, S)
    assert (a["key"], a["mode"]) == ("C", "major")
    assert a["key_confidence"] > 0


def test_a_minor_progression_reads_a_minor():
    # Am - Dm - E - Am (harmonic minor: the G# marks the mode)
    y = progression([(57, 60, 64), (62, 65, 69), (64, 68, 71), (57, 60, 64)] * 2)
    a = attributes(y, S)
    assert (a["key"], a["mode"]) == ("A", "minor")


@pytest.mark.parametrize("bpm", [120, 90])
def test_waltz_reads_three_four_and_a_march_four_four(bpm):
    waltz = click_track(bpm, seconds=16, accents=(1.0, 0.3, 0.3))
    march = click_track(bpm, seconds=16, accents=(1.0, 0.3, 0.3, 0.3))
    assert attributes(waltz, S)["time_signature"] == 3
    assert attributes(march, S)["time_signature"] == 4


def test_a_copy_6_db_quieter_reads_6_db_quieter():
    y = progression([(60, 64, 67), (65, 69, 72)])
    quiet = y * 10 ** (-6 / 20)
    assert sg.loudness_db(y) - sg.loudness_db(quiet) == pytest.approx(6.0, abs=0.05)
    assert attributes(quiet, S)["loudness_lufs"] == pytest.approx(attributes(y, S)["loudness_lufs"] - 6, abs=0.05)


def test_log_mel_shape_and_storage_round_trip():
    y = click_track(100, seconds=5)
    mel = sg.log_mel(y, S)
    assert mel.dtype == np.float16
    assert mel.shape == (128, 1 + len(y) // 512)
    back = sg.mel_from_bytes(mel.astype("<f2").tobytes(), *mel.shape)
    np.testing.assert_array_equal(back, mel)


def test_load_clip_takes_the_middle_window(tmp_path):
    y = np.concatenate([np.full(SR * 2, 0.1), np.full(SR * 2, 0.5), np.full(SR * 2, 0.1)]).astype(np.float32)
    sf.write(tmp_path / "x.wav", y, SR)
    clip = sg.load_clip(tmp_path / "x.wav", dataclasses.replace(sg.Settings.from_conf(), window_seconds=2.0))
    assert len(clip) == 2 * SR
    assert np.allclose(clip, 0.5, atol=1e-3)


def test_pad_to_window_pads_the_end_with_the_floor_and_counts_real_frames():
    mel = np.zeros((4, 3), dtype=np.float16)
    padded, valid = sg.pad_to_window(mel, 5)
    assert padded.dtype == np.float16 and padded.shape == (4, 5) and valid == 3
    assert (padded[:, :3] == 0).all() and (padded[:, 3:] == sg.FLOOR_DB).all()
    assert sg.pad_to_window(np.zeros((4, 9), dtype=np.float16), 5)[0].shape == (4, 5)


def write_world(tmp_path, files, workers=2, **audio):
    """A data root with ``files`` (name -> writer(path) or None for a missing file; "" for no path) and its config."""
    data = tmp_path / "data"
    (data / "audio").mkdir(parents=True)
    (data / "catalog").mkdir()
    for name, writer in files.items():
        if name and writer is not None:
            writer(data / "audio" / name)
    names = list(files)
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
    return make_config(data, tmp_path / "wh", audio={"workers": workers, **audio})


def read_week(tmp_path, table):
    return pq.read_table(tmp_path / "wh" / table / "week=2026-W47").to_pandas()


def test_short_clips_are_padded_to_the_window_and_long_ones_cut_from_the_middle(tmp_path):
    rng = np.random.default_rng(0)
    edge = (0.05 * rng.standard_normal(5 * SR)).astype(np.float32)  # noise in the first and last 5 s
    middle = (0.3 * np.sin(2 * np.pi * 440 * np.arange(30 * SR) / SR)).astype(np.float32)  # a pure tone between
    files = {
        "short.wav": lambda p: sf.write(p, click_track(120, seconds=3), SR, subtype="FLOAT"),
        "long.wav": lambda p: sf.write(p, np.concatenate([edge, middle, edge]), SR, subtype="FLOAT"),
    }
    config = write_world(tmp_path, files)
    metrics = af.run(config, "2026-W47")
    specs = read_week(tmp_path, "spectrograms").set_index("track_id")
    window = 1 + 30 * SR // 512
    assert S.window_frames == window == 1292
    assert (specs["n_frames"] == window).all() and (specs["n_mels"] == 128).all()
    short = sg.mel_from_bytes(specs.loc["t0", "mel"], 128, window)
    assert specs.loc["t0", "valid_frames"] == 1 + 3 * SR // 512 == 130
    np.testing.assert_array_equal(short[:, :130], sg.log_mel(click_track(120, seconds=3), S))
    assert (short[:, 130:] == -100).all()
    long = sg.mel_from_bytes(specs.loc["t1", "mel"], 128, window)
    assert specs.loc["t1", "valid_frames"] == window
    np.testing.assert_array_equal(long, sg.log_mel(middle, S))  # exactly the middle 30 s: the tone, no noise
    assert metrics["padded_to_window"] == 1 and metrics["window_frames"] == window


def _truncated_flac(path):
    sf.write(path, click_track(120, seconds=4), SR)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])  # the header still says 4 s


def _nan_wav(path):
    y = click_track(120, seconds=4)
    y[1000:1010] = np.nan
    sf.write(path, y, SR, subtype="FLOAT")


def test_bad_files_end_in_the_rejects_table_with_exact_reasons(tmp_path):
    files = {
        "good.wav": lambda p: sf.write(p, click_track(120, seconds=4), SR),
        "silent.wav": lambda p: sf.write(p, np.zeros(SR * 4, dtype=np.float32), SR),
        "short.wav": lambda p: sf.write(p, click_track(120, seconds=0.3), SR),
        "garbage.flac": lambda p: p.write_bytes(b"fLaC" + bytes(range(256)) * 10),
        "text.wav": lambda p: p.write_text("not audio at all\n" * 50),
        "empty.wav": lambda p: p.write_bytes(b""),
        "no_frames.wav": lambda p: sf.write(p, np.zeros(0, dtype=np.float32), SR),
        "truncated.flac": _truncated_flac,
        "nan.wav": _nan_wav,
        "gone.wav": None,
        "": None,
    }
    config = write_world(tmp_path, files)
    metrics = af.run(config, "2026-W47")
    rejects = read_week(tmp_path, "audio_rejects")
    assert dict(zip(rejects["track_id"], rejects["reason"])) == {
        "t1": "silent",
        "t2": "too_short",
        "t3": "unreadable",
        "t4": "unreadable",
        "t5": "empty_file",
        "t6": "empty_file",
        "t7": "corrupt",
        "t8": "corrupt:non_finite_samples",
        "t9": "missing_file",
        "t10": "no_audio",
    }
    assert rejects.loc[rejects["track_id"] == "t10", "audio_path"].isna().all()
    assert read_week(tmp_path, "spectrograms")["track_id"].tolist() == ["t0"]
    assert read_week(tmp_path, "audio_attributes")["track_id"].tolist() == ["t0"]
    assert metrics["spectrograms"] == 1 and sum(metrics["rejects"].values()) == 10


def test_a_clip_that_kills_its_worker_is_rejected_and_the_run_goes_on(tmp_path, monkeypatch):
    real_load = audio_workers.load_clip

    def load_or_die(path, settings):
        if path.name == "crash.wav":
            os._exit(1)  # a decoder crash: the worker process dies without a word
        return real_load(path, settings)

    # the pool forks its workers, so process_clip there sees this module attribute as patched here
    monkeypatch.setattr(audio_workers, "load_clip", load_or_die)
    files = {f"ok{i}.wav": lambda p: sf.write(p, click_track(120, seconds=2), SR) for i in range(5)}
    files["crash.wav"] = lambda p: sf.write(p, click_track(120, seconds=2), SR)
    files.update({f"ok{i}.wav": lambda p: sf.write(p, click_track(120, seconds=2), SR) for i in range(5, 8)})
    config = write_world(tmp_path, files)
    metrics = af.run(config, "2026-W47")
    rejects = read_week(tmp_path, "audio_rejects")
    assert dict(zip(rejects["track_id"], rejects["reason"])) == {"t5": "crashed_worker"}
    assert read_week(tmp_path, "spectrograms")["track_id"].tolist() == sorted(f"t{i}" for i in range(9) if i != 5)
    assert metrics["rejects"] == {"crashed_worker": 1}


class _ParentTimeout(BaseException):
    """What a SIGALRM handler of the parent raises (Airflow's parse timeout raises one like it)."""


def _raise_parent_timeout(signum, frame):
    raise _ParentTimeout


@pytest.mark.parametrize("parent_handler", [False, True], ids=["default", "parent_handles_sigalrm"])
def test_a_clip_that_hangs_is_stopped_at_the_time_limit_and_rejected(tmp_path, monkeypatch, request, parent_handler):
    import signal
    import time

    if parent_handler:  # forked workers inherit it; the time limit must still end the worker
        previous = signal.signal(signal.SIGALRM, _raise_parent_timeout)
        request.addfinalizer(lambda: signal.signal(signal.SIGALRM, previous))

    real_load = audio_workers.load_clip

    def load_or_hang(path, settings):
        if path.name == "hang.wav":
            time.sleep(600)  # a decoder stuck on one file
        return real_load(path, settings)

    monkeypatch.setattr(audio_workers, "load_clip", load_or_hang)
    files = {f"ok{i}.wav": lambda p: sf.write(p, click_track(120, seconds=2), SR) for i in range(3)}
    files["hang.wav"] = lambda p: sf.write(p, click_track(120, seconds=2), SR)
    config = write_world(tmp_path, files, clip_timeout_seconds=2)
    t0 = time.perf_counter()
    metrics = af.run(config, "2026-W47")
    assert time.perf_counter() - t0 < 60
    rejects = read_week(tmp_path, "audio_rejects")
    assert dict(zip(rejects["track_id"], rejects["reason"])) == {"t3": "timed_out"}
    assert read_week(tmp_path, "spectrograms")["track_id"].tolist() == ["t0", "t1", "t2"]
    assert metrics["rejects"] == {"timed_out": 1}


def test_accuracy_vs_truth_counts_right_octave_and_three_two_answers():
    attrs = pd.DataFrame(
        {
            "track_id": ["a", "b", "c", "d"],
            "tempo_bpm": [100.0, 200.0, 150.0, 101.0],
            "tempo_confidence": [0.9, 0.2, 0.1, 0.8],
            "key": ["C", "C", "D", "E"],
            "key_confidence": [0.9, 0.9, 0.1, 0.9],
            "mode": ["major", "minor", "major", "minor"],
            "time_signature": [4, 3, 4, 4],
            "time_signature_confidence": [0.5, 0.5, 0.5, 0.5],
        }
    )
    truth = pd.DataFrame(
        {
            "track_id": ["a", "b", "c", "d"],
            "bpm": [100.0, 100.0, 100.0, 100.0],
            "key": ["C", "C", "C", "E"],
            "mode": ["major", "minor", "major", "minor"],
            "time_signature": ["4/4", "3/4", "3/4", "4/4"],
        }
    )
    acc = audio_checks.accuracy_vs_truth(attrs, truth)
    assert acc["tracks"] == 4
    assert acc["tempo_within_4pct"] == 0.5 and acc["tempo_octave_errors"] == 0.25 and acc["tempo_3_2_errors"] == 0.25
    assert acc["key_and_mode"] == 0.75 and acc["time_signature"] == 0.75
    assert acc["mean_confidence_right_wrong"]["tempo"] == [0.85, 0.15]


def test_audio_paths_must_stay_inside_the_data_folder(tmp_path):
    data = tmp_path / "data"
    (data / "audio").mkdir(parents=True)
    (data / "audio" / "ok.wav").write_bytes(b"x")
    (tmp_path / "secret.wav").write_bytes(b"x")
    (tmp_path / "disk").mkdir()
    (data / "linked").symlink_to(tmp_path / "disk")  # the owner's own layout: followed
    assert audio_checks.inside_data_root(data, "audio/ok.wav") == data / "audio" / "ok.wav"
    assert audio_checks.inside_data_root(data, "audio/../audio/ok.wav") == data / "audio" / "ok.wav"
    assert audio_checks.inside_data_root(data, "linked/x.wav") == data / "linked" / "x.wav"
    for escape in ("../secret.wav", "../../x.flac", "audio/../../secret.wav", str(tmp_path / "secret.wav"), "."):
        assert audio_checks.inside_data_root(data, escape) is None, escape


def test_one_stft_shared_by_the_log_mel_and_the_tuning_changes_nothing():
    from jobs.audio import tonality

    y = progression([(60, 64, 67), (65, 69, 72), (67, 71, 74)])
    magnitude = sg.stft_magnitude(y, S)
    np.testing.assert_array_equal(sg.log_mel(y, S, magnitude), sg.log_mel(y, S))
    np.testing.assert_array_equal(
        tonality.harmonic_cqt(y, SR, S.hop_length, tuning_stft=magnitude), tonality.harmonic_cqt(y, SR, S.hop_length)
    )
    assert attributes(y, S, sg.log_mel(y, S), magnitude) == attributes(y, S)
