"""Resemblyzer's ``pretrained.pt``: ``{'step', 'model_state', 'optimizer_state'}``, the GE2E encoder.

``model_state`` holds the LSTM and linear layers under the names VoiceEncoder uses, plus the
GE2E loss's learned scale and offset (``similarity_weight``, ``similarity_bias``), which only
training needs and which are dropped here by name.
"""

from __future__ import annotations

from pathlib import Path

from timbrel.core.errors import BadInputError
from timbrel.features.voice_encoder import VoiceEncoder, VoiceEncoderConfig
from timbrel.weights.packaged import find_packaged_weight
from timbrel.weights.strict import check_state
from timbrel.weights.torch_file import read_torch_file

_TRAINING_ONLY = ("similarity_weight", "similarity_bias")


def find_voice_encoder_weights(path: str | Path | None = None) -> Path:
    """``path``, else $TIMBREL_HOME/resemblyzer/pretrained.pt, else the installed resemblyzer's file."""
    return find_packaged_weight(
        "Resemblyzer voice encoder", path, "resemblyzer/pretrained.pt", "resemblyzer", "pretrained.pt"
    )


def load_voice_encoder(path: str | Path | None = None) -> VoiceEncoder:
    """pretrained.pt (found as ``find_voice_encoder_weights`` does) -> VoiceEncoder, eval mode, CPU."""
    path = find_voice_encoder_weights(path)
    data = read_torch_file(path, "Resemblyzer weight file")
    if not isinstance(data, dict) or not isinstance(data.get("model_state"), dict):
        raise BadInputError(path, "not a Resemblyzer checkpoint (no 'model_state' table)")
    state_dict = {k: v for k, v in data["model_state"].items() if k not in _TRAINING_ONLY}
    encoder = VoiceEncoder(VoiceEncoderConfig())
    check_state(state_dict, encoder.state_dict(), path, "Resemblyzer weights")
    encoder.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return encoder.eval()
