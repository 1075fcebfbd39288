from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
import soundfile
import torch

from tests import parity
from timbrel.core.errors import ConfigError
from timbrel.dataset.rift import (
    RIFTPrepareConfig,
    discover_speakers,
    prepare_recording,
    split_meta_info,
    write_meta_info,
    write_recording,
)


@pytest.fixture(scope="module")
def loudness(fixtures):
    return torch.load(fixtures / "rift" / "features" / "loudness.pt", weights_only=True)


@pytest.fixture(scope="module")
def tone(fixtures):
    return torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)


def fixture_input(loudness, name, tone):
    """The prep_* inputs as the reference read them from float32 WAV files."""
    if name == "tone":
        return tone["wave"].numpy(), tone["sr"]
    return loudness[f"prep_{name}_input"].numpy().astype(np.float32), loudness[f"prep_{name}_input_sr"]


def logged_lufs(message: str) -> str:
    return re.search(r"Original LUFS: (-?[0-9.]+)", message).group(1)


@pytest.mark.parametrize("name", ["tone", "clip"])
def test_recordings_at_the_target_rate_are_written_exactly(loudness, tone, name, tmp_path):
    samples, rate = fixture_input(loudness, name, tone)
    config = RIFTPrepareConfig()
    recording = prepare_recording(samples, rate, config)
    expected = loudness[f"prep_{name}_normalized"].numpy()
    np.testing.assert_array_equal(recording.samples.astype(expected.dtype), expected)
    assert f"{recording.input_lufs:.2f}" == logged_lufs(loudness[f"prep_{name}_message"])
    assert (recording.peak_scale is not None) == ("Clipped" in loudness[f"prep_{name}_message"])
    path = tmp_path / f"{name}.wav"
    write_recording(path, recording, config)
    assert soundfile.info(str(path)).subtype == loudness[f"prep_{name}_written_subtype"]
    written, written_rate = soundfile.read(path, dtype="int16")
    assert written_rate == config.sample_rate
    np.testing.assert_array_equal(written, loudness[f"prep_{name}_written_int16"].numpy())


def resample_case(loudness) -> str:
    """The case whose input is at another rate, named after it (resample48k, ...)."""
    (name,) = {key.split("_")[1] for key in loudness if key.startswith("prep_resample")}
    return name


def test_resampled_recording_matches_resampy(loudness, tone, tmp_path):
    name = resample_case(loudness)
    samples, rate = fixture_input(loudness, name, tone)
    config = RIFTPrepareConfig()
    assert rate != config.sample_rate
    recording = prepare_recording(samples, rate, config)
    expected = loudness[f"prep_{name}_normalized"].numpy()
    assert recording.samples.shape == expected.shape
    assert f"{recording.input_lufs:.2f}" == logged_lufs(loudness[f"prep_{name}_message"])
    # float64 throughout: each output sums the filter's taps, and the loudness gain sums every sample
    parity.float64_close(recording.samples, expected, terms=samples.shape[-1], what="resampled, normalised")
    path = tmp_path / "r.wav"
    write_recording(path, recording, config)
    written, _ = soundfile.read(path, dtype="int16")
    parity.pcm_close(
        written,
        loudness[f"prep_{name}_written_int16"].numpy(),
        float_tolerance=parity.float64_tolerance(parity.magnitude(expected), samples.shape[-1]),
    )


