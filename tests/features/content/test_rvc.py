"""RVC content features: v1 / v2 against the reference extract_hubert_features."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import torch

from tests import parity
from tests.models.rvc.test_pipeline import e2e_version
from timbrel.features.content.rvc import repeat_to_synth_rate, rvc_content
from timbrel.weights.hubert import load_hubert


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_versions_match_reference(fixtures, version):
    io = torch.load(fixtures / "rvc" / "hubert" / "hubert_io.pt", weights_only=True)
    model = load_hubert(fixtures / "rvc" / "hubert" / "hubert_tiny")
    with torch.inference_mode():
        out = rvc_content(model, io["input_16k"].unsqueeze(0), version)
    parity.float32_close(out, io[f"{version}_features"], terms=parity.network_terms(model), what=version)


def test_end_to_end_chunk_features(fixtures):
    """feats_before_blend of the e2e run: the fixture's HuBERT (the public set's: 0 layers, 768-d) on
    the high-passed, reflect-padded 16 kHz chunk the pipeline cut from audio_16k_loaded."""
    e2e = fixtures / "rvc" / "e2e"
    intermediates = torch.load(e2e / "intermediates_short.pt", weights_only=True)
    highpass = torch.load(fixtures / "rvc" / "dsp" / "highpass16k.pt", weights_only=True)
    settings = json.loads((e2e / "settings.json").read_text())
    t_pad = settings["pipeline_constants"]["t_pad"]
    audio = scipy.signal.filtfilt(
        highpass["b"].double().numpy(),
        highpass["a"].double().numpy(),
        intermediates["audio_16k_loaded"].numpy(),
    )
    audio_pad = np.pad(audio, (t_pad, t_pad), mode="reflect")
    model = load_hubert(e2e / "hubert")
    assert model.config.num_layers == settings["hubert_config"]["num_hidden_layers"]
    version = e2e_version(e2e)
    for chunk in intermediates["chunks"]:
        start, end = chunk["audio_pad_range"]
        samples = torch.from_numpy(audio_pad[start:end]).float().unsqueeze(0)
        with torch.inference_mode():
            feats = rvc_content(model, samples, version)
        assert feats.shape[1] == chunk["hubert_frames"] == model.config.frame_count(end - start)
        # the input went through filtfilt here too: its rounding (parity.iir_close) is below the
        # network's float32 rounding, which the tolerance is
        parity.float32_close(
            feats, chunk["feats_before_blend"], terms=parity.network_terms(model), what="e2e"
        )


def test_repeat_to_synth_rate():
    content = torch.arange(6.0).view(1, 3, 2)
    repeated = repeat_to_synth_rate(content)
    assert repeated.shape == (1, 6, 2)
    torch.testing.assert_close(repeated[:, 0::2], content)
    torch.testing.assert_close(repeated[:, 1::2], content)


def test_unknown_version_is_a_clear_error(fixtures):
    model = load_hubert(fixtures / "rvc" / "hubert" / "hubert_tiny")
    with pytest.raises(ValueError, match="v3"):
        rvc_content(model, torch.zeros(1, 800), "v3")
