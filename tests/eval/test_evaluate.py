from __future__ import annotations

import math

import numpy as np
import pytest

from tests.eval.signals import VOWEL_I, vowel
from timbrel.audio import io
from timbrel.audio.resample import resample
from timbrel.core.audio import Audio
from timbrel.core.config import from_dict, to_dict, with_overrides
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.eval.evaluate import EvalConfig, evaluate_folder, match_files


def _write(path, samples, sample_rate):
    path.parent.mkdir(parents=True, exist_ok=True)
    io.save(
        path, Audio.from_mono(samples, sample_rate), subtype="FLOAT" if path.suffix == ".wav" else "PCM_24"
    )


@pytest.fixture
def identity_conversion(tmp_path):
    """Sources at 44.1 kHz; 'converted' files are the same audio at 40 kHz in FLAC, one in a subfolder,
    plus a converted file without a source."""
    sources, converted = tmp_path / "sources", tmp_path / "converted"
    for name, f0_hz in (("a", 140.0), ("sub/b", 210.0)):
        voice = vowel(2.3, 44100, f0_hz=f0_hz)
        _write(sources / f"{name}.wav", voice, 44100)
        _write(converted / f"{name}.flac", resample(voice, 44100, 40000), 40000)
    _write(converted / "orphan.wav", vowel(1.0, 40000), 40000)
    return converted, sources


def test_files_are_matched_by_relative_name_then_by_unique_stem(tmp_path, identity_conversion):
    converted, sources = identity_conversion
    pairs, unmatched = match_files(converted, sources)
    assert [(name, c.name, s.name) for name, c, s in pairs] == [
        ("a", "a.flac", "a.wav"),
        ("sub/b", "b.flac", "b.wav"),
    ]
    assert unmatched == [(str(converted / "orphan.wav"), "no source with that name")]
    flat = tmp_path / "flat"
    _write(flat / "b.wav", vowel(1.0, 16000), 16000)
    pairs, _ = match_files(flat, sources)
    assert [(name, s.name) for name, _, s in pairs] == [("b", "b.wav")]


def test_identity_conversion_scores_perfectly(identity_conversion, pm_pitch):
    converted, sources = identity_conversion
    config = EvalConfig(metrics=("f0", "mcd", "loudness"), source_is_reference=True)
    report = evaluate_folder(converted, sources, config=config, pitch_extractor=pm_pitch)
    assert [f.name for f in report.files] == ["a", "sub/b"]
    assert report.skipped == ((str(converted / "orphan.wav"), "no source with that name"),)
    summary = report.summary
    assert summary["f0_rmse_cents"] < 3.0
    assert summary["vuv_error_rate"] < 0.05
    assert summary["f0_correlation"] > 0.99
    assert summary["mcd_db"] < 0.5
    assert abs(summary["loudness_difference_lu"]) < 0.05
    assert report.score() == summary["mcd_db"]
    assert set(report.seconds_per_metric) == {"f0", "mcd", "loudness"}
    assert report.audio_s == pytest.approx(4.6, abs=0.01)


def test_key_shift_and_parallel_references(tmp_path, pm_pitch):
    sources, converted, references = tmp_path / "s", tmp_path / "c", tmp_path / "r"
    _write(sources / "x.wav", vowel(2.0, 16000, f0_hz=150.0), 16000)
    _write(converted / "x.wav", vowel(2.0, 16000, f0_hz=300.0, formants=VOWEL_I), 16000)
    _write(references / "x.wav", vowel(2.0, 16000, f0_hz=300.0, formants=VOWEL_I), 16000)
    config = EvalConfig(metrics=("f0", "mcd"), key_shift_semitones=12.0)
    report = evaluate_folder(converted, sources, references, config, pitch_extractor=pm_pitch)
    (result,) = report.files
    assert result.f0.rmse_cents < 5.0
    assert result.reference_path == references / "x.wav"
    assert result.mcd_db == pytest.approx(0.0, abs=1e-9)
    shifted = result.f0_curves.source_f0_hz
    assert np.median(shifted[shifted > 0]) == pytest.approx(300.0, rel=0.05)  # plotted already shifted


def test_all_metrics_with_a_target_speaker(tmp_path, pm_pitch, voice_encoder, dnsmos_session):
    sources, converted, references = tmp_path / "s", tmp_path / "c", tmp_path / "r"
    voice = vowel(2.3, 16000, f0_hz=150.0)
    _write(sources / "x.wav", voice, 16000)
    _write(converted / "x.wav", voice, 16000)
    _write(references / "take1.wav", voice, 16000)
    report = evaluate_folder(
        converted,
        sources,
        references,
        pitch_extractor=pm_pitch,
        speaker_encoder=voice_encoder,
        dnsmos_session=dnsmos_session,
    )
    metrics = report.files[0].metrics
    assert metrics["speaker_similarity"] == pytest.approx(1.0, abs=1e-5)
    assert 1.0 <= metrics["dnsmos_ovrl"] <= 5.0
    assert "mcd_db" not in metrics  # no reference shares the file's name
    assert report.speaker_encoder == "resemblyzer" and report.reference_count == 1
    assert math.isnan(report.score())


def test_bad_inputs_are_clear_errors(tmp_path, identity_conversion, pm_pitch):
    converted, sources = identity_conversion
    with pytest.raises(ConfigError, match="pitch extractor"):
        evaluate_folder(converted, sources, config=EvalConfig(metrics=("f0",)))
    with pytest.raises(ConfigError, match="unknown metric group"):
        EvalConfig(metrics=("f0", "pesq"))
    with pytest.raises(BadInputError, match="not a folder"):
        evaluate_folder(tmp_path / "missing", sources)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="no converted audio file matches"):
        evaluate_folder(empty, sources, config=EvalConfig(metrics=("loudness",)))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.wav").write_bytes(b"not audio at all")
    with pytest.raises(BadInputError, match="no matched pair could be decoded"):
        evaluate_folder(broken, sources, config=EvalConfig(metrics=("loudness",)))


def test_config_round_trips_through_plain_data_and_overrides():
    config = EvalConfig(metrics=("f0", "mcd"), key_shift_semitones=-7.0)
    assert from_dict(EvalConfig, to_dict(config)) == config
    changed = with_overrides(config, ["key_shift_semitones=12", "best_metric=speaker_similarity"])
    assert changed.key_shift_semitones == 12.0 and changed.best_metric == "speaker_similarity"
    with pytest.raises(ConfigError, match="best_metric"):
        with_overrides(config, ["best_metric=pesq"])