def test_soxr_resampler_is_close_to_resampy(loudness, tone):
    name = resample_case(loudness)
    samples, rate = fixture_input(loudness, name, tone)
    recording = prepare_recording(samples, rate, RIFTPrepareConfig(resampler="soxr_hq"))
    expected = loudness[f"prep_{name}_normalized"].numpy()
    # soxr HQ against resampy kaiser_best: two sound band-limited designs that differ in their
    # edge handling (measured 2.8e-4 within the first/last 100 samples) and by 2.3e-6 elsewhere
    edge = 100
    np.testing.assert_allclose(recording.samples, expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(recording.samples[edge:-edge], expected[edge:-edge], rtol=0, atol=1e-5)


def test_unknown_resampler_is_refused():
    with pytest.raises(ValueError, match="resampler"):
        RIFTPrepareConfig(resampler="linear")


def test_multichannel_input_is_averaged_in_float64(tone):
    wave = tone["wave"].numpy()
    stereo = np.stack([wave, 0.5 * wave])
    mono = prepare_recording((wave.astype(np.float64) + 0.5 * wave) / 2, tone["sr"], RIFTPrepareConfig())
    both = prepare_recording(stereo, tone["sr"], RIFTPrepareConfig())
    np.testing.assert_array_equal(both.samples, mono.samples)


def test_unusable_recordings_are_refused():
    with pytest.raises(ValueError, match="loudness block"):
        prepare_recording(np.ones(100, dtype=np.float32), 44100, RIFTPrepareConfig())
    # at another rate too, before the resampler sees a few samples
    with pytest.raises(ValueError, match=r"3 samples at 192000 Hz are shorter than one 0\.4 s"):
        prepare_recording(np.ones(3, dtype=np.float32), 192000, RIFTPrepareConfig())
    with pytest.raises(ValueError, match="silent"):
        prepare_recording(np.zeros(44100, dtype=np.float32), 44100, RIFTPrepareConfig())


SPLIT_KEY = re.compile(r"(random)_num_test(\d+)_seed(\d+)|(stratified)_(\d+)_seed(\d+)(?:_only_(.+))?")


def split_settings(key: str) -> dict:
    """The fixture names each case after its settings, e.g. stratified_2_seed7_only_amy_bob."""
    m = SPLIT_KEY.fullmatch(key)
    if m.group(1):
        return {"split": "random", "num_test": int(m.group(2)), "seed": int(m.group(3))}
    only = m.group(7).split("_") if m.group(7) else None
    return {
        "split": "stratified",
        "num_test_per_speaker": int(m.group(5)),
        "seed": int(m.group(6)),
        "only_include_speakers": only,
    }


def test_splits_match(fixtures):
    cases = json.loads((fixtures / "rift" / "features" / "meta_info_splits.json").read_text())
    speaker_files = cases.pop("speaker_to_files_in_iteration_order")
    assert len(cases) == 3
    state = random.getstate()
    for key, expected in cases.items():
        assert split_meta_info(speaker_files, **split_settings(key)) == expected, key
    assert random.getstate() == state, "the global generator is left alone"


def test_random_split_needs_enough_recordings():
    with pytest.raises(ConfigError, match="num_test=5 exceeds the 2"):
        split_meta_info({"a": ["x", "y"]}, "random", num_test=5)
    with pytest.raises(ConfigError, match="split"):
        split_meta_info({"a": ["x"]}, "alphabetical")


def test_discovery_finds_speaker_folders_with_wavs(tmp_path):
    for path in ["amy/b.wav", "amy/a.wav", "amy/notes.txt", "amy/sub/c.wav", "bob/X.WAV", "cid/z.wav"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    (tmp_path / "loose.wav").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    found = discover_speakers(tmp_path)
    assert found == {"amy": ["a", "b"], "cid": ["z"]}
    assert list(found) == [p.name for p in tmp_path.iterdir() if p.name in found]
    with pytest.raises(ConfigError, match="does not exist"):
        discover_speakers(tmp_path / "missing")


def test_meta_info_is_written_as_the_reference_writes_it(tmp_path):
    meta = split_meta_info({"歌手": ["1", "2"], "bob": ["b"]}, "stratified", seed=3)
    path = write_meta_info(tmp_path, meta)
    assert path == tmp_path / "meta_info.json"
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(meta, ensure_ascii=False, indent=4)
    assert "歌手" in text
    assert json.loads(text) == meta
    assert list(meta) == ["speakers", "train_audios", "test_audios"]
