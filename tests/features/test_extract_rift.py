"""RIFT training-feature files: reference values, file format, batching, resume and per-file errors."""

import numpy as np
import pytest
import soundfile
import torch

from tests import parity
from timbrel.audio.sinc_resample import sinc_resample
from timbrel.core.errors import ConfigError
from timbrel.features.content.contentvec import contentvec_train_content
from timbrel.features.extract_rift import (
    RIFTExtractConfig,
    RIFTFeatureModels,
    extract_rift_features,
    feature_paths,
    utterance_features,
)
from timbrel.features.mel import MelConfig
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.weights.hubert import load_contentvec
from timbrel.weights.rmvpe import load_rmvpe


@pytest.fixture(scope="module")
def models(fixtures):
    return RIFTFeatureModels(
        content_model=load_contentvec(fixtures / "rift" / "e2e" / "pretrained" / "content-vec-best"),
        rmvpe=RmvpeExtractor(load_rmvpe(fixtures / "rift" / "rmvpe_small" / "model.pt"), RmvpeConfig.rift()),
    )


@pytest.fixture(scope="module")
def reference(fixtures):
    features = torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)
    rmvpe_io = torch.load(fixtures / "rift" / "rmvpe_small" / "io.pt", weights_only=True)
    return features, rmvpe_io


def write_float_wav(path, samples, sample_rate=44100):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), sample_rate, subtype="FLOAT")


def load(path):
    return torch.load(path, weights_only=True)


def test_files_match_the_reference_scripts(tmp_path, models, reference):
    features, rmvpe_io = reference
    write_float_wav(tmp_path / "alice" / "tone.wav", features["wave"].numpy())
    write_float_wav(tmp_path / "bob" / "beep.wav", rmvpe_io["wav_44k"][0].numpy())
    outcomes = extract_rift_features(tmp_path, models)
    assert [o.status for o in outcomes] == ["done", "done"]

    tone = feature_paths(tmp_path / "alice" / "tone.wav")
    mel, rms = load(tone["mel"]), load(tone["rms"])
    assert mel.dtype == rms.dtype == torch.float32
    mel_config = MelConfig()  # the mel extraction writes: RIFT's 2048-point one
    mel_terms = mel_config.n_fft + mel_config.n_fft // 2 + 1  # the DFT, then the filterbank
    parity.log_close(mel, features["mel"], terms=mel_terms, what="mel file")
    parity.float32_close(rms, features["rms"], terms=2048, what="rms file")  # RMSExtractor's frame
    n_frames = mel.shape[-1]
    assert load(tone["f0"]).shape == (n_frames,)

    samples_16k = features["to16k_torchaudio_default_lpfw6"][0]
    with torch.inference_mode():
        expected = contentvec_train_content(models.content_model, samples_16k)
    content = load(tone["cvec"])
    assert content.shape == expected.shape and content.shape[0] % 2 == 0
    terms = parity.network_terms(models.content_model)
    parity.float32_close(content, expected, terms=terms, what="cvec file")  # the same network, batched

    beep = load(feature_paths(tmp_path / "bob" / "beep.wav")["f0"])
    expected_f0 = rmvpe_io["f0_mel_aligned_prepare_f0"].float()
    assert beep.dtype == torch.float32
    torch.testing.assert_close(beep, expected_f0, atol=1e-3, rtol=0)
    torch.testing.assert_close(beep == 0, expected_f0 == 0)


def test_saved_files_hold_only_their_tensor(tmp_path, models, reference):
    write_float_wav(tmp_path / "a" / "x.wav", reference[0]["wave"][:20000].numpy())
    extract_rift_features(tmp_path, models, RIFTExtractConfig(features=("mel",)))
    mel = load(tmp_path / "a" / "x.mel.pt")
    assert mel.shape == (1, 128, 20000 // 512)
    assert mel.untyped_storage().nbytes() == mel.numel() * 4


def test_equal_length_batch_equals_one_by_one(models, reference):
    wave = reference[0]["wave"][:30000]
    batch = torch.stack([wave, 0.5 * wave.flip(0)])
    together = utterance_features(batch, models)
    for i in range(2):
        (alone,) = utterance_features(batch[i : i + 1], models)
        for name in ("mel", "rms", "f0_hz", "content"):
            torch.testing.assert_close(getattr(together[i], name), getattr(alone, name), atol=1e-5, rtol=1e-5)


def test_resume_skips_done_and_redoes_changed_audio(tmp_path, models, reference):
    wave = reference[0]["wave"][:25000].numpy()
    write_float_wav(tmp_path / "s" / "one.wav", wave)
    write_float_wav(tmp_path / "s" / "two.wav", wave[:24000])
    config = RIFTExtractConfig(features=("mel", "rms"))
    assert [o.status for o in extract_rift_features(tmp_path, models, config)] == ["done", "done"]
    assert [o.status for o in extract_rift_features(tmp_path, models, config)] == ["skipped", "skipped"]
    write_float_wav(tmp_path / "s" / "two.wav", wave[:23000])
    assert [o.status for o in extract_rift_features(tmp_path, models, config)] == ["skipped", "done"]
    assert load(tmp_path / "s" / "two.mel.pt").shape[-1] == 23000 // 512
    (tmp_path / "s" / "one.rms.pt").unlink()
    assert [o.status for o in extract_rift_features(tmp_path, models, config)] == ["done", "skipped"]
    other = RIFTExtractConfig(features=("mel", "rms", "f0"))
    assert [o.status for o in extract_rift_features(tmp_path, models, other)] == ["done", "done"]


def test_a_bad_file_fails_alone(tmp_path, models, reference):
    write_float_wav(tmp_path / "s" / "good.wav", reference[0]["wave"][:25000].numpy())
    (tmp_path / "s" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    write_float_wav(tmp_path / "s" / "tiny.wav", np.zeros(300))
    finished = []
    outcomes = {
        o.item.rsplit("/", 1)[-1]: o
        for o in extract_rift_features(tmp_path, models, progress=finished.append)
    }
    assert sum(finished) == 3
    assert outcomes["good.wav"].status == "done"
    assert outcomes["broken.wav"].status == "failed" and "broken.wav" in outcomes["broken.wav"].reason
    assert outcomes["tiny.wav"].status == "failed" and "too short" in outcomes["tiny.wav"].reason
    assert not feature_paths(tmp_path / "s" / "tiny.wav")["mel"].exists()


def test_other_rates_are_resampled_to_44k(tmp_path, models, reference):
    wave = reference[0]["wave"][:44100]
    at_48k = sinc_resample(wave, 44100, 48000)
    write_float_wav(tmp_path / "s" / "x.wav", at_48k.numpy(), 48000)
    extract_rift_features(tmp_path, models, RIFTExtractConfig(features=("mel",)))
    assert load(tmp_path / "s" / "x.mel.pt").shape == (1, 128, 44100 // 512)


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"needs RIFTFeatureModels\.rmvpe"):
        extract_rift_features(tmp_path, RIFTFeatureModels(), RIFTExtractConfig(features=("f0",)))
    with pytest.raises(ConfigError, match="allowed"):
        RIFTExtractConfig(features=("pitch",))
