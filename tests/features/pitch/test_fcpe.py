"""FCPE parity with torchfcpe 0.0.4's bundled model (fixtures/pitch/fcpe.pt).

Tolerances from the fixture README: latent atol 2e-4; mel |diff| <= 1e-4 where mel > -7; f0
relative 1e-4; voicing equal except frames within 1e-5 of the 0.006 threshold.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import require
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.features.pitch import fcpe
from timbrel.weights.fcpe import fcpe_extractor, load_fcpe, shipped_fcpe_path

ATOL_LATENT = 2e-4
ATOL_MEL = 1e-4
MEL_FLOOR = -7.0
RTOL_F0 = 1e-4
NEAR_THRESHOLD = 1e-5


@pytest.fixture(scope="module")
def net() -> fcpe.FcpeNet:
    try:
        shipped_fcpe_path()
    except BadInputError as error:
        require(False, f"torchfcpe's bundled weights are not installed: {error}")
    return load_fcpe()


@pytest.fixture(scope="module")
def mel(net) -> fcpe.FcpeMel:
    return fcpe.FcpeMel(net.config.mel)


@pytest.fixture(scope="module")
def reference(fixtures):
    return torch.load(fixtures / "pitch" / "fcpe.pt", weights_only=True)


@pytest.fixture(scope="module")
def signals(fixtures):
    return torch.load(fixtures / "pitch" / "signals.pt", weights_only=True)


@pytest.fixture(scope="module")
def latents(net, mel, reference, signals):
    """signal name -> latent (1, frames, 360) from the 16 kHz signal, each computed once per module."""
    cache = {}

    def get(name: str) -> torch.Tensor:
        if name not in cache:
            samples = signals["signals"][name][None, :]
            with torch.inference_mode():
                cache[name] = net(fcpe.mel_frames(mel, samples, reference["args"]["sr"]))
        return cache[name]

    return get


def _assert_mel_close(
    got: torch.Tensor, expected: torch.Tensor, atol: float = ATOL_MEL, exp_atol: float = 1e-7
) -> None:
    assert got.shape == expected.shape
    loud = expected > MEL_FLOOR
    torch.testing.assert_close(got[loud], expected[loud], rtol=0, atol=atol)
    # near the ln(1e-5) clamp the log magnifies rounding: compare linear magnitudes there, relative
    # to their size as float32 rounding is (an absolute 1e-7 is below one ulp of the loud bins)
    torch.testing.assert_close(got.exp(), expected.exp(), rtol=2e-6, atol=exp_atol)


def _assert_f0_close(
    f0_hz: torch.Tensor, confidence: torch.Tensor, expected: torch.Tensor, threshold: float
) -> None:
    expected = expected.reshape(-1)
    f0_hz, confidence = f0_hz.reshape(-1), confidence.reshape(-1)
    assert f0_hz.shape == expected.shape
    voiced, voiced_ref = f0_hz > 0, expected > 0
    borderline = (confidence - threshold).abs() < NEAR_THRESHOLD
    assert ((voiced == voiced_ref) | borderline).all()
    both = voiced & voiced_ref
    torch.testing.assert_close(f0_hz[both], expected[both], rtol=RTOL_F0, atol=0)


def _other_rate(kind: str) -> bool:
    """Variant kinds f"sr{rate}" run torchfcpe's resampling path."""
    return kind.startswith("sr") and kind[2:].isdigit()


def test_mel_filter_and_cent_table(net, mel, reference):
    tensors = reference["tensors"]
    torch.testing.assert_close(mel.mel_basis, tensors["mel_basis"], rtol=0, atol=1e-7)
    assert torch.equal(net.cent_table, tensors["cent_table"])


def test_mel_front_end(mel, reference, signals):
    tensors = reference["tensors"]
    samples = signals["signals"][tensors["signal"]][None, :]
    got = fcpe.mel_frames(mel, samples, reference["args"]["sr"])[0]
    _assert_mel_close(got, tensors["mel"])


def test_network_intermediates_and_latent(net, reference):
    tensors = reference["tensors"]
    captured = {}

    def keep(name):
        return lambda module, inputs, output: captured.__setitem__(name, output[0])

    hooks = [
        net.input_stack.register_forward_hook(keep("input_stack")),
        net.norm.register_forward_hook(keep("norm")),
    ]
    hooks += [layer.register_forward_hook(keep(f"encoder_layers.{i}")) for i, layer in enumerate(net.layers)]
    try:
        with torch.inference_mode():
            latent = net(tensors["mel"][None])[0]
    finally:
        for hook in hooks:
            hook.remove()
    first, stop = tensors["intermediate_frames"]
    for name, expected in tensors["intermediate"].items():
        # no tolerance is given for the hidden activations (values in the hundreds): float32 rounding
        # relative to their scale, as for the latent
        scale = float(expected.abs().max())
        torch.testing.assert_close(captured[name][first:stop], expected, rtol=0, atol=1e-6 * scale)
    torch.testing.assert_close(latent, tensors["latent"], rtol=0, atol=ATOL_LATENT)


def test_latent_from_own_mel(reference, latents):
    tensors = reference["tensors"]
    torch.testing.assert_close(latents(tensors["signal"])[0], tensors["latent"], rtol=0, atol=ATOL_LATENT)


def test_every_signal_as_rvc_calls_it(net, reference, signals, latents):
    args = reference["args"]
    for name, expected in reference["results"].items():
        latent = latents(name)
        f0_hz = fcpe.latent_to_f0(latent, net.cent_table, args["decoder_mode"], args["threshold"])
        confidence = latent.amax(dim=-1)
        assert f0_hz.shape[1] == signals["signals"][name].shape[0] // net.config.mel.hop_length + 1
        _assert_f0_close(f0_hz, confidence, expected, args["threshold"])
        filled = fcpe.interpolate_unvoiced(f0_hz[0], f0_hz[0] == 0)
        torch.testing.assert_close(filled, reference["rvc_interp"][name], rtol=RTOL_F0, atol=0)


