import json
import re

import pytest

from timbrel.models.base import VoiceModel
from timbrel.weights.cache import MissingWeightError
from timbrel.weights.rift_voice import load_rift_feature_models, load_rift_voice


@pytest.fixture
def e2e(fixtures):
    return fixtures / "rift" / "e2e"


def test_voice_from_the_reference_layout(e2e):
    pretrained = e2e / "pretrained"
    voice = load_rift_voice(
        e2e / "model-step=2.ckpt",
        pretrained / "content-vec-best",
        pretrained / "rmvpe" / "model.pt",
        pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02",
    )
    spk2idx = json.loads((e2e / "settings.json").read_text())["spk2idx"]
    assert isinstance(voice, VoiceModel) and voice.family == "rift" and voice.sample_rate == 44100
    assert voice.speakers == tuple(sorted(spk2idx, key=spk2idx.get))
    assert not voice.dit.training and not voice.vocoder.training


def test_feature_models(e2e):
    models = load_rift_feature_models(e2e / "pretrained" / "content-vec-best", features=("mel", "cvec"))
    assert models.content_model is not None and models.rmvpe is None


def test_a_missing_file_is_named(e2e, tmp_path):
    pretrained = e2e / "pretrained"
    with pytest.raises(MissingWeightError, match=re.escape(str(tmp_path / "model.pt"))):
        load_rift_voice(
            e2e / "model-step=2.ckpt",
            pretrained / "content-vec-best",
            tmp_path / "model.pt",
            pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02",
        )


def test_modules_left_out_come_from_the_cache(e2e, tmp_path, monkeypatch):
    monkeypatch.setenv("TIMBREL_HOME", str(tmp_path))
    with pytest.raises(MissingWeightError, match=f"looked in {re.escape(str(tmp_path))}"):
        load_rift_voice(e2e / "model-step=2.ckpt")
