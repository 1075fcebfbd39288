"""Parity of the RVC synthesizer with the reference on every fixture model, stage by stage."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy import signal

from tests import parity
from tests.conftest import require_module
from tests.models.rvc.test_retrieval import assert_retrieved_close
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.protect import protect_unvoiced
from timbrel.models.rvc.retrieval import retrieve_and_blend
from timbrel.models.rvc.rms_mix import mix_rms
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.weights.rvc import load_voice_model, read_training_checkpoint, synthesizer_config_from_state
from timbrel.weights.rvc_index import read_index

MODELS = ["v1_f0", "v1_nof0", "v2_f0", "v2_nof0"]
STAGES = ["m_p", "logs_p", "x_mask", "z_p", "z", "dec_in", "har_source"]


def _load(path):
    return torch.load(path, weights_only=True)


def _assert_matches(trace, expected: dict, model) -> None:
    """Every stored stage within the float32 rule for the network's chain of products (the sine
    source adds its running phase sum over the samples); the mask exactly."""
    terms = parity.network_terms(model)
    for stage in STAGES:
        if stage not in expected:
            continue
        ours = getattr(trace, stage)
        if stage == "har_source":
            ours = ours.transpose(1, 2)  # the fixture keeps the source module's (b, n, 1) layout
        assert ours.shape == expected[stage].shape, stage
        if stage == "x_mask":
            assert torch.equal(ours, expected[stage])
        else:
            parity.float32_close(ours, expected[stage], terms=terms + expected["o"].shape[-1], what=stage)
    assert trace.audio.shape == expected["o"].shape
    parity.float32_close(trace.audio, expected["o"], terms=terms + expected["o"].shape[-1], what="audio")


@pytest.mark.parametrize(
    ("mode", "fold"),
    [("zero_noise", True), ("recorded_noise", True), ("zero_noise", False)],
    ids=["zero_noise", "recorded_noise", "zero_noise-unfolded_weight_norm"],
)
@pytest.mark.parametrize("name", MODELS)
def test_infer_matches_reference(fixtures, name, mode, fold):
    synth = fixtures / "rvc" / "synth"
    model = load_voice_model(synth / f"{name}.pth", fold_weight_norm=fold)
    io = _load(synth / f"{name}_io.pt")
    inputs, expected = io["inputs"], io[mode]
    noise = {}
    if mode == "recorded_noise":
        draws = expected["draws"]
        noise["noise_prior"] = draws["noise_prior"]
        if "noise_nsf" in draws:
            noise["noise_nsf"] = draws["noise_nsf"][..., 0]
    with torch.no_grad():
        trace = model.infer(
            inputs["phone"],
            inputs["phone_lengths"],
            inputs.get("pitch"),
            inputs.get("pitchf"),
            inputs["sid"],
            **noise,
        )
    assert model.sample_rate == io["meta"]["tgt_sr"]
    _assert_matches(trace, expected, model)


def test_realtime_form_matches_reference(fixtures):
    synth = fixtures / "rvc" / "synth"
    model = load_voice_model(synth / "v2_f0.pth")
    realtime = _load(synth / "v2_f0_io.pt")["realtime"]
    cases = [name for name in realtime if name != "inputs"]
    # One case keeps the length, one resizes it (the formant-shift path).
    assert {
        realtime[c]["extra"]["return_length2"] == realtime[c]["extra"]["return_length"] for c in cases
    } == {
        True,
        False,
    }
    for case in cases:
        _check_realtime_case(model, realtime["inputs"], realtime[case])


def _check_realtime_case(model, inputs, case):
    extra = case["extra"]
    with torch.no_grad():
        trace = model.infer(
            inputs["phone"],
            inputs["phone_lengths"],
            inputs["pitch"],
            inputs["pitchf"],
            inputs["sid"],
            skip_head=extra["skip_head"],
            return_length=extra["return_length"],
            return_length2=extra["return_length2"],
        )
    _assert_matches(trace, case["outputs"], model)


@pytest.mark.parametrize("mode", ["zero_noise", "record_noise"])
def test_training_forward_matches_reference(fixtures, mode):
    """The posterior path (enc_q, forward flow, segment slicing) on a padded batch of 2."""
    step = _load(fixtures / "rvc" / "train" / "train_step.pt")
    state = step["G_initial_state_dict"]
    tensors = step[mode]["tensors"]
    config = synthesizer_config_from_state(state)
    segment_frames = tensors["y_hat"].shape[-1] // config.upsample_factor
    model = Synthesizer(dataclasses.replace(config, segment_frames=segment_frames))
    model.load_state_dict(state, strict=True)
    batch, draws = step["batch"], tensors["draws"]
    ids_slice = (draws["slice_rand"] * (batch["spec_lengths"] - segment_frames + 1)).to(torch.long)
    assert torch.equal(ids_slice, tensors["ids_slice"])
    with torch.no_grad():
        out = model(
            batch["phone"],
            batch["phone_lengths"],
            batch["pitch"],
            batch["pitchf"],
            batch["spec"],
            batch["spec_lengths"],
            batch["sid"],
            ids_slice=ids_slice,
            noise_posterior=draws["noise_posterior"],
            noise_nsf=draws["noise_nsf"][..., 0],
        )
    assert torch.equal(out.x_mask, tensors["x_mask"])
    assert torch.equal(out.y_mask, tensors["z_mask"])
    terms = parity.network_terms(model) + tensors["y_hat"].shape[-1]
    for name in ["m_p", "logs_p", "m_q", "logs_q", "z", "z_p"]:
        parity.float32_close(getattr(out, name), tensors[name], terms=terms, what=name)
    parity.float32_close(out.audio, tensors["y_hat"], terms=terms, what="y_hat")


def test_generator_draws_are_reproducible_and_zero_without_one():
    torch.manual_seed(0)
    model = Synthesizer(SynthesizerConfig.tiny(), with_posterior=False).eval()
    content = torch.randn(1, 12, 768)
    lengths = torch.tensor([12])
    pitch = torch.full((1, 12), 60, dtype=torch.long)
    f0_hz = torch.full((1, 12), 220.0)
    speaker = torch.tensor([1])
    with torch.no_grad():
        a = model.infer(content, lengths, pitch, f0_hz, speaker, generator=torch.Generator().manual_seed(3))
        b = model.infer(content, lengths, pitch, f0_hz, speaker, generator=torch.Generator().manual_seed(3))
        zero = model.infer(content, lengths, pitch, f0_hz, speaker)
    assert torch.equal(a.audio, b.audio)
    assert not torch.equal(a.audio, zero.audio)
    assert torch.equal(zero.z_p, zero.m_p * zero.x_mask)
    assert a.audio.shape == (1, 1, 12 * SynthesizerConfig.tiny().upsample_factor)


def test_padded_batch_item_equals_its_unpadded_run():
    torch.manual_seed(1)
    model = Synthesizer(SynthesizerConfig.tiny(), with_posterior=False).eval()
    content = torch.randn(2, 20, 768)
    pitch = torch.randint(1, 256, (2, 20))
    f0_hz = torch.rand(2, 20) * 300 + 80
    speaker = torch.tensor([0, 2])
    with torch.no_grad():
        batched = model.infer(content, torch.tensor([20, 13]), pitch, f0_hz, speaker)
        single = model.infer(
            content[1:, :13], torch.tensor([13]), pitch[1:, :13], f0_hz[1:, :13], speaker[1:]
        )
    assert (batched.m_p[1, :, :13] - single.m_p[0]).abs().max() <= 1e-6
    assert (batched.m_p[1, :, 13:] == 0).all()
    assert (batched.z[1, :, :13] - single.z[0]).abs().max() <= 1e-5


def test_f0_model_requires_pitch_and_no_f0_model_has_no_source():
    model = Synthesizer(SynthesizerConfig.tiny(), with_posterior=False).eval()
    with pytest.raises(ValueError, match="pitch"):
        model.infer(torch.randn(1, 4, 768), torch.tensor([4]), None, None, torch.tensor([0]))
    nof0 = Synthesizer(SynthesizerConfig.tiny(use_f0=False), with_posterior=False).eval()
    with torch.no_grad():
        trace = nof0.infer(torch.randn(1, 4, 768), torch.tensor([4]), None, None, torch.tensor([0]))
    assert trace.har_source is None


def test_training_checkpoint_generator_loads_strictly(fixtures):
    checkpoint = read_training_checkpoint(fixtures / "rvc" / "train" / "G_1.pth")
    model = Synthesizer(synthesizer_config_from_state(checkpoint.model))
    model.load_state_dict(checkpoint.model, strict=True)
    assert list(model.state_dict()) == list(checkpoint.model)


def test_composed_pieces_reproduce_reference_conversion(fixtures):
    """The reference vc_single on the short e2e input, recomposed from its stored intermediates:
    index blend, x2 frames, protect, synthesis, trim, rms mix and int16 output."""
    require_module("faiss", "the retrieval index needs the [index] extra (faiss-cpu)")
    e2e = fixtures / "rvc" / "e2e"
    settings = json.loads((e2e / "settings.json").read_text())
    options, constants = settings["settings"], settings["pipeline_constants"]
    stored = _load(e2e / "intermediates_short.pt")
    (chunk,) = stored["chunks"]
    model = load_voice_model(e2e / settings["model_file"])
    index = read_index(e2e / settings["index_file"])

    unretrieved = chunk["feats_before_blend"]
    features = retrieve_and_blend(index, unretrieved, options["index_rate"])
    assert_retrieved_close(features, chunk["feats_after_blend"], index.vectors)
    features, unretrieved = features.repeat_interleave(2, dim=1), unretrieved.repeat_interleave(2, dim=1)
    start, end = chunk["pitch_frame_range"]
    chunk_samples = chunk["audio_pad_range"][1] - chunk["audio_pad_range"][0]
    n_frames = min(features.shape[1], chunk_samples // constants["window"])
    assert n_frames == chunk["synth_phone_lengths"].item()
    pitch = stored["get_f0"]["coarse_full"][None, start:end][:, :n_frames]
    f0_hz = stored["get_f0"]["f0_shifted_full"][None, start:end][:, :n_frames].float()
    features = protect_unvoiced(features, unretrieved, f0_hz, options["protect"])
    with torch.no_grad():
        audio = model.infer(
            features, torch.tensor([n_frames]), pitch, f0_hz, torch.tensor([options["sid"]])
        ).audio
    assert audio.shape[-1] == chunk["synth_len"]
    trim = constants["t_pad_tgt"]
    audio = audio[0, 0, trim:-trim]

    highpass = _load(fixtures / "rvc" / "dsp" / "highpass16k.pt")
    source = signal.filtfilt(highpass["b"].numpy(), highpass["a"].numpy(), stored["audio_16k_loaded"].numpy())
    source = torch.from_numpy(source.copy()).float()
    audio = mix_rms(source, 16000, audio, stored["tgt_sr"], options["rms_mix_rate"]).numpy()
    peak = np.abs(audio).max() / 0.99
    pcm = (audio * (32768 / peak if peak > 1 else 32768)).astype(np.int16)

    reference, sample_rate = sf.read(e2e / "output_short.wav", dtype="int16")
    assert sample_rate == model.sample_rate
    assert pcm.shape == reference.shape
    # the network's float32 rounding, scaled by the peak normalisation the pipeline applied
    tolerance = parity.float32_tolerance(np.abs(audio).max() / max(peak, 1.0), parity.network_terms(model))
    parity.pcm_close(pcm, reference, float_tolerance=tolerance, what="e2e output")
    assert np.corrcoef(pcm, reference)[0, 1] > 0.9999
