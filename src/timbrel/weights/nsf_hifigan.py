"""NSF-HiFiGAN release folders (openvpi SingingVocoders export, spec 6.1): `model.ckpt` holding
`{'generator': state_dict}` with legacy weight-norm tensors (`<conv>.weight_g`, `<conv>.weight_v`),
and `config.json` beside it.

Weight norm is folded into plain weights here, once: w = g·v/‖v‖ with the norm over every dim but 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from timbrel.core.errors import BadInputError
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig
from timbrel.weights.strict import check_finite, load_strict
from timbrel.weights.torch_file import read_torch_file

CHECKPOINT_NAME = "model.ckpt"
CONFIG_NAME = "config.json"

# config.json field -> NsfHifiGanConfig field. Fields not listed (training-only) are ignored.
_CONFIG_FIELDS = {
    "sampling_rate": "sample_rate",
    "num_mels": "n_mels",
    "n_fft": "n_fft",
    "win_size": "win_length",
    "hop_size": "hop_length",
    "fmin": "f_min_hz",
    "fmax": "f_max_hz",
    "upsample_rates": "upsample_rates",
    "upsample_kernel_sizes": "upsample_kernel_sizes",
    "upsample_initial_channel": "upsample_initial_channel",
    "resblock_kernel_sizes": "resblock_kernel_sizes",
    "resblock_dilation_sizes": "resblock_dilation_sizes",
}


def _tuple(value: Any) -> Any:
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def config_from_json(data: dict[str, Any], path: str | Path) -> NsfHifiGanConfig:
    """The release's config.json dict -> NsfHifiGanConfig."""
    resblock = str(data.get("resblock", "1"))
    if resblock != "1":
        raise BadInputError(
            path, f"resblock {resblock!r} is not supported; allowed: '1' (the released models)"
        )
    fields = {ours: _tuple(data[theirs]) for theirs, ours in _CONFIG_FIELDS.items() if theirs in data}
    if fields.get("f_max_hz") is None:
        fields.pop("f_max_hz", None)
    for name in ("f_min_hz", "f_max_hz"):
        if name in fields:
            fields[name] = float(fields[name])
    return NsfHifiGanConfig(**fields)


def fold_weight_norm(state: dict[str, Tensor], where: str | Path = "<state dict>") -> dict[str, Tensor]:
    """Replace each `<name>.weight_g`/`<name>.weight_v` pair by `<name>.weight` = g·v/‖v‖.
    Half a pair, or a pair that is not two tensors of matching shape, is an error naming it."""
    folded = {}
    for key, value in state.items():
        name = key.removesuffix(".weight_g").removesuffix(".weight_v")
        partner = f"{name}.weight_v" if key.endswith(".weight_g") else f"{name}.weight_g"
        if key.endswith((".weight_g", ".weight_v")) and not isinstance(state.get(partner), Tensor):
            raise BadInputError(where, f"{key} has no weight-norm partner tensor {partner}")
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            g = state[f"{name}.weight_g"]
            pair = value.dim() == g.dim() and value.shape[0] == g.shape[0]
            pair = pair and value.is_floating_point() and g.is_floating_point()
            if not pair or any(size != 1 for size in g.shape[1:]):
                raise BadInputError(where, f"{key} and {name}.weight_g do not form a weight-norm pair")
            norm = torch.linalg.vector_norm(value, dim=tuple(range(1, value.dim())), keepdim=True)
            folded[f"{name}.weight"] = value * (g / norm)
        else:
            folded[key] = value
    return folded


def load_nsf_hifigan(path: str | Path) -> NsfHifiGan:
    """Load a release folder (or its model.ckpt, with config.json beside it) into an eval-mode generator."""
    path = Path(path)
    checkpoint = path / CHECKPOINT_NAME if path.is_dir() else path
    config_path = checkpoint.parent / CONFIG_NAME
    if not checkpoint.is_file():
        raise BadInputError(checkpoint, "no such vocoder checkpoint")
    if not config_path.is_file():
        raise BadInputError(config_path, f"the vocoder needs its {CONFIG_NAME} beside {checkpoint.name}")
    try:
        config_data = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BadInputError(config_path, f"not valid JSON ({error})") from error
    config = config_from_json(config_data, config_path)
    data = read_torch_file(checkpoint, "NSF-HiFiGAN checkpoint")
    if not isinstance(data, dict) or not isinstance(data.get("generator"), dict):
        raise BadInputError(checkpoint, "expected {'generator': state_dict} (an NSF-HiFiGAN release file)")
    check_finite(data["generator"], checkpoint, "generator weights")  # under the file's own key names
    state = fold_weight_norm(data["generator"], checkpoint)
    model = NsfHifiGan(config)
    load_strict(model, state, checkpoint, f"generator weights for {config_path.name}")
    return model.eval()
