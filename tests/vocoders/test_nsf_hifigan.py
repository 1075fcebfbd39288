"""NSF-HiFiGAN parity with the reference vocoder (fixtures/rift/nsf_hifigan_small)."""

from __future__ import annotations

import pytest
import torch

from tests import parity
from timbrel.core.errors import ConfigError
from timbrel.features.mel import LogMelSpectrogram, MelConfig
from timbrel.nn import hifigan
from timbrel.vocoders import nsf_hifigan
from timbrel.vocoders.nsf_hifigan import NsfHifiGanConfig, SourceDraws, harmonic_sines, vocoder_log_mel
from timbrel.weights.nsf_hifigan import load_nsf_hifigan


def vocoder_terms(model, data) -> int:
    """The network's chain of products, plus the source's running phase sum over every sample."""
    return parity.network_terms(model) + data["sine_gen_out_deterministic"].shape[1]


@pytest.fixture(scope="module")
def small(fixtures):
    folder = fixtures / "rift" / "nsf_hifigan_small"
    return load_nsf_hifigan(folder), torch.load(folder / "io.pt", weights_only=True)


def test_deterministic_source_matches_reference(small):
    model, data = small
    draws = model.source_draws(data["f0"], deterministic=True)
    config = model.config
    sines = harmonic_sines(data["f0"], config.hop_length, config.sample_rate, draws)
    # sin of a float32 running sum of the phase increments over all samples
    phase_terms = sines.shape[1]
    parity.float32_close(sines, data["sine_gen_out_deterministic"], terms=phase_terms, what="sines")
    with torch.no_grad():
        excitation = model.m_source(data["f0"], config.hop_length, draws)
    expected = data["source_excitation_deterministic"]
    parity.float32_close(excitation, expected, terms=phase_terms * sines.shape[-1], what="excitation")


def test_source_made_in_chunks_matches_reference(small, monkeypatch):
    """Without autograd the excitation is made a chunk of samples at a time (here a hop and a
    bit, so chunks straddle frames): the reference's excitation, within the same tolerance."""
    model, data = small
    config = model.config
    monkeypatch.setattr(nsf_hifigan, "SOURCE_CHUNK_SAMPLES", config.hop_length + 37)
    draws = model.source_draws(data["f0"], deterministic=True)
    with torch.inference_mode():
        excitation = model.m_source(data["f0"], config.hop_length, draws)
    expected = data["source_excitation_deterministic"]
    assert excitation.shape == expected.shape
    terms = expected.shape[1] * config.harmonics
    parity.float32_close(excitation, expected, terms=terms, what="excitation")


def test_deterministic_waveform_matches_reference(small):
    model, data = small
    with torch.no_grad():
        wave = model(data["mel"], data["f0"], model.source_draws(data["f0"], deterministic=True))
    parity.float32_close(wave, data["wav_out_deterministic"], terms=vocoder_terms(model, data), what="wave")


def test_seeded_waveform_matches_reference_with_recorded_draws(small):
    model, data = small
    draws = SourceDraws(initial_phase=data["rand_ini_drawn"], noise=data["noise_drawn"])
    with torch.no_grad():
        wave = model(data["mel"], data["f0"], draws)
    parity.float32_close(wave, data["wav_out_seeded"], terms=vocoder_terms(model, data), what="wave")


def test_tiled_waveform_matches_reference(small, monkeypatch):
    """The inference path in outer tiles of a few frames, and the later stages in tiles of a few
    hops: the reference's whole-signal waveform, within the same tolerance."""
    model, data = small
    frames = data["mel"].shape[-1]
    monkeypatch.setattr(hifigan, "OUTER_TILE_FRAMES", max(1, frames // 3))
    monkeypatch.setattr(hifigan, "TILED_FROM_STAGE", 1)
    monkeypatch.setattr(hifigan, "DEFAULT_TILE_SAMPLES", 2 * model.config.hop_length)
    monkeypatch.setattr(nsf_hifigan, "SOURCE_CHUNK_SAMPLES", 3 * model.config.hop_length)
    seeded = SourceDraws(initial_phase=data["rand_ini_drawn"], noise=data["noise_drawn"])
    with torch.inference_mode():
        wave = model(data["mel"], data["f0"], model.source_draws(data["f0"], deterministic=True))
        wave_seeded = model(data["mel"], data["f0"], seeded)
    parity.float32_close(wave, data["wav_out_deterministic"], terms=vocoder_terms(model, data), what="wave")
    terms = vocoder_terms(model, data)
    parity.float32_close(wave_seeded, data["wav_out_seeded"], terms=terms, what="seeded wave")


def test_same_generator_seed_gives_same_waveform(small):
    model, data = small
    with torch.no_grad():
        first = model(
            data["mel"], data["f0"], model.source_draws(data["f0"], torch.Generator().manual_seed(3))
        )
        again = model(
            data["mel"], data["f0"], model.source_draws(data["f0"], torch.Generator().manual_seed(3))
        )
    assert torch.equal(first, again)


def test_vocoder_mel_matches_reference(small):
    model, data = small
    mel = vocoder_log_mel(data["wav_in_for_mel"], model.config)
    terms = model.config.n_fft + model.config.n_fft // 2 + 1  # the DFT, then the filterbank
    parity.log_close(mel, data["nvstft_mel_of_wav_in"], terms=terms, what="nvSTFT log-mel")
    parity.log_close(mel, data["mel"], terms=terms, what="log-mel")


def test_vocoder_mel_of_a_short_signal_pads_with_zeros():
    config = NsfHifiGanConfig()
    mel = vocoder_log_mel(torch.randn(1, 700) * 0.1, config)
    assert mel.shape == (1, config.n_mels, 1)
    assert torch.isfinite(mel).all()


def test_vocoder_analysis_is_rifts_mel(fixtures):
    """The vocoder hears what RIFT's DiT draws: same analysis, same numbers."""
    release = fixtures / "rift" / "e2e" / "pretrained" / "nsf_hifigan_44.1k_hop512_128bin_2024.02"
    assert NsfHifiGanConfig().analysis == MelConfig()
    assert load_nsf_hifigan(release).config.analysis == MelConfig()
    samples = torch.randn(2, 44100, generator=torch.Generator().manual_seed(0)) * 0.1
    torch.testing.assert_close(vocoder_log_mel(samples, NsfHifiGanConfig()), LogMelSpectrogram()(samples))


def test_inconsistent_config_is_rejected():
    with pytest.raises(ConfigError, match="hop_length"):
        NsfHifiGanConfig(hop_length=256)
