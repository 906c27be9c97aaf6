"""Audio attributes: LUFS against BS.1770's calibration, the estimators' decisions on known inputs,
``--analyze FILE...``, and the real-audio benchmark (skipped only on a machine without ../shared/data)."""

import json

import numpy as np
import pytest
import soundfile as sf

from jobs import audio_features as af
from jobs.audio import rhythm, tonality
from jobs.audio.attributes import attributes, integrated_loudness, platt
from jobs.audio.spectrogram import Settings
from studies import real_audio
from tests.conftest import shared_data

SR = 22_050
S = Settings.from_conf()


def sine(freq, amplitude, seconds=10.0):
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.slow  # a whole job or a training of several seconds: make test, not make check
def test_a_sine_calibrated_to_minus_23_lufs_reads_minus_23_lufs():
    # BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LUFS, so 19.99 dB below full scale is -23
    y = sine(997, 10 ** (-19.99 / 20))
    assert integrated_loudness(y, SR) == pytest.approx(-23.0, abs=0.1)
    assert attributes(y, S)["loudness_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert integrated_loudness(y * 10 ** (-10 / 20), SR) == pytest.approx(-33.0, abs=0.1)


def test_silence_below_the_absolute_gate_reads_the_floor():
    assert integrated_loudness(sine(997, 1e-5), SR) == -70.0


@pytest.mark.parametrize("profile", sorted(tonality.PROFILES))
@pytest.mark.parametrize("tonic,mode", [(0, "major"), (9, "minor"), (6, "minor"), (10, "major")])
def test_a_profile_shaped_chroma_reads_its_own_key(profile, tonic, mode):
    major, minor = tonality.PROFILES[profile]
    chroma = np.roll(np.asarray(major if mode == "major" else minor), tonic)
    key, got_mode, key_margin, mode_margin = tonality.decide_key(chroma, profile)
    assert (key, got_mode) == (tonality.PITCH_CLASSES[tonic], mode)
    assert key_margin > 0 and mode_margin > 0


def test_the_tempo_prior_decides_between_two_equal_periodicities():
    salience = np.zeros_like(rhythm.BPM_GRID)
    for bpm in (80.0, 160.0):
        salience[np.argmin(np.abs(rhythm.BPM_GRID - bpm))] = 1.0
    flat_ac = np.zeros(2000)
    slow, _ = rhythm.decide_tempo(salience, flat_ac, SR / 512, centre=90, octaves=0.75)
    fast, margin = rhythm.decide_tempo(salience, flat_ac, SR / 512, centre=150, octaves=0.75)
    assert slow == pytest.approx(80, rel=0.01) and fast == pytest.approx(160, rel=0.01) and 0 < margin < 1


def test_the_meter_decision_reads_4_unless_the_cue_clears_the_threshold():
    assert rhythm.decide_meter(0.5, 0.25) == (3, 0.25)
    assert rhythm.decide_meter(0.1, 0.25)[0] == 4
    assert rhythm.decide_meter(float("nan"), 0.25) == (4, 0.0)
    assert rhythm.decide_meter(5.0, float("inf")) == (4, 0.0)
    assert platt(0.0, (5.0, 0.0)) == 0.5 and platt(1.0, (5.0, 0.0)) > platt(0.1, (5.0, 0.0))


def test_analyze_prints_one_json_line_per_file_and_an_error_per_bad_one(tmp_path, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, sine(440, 0.3, seconds=4), SR)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio\n" * 20)
    gone = tmp_path / "gone.flac"
    assert af.main(["--analyze", str(good), str(bad), str(gone)]) == 1
    out, err = capsys.readouterr()
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert set(line) == {
        "file", "tempo_bpm", "tempo_confidence", "key", "key_confidence", "mode", "mode_confidence",
        "loudness_lufs", "loudness_confidence", "time_signature", "time_signature_confidence",
    }  # fmt: skip
    assert line["file"] == str(good) and line["key"] == "A" and line["time_signature"] in (3, 4)
    assert line["loudness_lufs"] == pytest.approx(integrated_loudness(sine(440, 0.3, seconds=4), SR), abs=0.01)
    assert [json.loads(x) for x in err.splitlines()] == [
        {"file": str(bad), "error": "unreadable"},
        {"file": str(gone), "error": "missing_file"},
    ]
    assert af.main(["--analyze", str(good)]) == 0


def test_the_real_audio_benchmark_skips_with_a_message_when_the_data_is_absent(tmp_path, capsys):
    result = real_audio.run(tmp_path / "nowhere")
    assert result == {"skipped": f"no real audio at {tmp_path / 'nowhere'} (truth.csv missing): section skipped"}
    assert "section skipped" in capsys.readouterr().err
    assert "Skipped:" in "\n".join(real_audio.markdown(result))


def test_scoring_counts_acc1_acc2_and_mirex_as_published():
    est, ref = np.array([100.0, 200.0, 150.0, 104.5, 33.4]), np.full(5, 100.0)
    assert real_audio.acc1(est, ref).tolist() == [True, False, False, False, False]
    assert real_audio.acc2(est, ref).tolist() == [True, True, False, False, True]
    assert real_audio.mirex(["A minor"] * 4, ["A minor", "E minor", "C major", "A major"]).tolist() == [
        1,
        0.5,
        0.3,
        0.2,
    ]


@pytest.mark.slow
def test_the_real_audio_benchmark_runs_on_real_clips():
    data = shared_data("real-audio", "truth.csv", "clips")
    assert data == real_audio.DEFAULT_DATA  # the study's default is where the shared data is
    result = real_audio.run(data, workers=1, limit=8, folds=2)
    held = result["held_out"]
    assert result["clips"] == 8 and len(result["chosen_per_fold"]) == 2
    for key in ("tempo_acc1_gtzan_project", "tempo_acc2_gtzan_librosa_tempo", "meter_project", "meter_always_4"):
        assert 0 <= held[key]["low"] <= held[key]["mean"] <= held[key]["high"] <= 1, key
    assert {row[1] for rows in held["reliability"].values() for row in rows} and result["clips_per_second_per_core"] > 0