def test_variants(net, reference, latents):
    f0_min_default = net.config.f0_min_hz
    for key, variant in reference["variants"].items():
        kind, name = key.split("/")
        call = variant["call"]
        if _other_rate(kind):
            continue
        assert call["sr"] == reference["args"]["sr"]
        latent = latents(name)
        f0_hz = fcpe.latent_to_f0(latent, net.cent_table, call["decoder_mode"], call["threshold"])
        confidence = latent.amax(dim=-1)
        if kind == "argmax":
            _assert_f0_close(f0_hz, confidence, variant["f0"], call["threshold"])
            continue
        f0_out, unvoiced = fcpe.fcpe_postprocess(
            f0_hz,
            call.get("f0_min", f0_min_default),
            call.get("f0_max"),
            call.get("interp_uv", False),
            call.get("output_interp_target_length"),
        )
        torch.testing.assert_close(f0_out, variant["f0"][..., 0], rtol=RTOL_F0, atol=0)
        assert torch.equal(unvoiced, variant["uv"][..., 0])


def test_other_sample_rate_goes_through_soxr(net, mel, reference, signals):
    """torchfcpe resamples with torchaudio's sinc (width 128), Timbrel with soxr HQ: the mel may
    differ by a little more than at 16 kHz (measured where mel > -7: 1.3e-4 from 44.1 kHz, 1.7e-4
    from 8 kHz, 2.1e-4 from 48 kHz; 1.4e-6 in linear magnitude), the f0 not. Every f"sr{rate}"
    variant the fixture holds is checked."""
    checked = 0
    for key, variant in reference["variants"].items():
        kind, name = key.split("/")
        if not _other_rate(kind):
            continue
        call = variant["call"]
        assert call["sr"] == int(kind[2:]) == signals["extra"][f"{name}_sr"]
        samples = signals["extra"][name][None, :]
        got_mel = fcpe.mel_frames(mel, samples, call["sr"])[0]
        _assert_mel_close(got_mel, variant["mel"], atol=5e-4, exp_atol=1e-6)
        f0_hz, confidence = fcpe.fcpe_f0(
            net, mel, samples, call["sr"], call["decoder_mode"], call["threshold"]
        )
        _assert_f0_close(f0_hz, confidence, variant["f0"], call["threshold"])
        checked += 1
    assert checked


def test_extractor(reference, signals):
    try:
        extractor = fcpe_extractor()
    except BadInputError as error:
        require(False, f"torchfcpe's bundled weights are not installed: {error}")
    name = reference["tensors"]["signal"]
    track = extractor.extract(signals["signals"][name].numpy())
    assert extractor.name == "fcpe"
    assert (track.sample_rate, extractor.threshold) == (
        reference["args"]["sr"],
        reference["args"]["threshold"],
    )
    assert track.hop_length == extractor.net.config.mel.hop_length
    _assert_f0_close(
        torch.from_numpy(track.f0_hz),
        torch.from_numpy(track.periodicity),
        reference["results"][name],
        reference["args"]["threshold"],
    )


def test_frame_count_and_short_input():
    mel = fcpe.FcpeMel(fcpe.FcpeMelConfig())
    for n in (1, 100, 159, 160, 161, 600, 1023, 1024, 3201):
        frames = fcpe.mel_frames(mel, torch.zeros(1, n), 16000)
        assert frames.shape == (1, n // 160 + 1, 128)
        assert n < 160 or torch.equal(frames[:, -1], frames[:, -2])


def test_tiny_config_runs():
    net = fcpe.FcpeNet(fcpe.FcpeConfig.tiny()).eval()
    latent = net(torch.randn(2, 7, net.config.mel.n_mels))
    assert latent.shape == (2, 7, net.config.n_bins)
    assert ((latent >= 0) & (latent <= 1)).all()


def test_decoders_and_threshold():
    cent_table = torch.linspace(2000.0, 9000.0, 360)
    latent = torch.zeros(1, 3, 360)
    latent[0, 0, 100] = 0.9  # a single bin: both decoders give its cents
    latent[0, 1, 0] = 0.5  # at the edge the clamped window repeats bin 0
    latent[0, 1, 1] = 0.5
    latent[0, 2, 50] = 0.005  # below the threshold
    for decoder in fcpe.DECODERS:
        f0_hz = fcpe.latent_to_f0(latent, cent_table, decoder, 0.006)[0]
        torch.testing.assert_close(f0_hz[0], fcpe.cents_to_f0_hz(cent_table[100]))
        assert f0_hz[2] == 0
    local = fcpe.decode_cents(latent, cent_table, "local_argmax")[0, 1]
    # bin 0 appears five times in the clamped window c-4..c+4, bin 1 once more than the rest
    expected = (5 * 0.5 * cent_table[0] + 0.5 * cent_table[1]) / (6 * 0.5)
    torch.testing.assert_close(local, expected)
    with pytest.raises(ConfigError, match="local_argmax"):
        fcpe.decode_cents(latent, cent_table, "viterbi")


def test_interpolate_unvoiced_holds_ends_like_np_interp():
    f0_hz = torch.tensor([0.0, 100.0, 0.0, 0.0, 400.0, 0.0])
    filled = fcpe.interpolate_unvoiced(f0_hz, f0_hz == 0)
    assert filled.tolist() == [100.0, 100.0, 200.0, 300.0, 400.0, 400.0]
    assert torch.equal(
        fcpe.interpolate_unvoiced(torch.zeros(3), torch.ones(3, dtype=torch.bool)), torch.zeros(3)
    )
