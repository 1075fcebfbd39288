from __future__ import annotations

import numpy as np
import pytest
import torch

from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor, rmvpe_salience
from timbrel.weights.rmvpe import load_rmvpe


@pytest.fixture(scope="module")
def small(fixtures):
    return load_rmvpe(fixtures / "rift/rmvpe_small/model.pt"), torch.load(
        fixtures / "rift/rmvpe_small/io.pt", weights_only=True
    )


def test_salience_from_reference_mel(small):
    network, io = small
    with torch.inference_mode():
        salience = rmvpe_salience(network, io["rmvpe_mel"])
    torch.testing.assert_close(salience, io["salience"], rtol=0, atol=1e-5)


def test_extractor_from_16k_audio(small):
    network, io = small
    track = RmvpeExtractor(network, RmvpeConfig(decoder="rift")).extract(io["audio_16k_resampled"][0].numpy())
    expected = io["f0_decoded_from_16k_input"].numpy()
    assert track.f0_hz.shape == expected.shape
    np.testing.assert_allclose(track.f0_hz, expected, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(track.f0_hz == 0, expected == 0)
    np.testing.assert_allclose(track.periodicity, io["salience"][0].max(dim=1).values.numpy(), atol=1e-5)


def test_batched_salience_equals_one_by_one(small):
    network, io = small
    extractor = RmvpeExtractor(network)
    audio = io["audio_16k_resampled"]
    batch = torch.cat([audio, audio.flip(-1)])
    together = extractor.salience(batch)
    torch.testing.assert_close(together[1], extractor.salience(batch[1:])[0], rtol=0, atol=1e-5)
