"""RMVPE weights: RVC's ``rmvpe.pt`` (a plain state dict of E2E(4, 1, (2, 2))) and RIFT's
``pretrained/rmvpe/model.pt`` (``{'model': state_dict}`` of E2E0, which adds an unused
TimbreFilter branch ``unet.tf.*``; stored float16 in some files).

The network's layout is read from the tensors' names and shapes, so the real model and smaller
variants load through the same function. The pooling factor is not stored anywhere; both
references use (2, 2). The released rmvpe.pt and model.pt store float16 (181 MB for 90.5 M
parameters); the references widen them to float32 at load. ``float16_convolutions`` keeps the
convolutions' float16 weights as they are, each widened as it runs: the same float32 numbers at
180 MB less resident memory, and about 10 ms more per call (the widening), which long conversions
can spare and realtime blocks cannot.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor, nn

from timbrel.core.errors import BadInputError
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.weights.strict import check_state
from timbrel.weights.torch_file import read_torch_file

_UNUSED_PREFIXES = ("unet.tf.",)  # RIFT's E2E0 builds a TimbreFilter its forward pass never calls


def _count(state_dict: dict[str, Tensor], pattern: str) -> int:
    found = {m.group(1) for key in state_dict if (m := re.match(pattern, key))}
    return len(found)


def rmvpe_config_from_state_dict(state_dict: dict[str, Tensor]) -> E2EConfig:
    """The E2E layout a state dict was saved from (names as in rmvpe.pt)."""
    first_conv = state_dict["unet.encoder.layers.0.conv.0.conv.0.weight"]
    if "fc.0.gru.weight_ih_l0" in state_dict:
        n_gru = _count(state_dict, r"fc\.0\.gru\.weight_ih_l(\d+)$")
        gru_input = state_dict["fc.0.gru.weight_ih_l0"].shape[1]
        gru_hidden = state_dict["fc.0.gru.weight_hh_l0"].shape[1]
        n_bins = state_dict["fc.1.weight"].shape[0]
    else:
        n_gru, gru_hidden = 0, E2EConfig.gru_hidden
        gru_input = state_dict["fc.0.weight"].shape[1]
        n_bins = state_dict["fc.0.weight"].shape[0]
    return E2EConfig(
        n_blocks=_count(state_dict, r"unet\.encoder\.layers\.0\.conv\.(\d+)\."),
        n_gru=n_gru,
        en_de_layers=_count(state_dict, r"unet\.encoder\.layers\.(\d+)\."),
        inter_layers=_count(state_dict, r"unet\.intermediate\.layers\.(\d+)\."),
        in_channels=state_dict["unet.encoder.bn.weight"].shape[0],
        en_out_channels=first_conv.shape[0],
        n_mels=gru_input // 3,
        gru_hidden=gru_hidden,
        n_bins=n_bins,
    )


def load_rmvpe(
    path: str | Path, map_location: str | torch.device = "cpu", float16_convolutions: bool = False
) -> E2E:
    """rmvpe.pt or RIFT's model.pt -> E2E in eval mode computing in float32, on map_location."""
    path = Path(path)
    data = read_torch_file(path, "RMVPE weight file")
    return rmvpe_from_state_dict(data, path, float16_convolutions).to(map_location)


def rmvpe_from_state_dict(
    data: dict, path: str | Path = "<state dict>", float16_convolutions: bool = False
) -> E2E:
    """A loaded rmvpe.pt / model.pt object -> E2E in eval mode computing in float32."""
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    if not isinstance(data, dict) or "unet.encoder.bn.weight" not in data:
        raise BadInputError(path, "not an RMVPE state dict (no 'unet.encoder.bn.weight' key)")
    state_dict = {k: v for k, v in data.items() if not k.startswith(_UNUSED_PREFIXES)}
    try:
        config = rmvpe_config_from_state_dict(state_dict)
    except KeyError as error:
        raise BadInputError(path, f"RMVPE state dict lacks {error}") from None
    with torch.device("meta"):  # no memory for weights that are about to be replaced
        network = E2E(config)
    check_state(state_dict, network.state_dict(), path, f"RMVPE weights for {config}")
    narrow = _convolution_keys(network) if float16_convolutions else set()
    state_dict = {
        k: v if not v.is_floating_point() or (k in narrow and v.dtype == torch.float16) else v.float()
        for k, v in state_dict.items()
    }
    network.load_state_dict(state_dict, strict=True, assign=True)
    return network.eval()


def _convolution_keys(network: E2E) -> set[str]:
    return {
        f"{name}.{tensor}"
        for name, module in network.named_modules()
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d)
        for tensor in ("weight", "bias")
    }
