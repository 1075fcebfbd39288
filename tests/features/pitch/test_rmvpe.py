from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor, rmvpe_salience
from timbrel.features.pitch.rmvpe_decode import CENTS_PER_BIN, WINDOW_HALF_WIDTH, decode_rift
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig, fold_batch_norm
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
    parity.float32_close(salience, io["salience"], terms=parity.network_terms(network), what="salience")


def test_extractor_from_16k_audio(small):
    network, io = small
    track = RmvpeExtractor(network, RmvpeConfig(decoder="rift")).extract(io["audio_16k_resampled"][0].numpy())
    expected = io["f0_decoded_from_16k_input"].numpy()
    assert track.f0_hz.shape == expected.shape
    np.testing.assert_allclose(track.f0_hz, expected, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(track.f0_hz == 0, expected == 0)
    peak = io["salience"][0].max(dim=1).values
    parity.float32_close(track.periodicity, peak, terms=parity.network_terms(network), what="periodicity")


def f0_rounding(salience: torch.Tensor, network: E2E) -> np.ndarray:
    """Per frame, how far float32 rounding of the network can move the decoded f0 in Hz. Each
    salience in the peak's window may move by the network's float32 tolerance δ; the weighted
    average of cents then moves by δ·Σ|c_i − c̄| / Σ s_i, at most δ·Σ|c_i − c_peak| / Σ s_i, and
    f0 = 10·2^(cents/1200) moves by f0·ln2/1200 times that. A peak barely over the threshold has
    a small Σ s_i, so its f0 is the most sensitive."""
    delta = parity.float32_tolerance(parity.magnitude(salience), parity.network_terms(network))
    offsets = np.arange(-WINDOW_HALF_WIDTH, WINDOW_HALF_WIDTH + 1)
    spread = CENTS_PER_BIN * np.abs(offsets).sum()
    values = salience.double().numpy()
    peak = values.argmax(axis=1)
    bins = np.clip(peak[:, None] + offsets[None, :], 0, values.shape[1] - 1)
    window_sum = np.take_along_axis(values, bins, axis=1).sum(axis=1)
    f0_hz = decode_rift(salience.float()).double().numpy()
    return f0_hz * np.log(2) / 1200 * delta * spread / window_sum


def test_batch_equals_one_by_one(small):
    network, io = small
    extractor = RmvpeExtractor(network, RmvpeConfig.rift())
    audio = io["audio_16k_resampled"][0].numpy()
    batch = np.stack([audio, audio[::-1]])
    for batched, samples in zip(extractor.extract_batch(batch), batch, strict=True):
        alone = extractor.extract(samples)
        rounding = f0_rounding(extractor.salience(torch.as_tensor(samples.copy())[None])[0], network)
        parity.within(batched.f0_hz, alone.f0_hz, rounding, kind="float32 f0", scale=1.0, what="f0")
        np.testing.assert_array_equal(batched.f0_hz == 0, alone.f0_hz == 0)
        np.testing.assert_allclose(batched.periodicity, alone.periodicity, rtol=0, atol=1e-5)


def test_folded_batch_norm_matches(fixtures):
    network = fold_batch_norm(load_rmvpe(fixtures / "rift/rmvpe_small/model.pt"))
    io = torch.load(fixtures / "rift/rmvpe_small/io.pt", weights_only=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in network.unet.decoder.modules())
    with torch.inference_mode():
        salience = rmvpe_salience(network, io["rmvpe_mel"])
    parity.float32_close(salience, io["salience"], terms=parity.network_terms(network), what="salience")


@settings(derandomize=True, max_examples=6, deadline=None)
@given(st.integers(600, 6000))
def test_frame_count_for_any_length(n_samples):
    extractor = RmvpeExtractor(E2E(E2EConfig.tiny()))
    track = extractor.extract(np.zeros(n_samples, dtype=np.float32))
    assert track.f0_hz.shape == track.periodicity.shape == (n_samples // 160 + 1,)
