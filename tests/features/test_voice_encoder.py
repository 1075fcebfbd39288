from __future__ import annotations

import numpy as np
import pytest
import torch

from timbrel.features import voice_encoder
from timbrel.features.voice_encoder import (
    HOP_LENGTH,
    PARTIAL_FRAMES,
    VoiceEncoder,
    VoiceEncoderConfig,
    embed_utterance,
    mel_frames,
    partial_slices,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On a loaded 2-core machine torch's thread pool spins; the small LSTM needs one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_mel_frames_grid_and_sine_peak():
    sample_rate = voice_encoder.SAMPLE_RATE
    t = np.arange(sample_rate) / sample_rate
    mels = mel_frames(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32))
    assert mels.shape == (1 + sample_rate // HOP_LENGTH, voice_encoder.N_MELS)
    assert mels.dtype == np.float32
    assert (mels >= 0).all()
    peak_band = int(np.argmax(mels[50]))
    assert np.all(np.argmax(mels[5:-5], axis=1) == peak_band)


@pytest.mark.parametrize("n_samples", [100, 16000, 25600, 48000, 160000])
def test_partial_slices_cover_the_utterance(n_samples):
    slices = partial_slices(n_samples)
    assert slices[0].start == 0
    assert all(s.stop - s.start == PARTIAL_FRAMES for s in slices)
    starts = [s.start for s in slices]
    assert starts == sorted(set(starts))
    coverage = (n_samples - slices[-1].start * HOP_LENGTH) / (PARTIAL_FRAMES * HOP_LENGTH)
    assert len(slices) == 1 or coverage >= voice_encoder.MIN_COVERAGE


def test_embedding_is_a_nonnegative_unit_vector():
    generator = torch.Generator().manual_seed(0)
    encoder = VoiceEncoder(VoiceEncoderConfig(hidden_size=16, embedding_size=8, num_layers=1))
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    samples = np.random.default_rng(0).standard_normal(40000).astype(np.float32) * 0.1
    embedding = embed_utterance(encoder, samples)
    assert embedding.shape == (8,)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-6)
    assert (embedding >= 0).all()


def test_preprocess_raises_quiet_audio_and_cuts_long_silence():
    sample_rate = voice_encoder.SAMPLE_RATE
    tone = (0.001 * np.sin(2 * np.pi * 200.0 * np.arange(sample_rate) / sample_rate)).astype(np.float32)
    raised = voice_encoder.raise_level(tone)
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(raised.astype(np.float64) ** 2)))
    assert rms_dbfs == pytest.approx(voice_encoder.TARGET_DBFS, abs=0.01)
    loud = 0.5 * tone / 0.001
    np.testing.assert_array_equal(voice_encoder.raise_level(loud), loud)
    with_gap = np.concatenate([loud, np.zeros(2 * sample_rate, dtype=np.float32), loud])
    trimmed = voice_encoder.preprocess(with_gap)
    assert 2 * sample_rate <= len(trimmed) < 2 * sample_rate + 0.5 * sample_rate
