from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from timbrel.core.config import from_dict
from timbrel.core.errors import ConfigError
from timbrel.dataset.rvc import RVCPrepareConfig, prepare_recording, write_recording


@pytest.fixture(scope="module")
def reference(fixtures):
    return torch.load(fixtures / "rvc" / "dsp" / "preprocess.pt", weights_only=True)


def piece_cases(reference) -> list[str]:
    cases = [key for key in reference if key.startswith("per_")]
    assert cases, "the fixture has no per_* preprocessing case"
    return cases


def case_with_audio(reference) -> str:
    (per,) = [key for key in piece_cases(reference) if any(k.startswith("audio/") for k in reference[key])]
    return per


def config_for(reference, per: str) -> RVCPrepareConfig:
    # the fixture keys name the piece length: per_3_7 -> 3.7 s
    piece_s = float(per.removeprefix("per_").replace("_", "."))
    return RVCPrepareConfig(sample_rate=reference["sr"], piece_s=piece_s)


def test_names_lengths_and_spans_match(reference):
    for per in piece_cases(reference):
        expected = reference[per]
        recording = prepare_recording(reference["input_wav"].numpy(), 0, config_for(reference, per))
        assert list(recording.spans) == [tuple(s) for s in expected["slicer_chunks_samples"].tolist()], per
        written = {}
        for piece in recording.pieces:
            written[f"0_gt_wavs/{piece.name}.wav"] = piece.samples.shape[0]
            written[f"1_16k_wavs/{piece.name}.wav"] = piece.samples_16k.shape[0]
        assert sorted(written) == sorted(expected["file_names"]), per
        assert written == expected["file_lengths"], per


def test_abnormal_pieces_are_reported_not_written(reference):
    for per in piece_cases(reference):
        config = config_for(reference, per)
        recording = prepare_recording(reference["input_wav"].numpy(), 0, config)
        written = {p.name for p in recording.pieces}
        assert recording.skipped, "the fixture has a voiced part that peaks above the limit"
        for skipped in recording.skipped:
            assert skipped.reason == "abnormal_peak"
            assert skipped.peak > config.max_input_peak
            assert f"0_gt_wavs/{skipped.name}.wav" not in reference[per]["file_names"]
            assert skipped.name not in written


def test_written_audio_matches(reference):
    per = case_with_audio(reference)
    expected = reference[per]
    recording = prepare_recording(reference["input_wav"].numpy(), 0, config_for(reference, per))
    # the fixture may keep the audio of some pieces only (set2: the last one)
    stored = [piece for piece in recording.pieces if f"audio/0_gt_wavs/{piece.name}.wav" in expected]
    assert stored, "the fixture keeps the audio of none of the pieces written"
    for piece in stored:
        gt = expected[f"audio/0_gt_wavs/{piece.name}.wav"].numpy()
        low = expected[f"audio/1_16k_wavs/{piece.name}.wav"].numpy()
        assert piece.samples.dtype == np.float32 == piece.samples_16k.dtype
        # same float64 arithmetic, rounded to float32 at the end: measured max |error| = 0
        np.testing.assert_allclose(piece.samples, gt, rtol=0, atol=1e-7)
        # soxr HQ as librosa's soxr_hq; README allows ~1e-6 for another soxr build; measured 0
        np.testing.assert_allclose(piece.samples_16k, low, rtol=0, atol=2e-6)


def test_writer_puts_float32_wavs_in_the_reference_layout(reference, tmp_path):
    per = case_with_audio(reference)
    expected = reference[per]
    recording = prepare_recording(reference["input_wav"].numpy(), 0, config_for(reference, per))
    paths = write_recording(tmp_path, recording, reference["sr"])
    names = sorted(str(p.relative_to(tmp_path)) for p in paths)
    assert names == sorted(expected["file_names"])
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.wav")) == names
    for name in names:
        samples, rate = soundfile.read(tmp_path / name, dtype="float32")
        assert soundfile.info(str(tmp_path / name)).subtype == "FLOAT"
        assert rate == (16000 if name.startswith("1_16k_wavs") else reference["sr"])
        assert len(samples) == expected["file_lengths"][name]
    stored = [name for name in names if f"audio/{name}" in expected]
    assert {name.split("/")[0] for name in stored} == {"0_gt_wavs", "1_16k_wavs"}
    for name in stored:
        samples, _ = soundfile.read(tmp_path / name, dtype="float32")
        np.testing.assert_array_equal(samples, expected[f"audio/{name}"].numpy())


def test_a_name_reused_by_the_next_stretch_keeps_the_later_piece():
    # Two loud stretches of 8 s: the first is cut 0, 1, 3 and leaves the counter at 3, so the
    # second's first full piece is named 3 again; the reference overwrites the file.
    rate = 32000
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(8 * rate) / rate)
    x = np.concatenate([tone, np.zeros(rate), tone]).astype(np.float32)
    recording = prepare_recording(x, 7, RVCPrepareConfig(sample_rate=rate))
    names = [p.name for p in recording.pieces]
    assert len(recording.spans) == 2
    assert names == ["7_0", "7_1", "7_3", "7_4", "7_6"]
    (superseded,) = recording.skipped
    assert superseded.name == "7_3" and superseded.reason == "superseded"
    kept = next(p for p in recording.pieces if p.name == "7_3")
    assert superseded.start < recording.spans[1][0] <= kept.start


def test_lengths_at_every_rate_and_16k_length_rule():
    rng = np.random.default_rng(0)
    for rate in (32000, 40000, 48000):
        x = (0.3 * rng.standard_normal(int(rate * 2.3456))).astype(np.float32)
        (piece,) = prepare_recording(x, 0, RVCPrepareConfig(sample_rate=rate)).pieces
        assert piece.samples.shape == x.shape
        assert piece.samples_16k.shape[0] == -(-x.shape[0] * 16000 // rate)


def test_config_validation():
    with pytest.raises(ConfigError, match="44100"):
        from_dict(RVCPrepareConfig, {"sample_rate": 44100})
    assert RVCPrepareConfig.for_cpu(48000).piece_s == 3.0
    with pytest.raises(ValueError, match="piece_s > overlap_s"):
        RVCPrepareConfig(piece_s=0.2)
    with pytest.raises(ValueError, match="mono"):
        prepare_recording(np.zeros((2, 100), dtype=np.float32), 0, RVCPrepareConfig())
