"""torchfcpe's bundled FCPE model (`torchfcpe/assets/fcpe_c_v001.pt`, torchfcpe 0.0.4).

The file is a dict `{global_step, model: state dict (73 float32 tensors), config_dict}`. The state
dict keys are CFNaiveMelPE's: `input_stack.{0,1,3}.*`,
`net.encoder_layers.i.conformer.net.{0 (LayerNorm), 2 (pointwise), 4.conv (depthwise), 6 (pointwise)}.*`,
`net.encoder_layers.i.norm.*` (attention's norm, unused with conv_only), `norm.*`,
`output_proj.{weight_g, weight_v, bias}` (weight norm, folded here once), `cent_table` and
`gaussian_blurred_cent_mask` (training only, dropped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from timbrel.core.errors import BadInputError
from timbrel.features.pitch.fcpe import FcpeConfig, FcpeExtractor, FcpeMel, FcpeMelConfig, FcpeNet
from timbrel.weights.packaged import find_packaged_file
from timbrel.weights.strict import check_state, load_strict
from timbrel.weights.torch_file import read_torch_file

PACKAGE = "torchfcpe"
SHIPPED_FILE = "assets/fcpe_c_v001.pt"
INSTALL_HINT = "pip install --no-deps torchfcpe==0.0.4"

_SUBLAYERS = {"0": "norm", "2": "pointwise_in", "4.conv": "depthwise", "6": "pointwise_out"}
_INPUT_STACK = {"0": "conv_in", "1": "norm", "3": "conv_out"}


def shipped_fcpe_path(path: str | Path | None = None) -> Path:
    """`path` if given, else torchfcpe's installed bundled model."""
    return find_packaged_file(PACKAGE, SHIPPED_FILE, INSTALL_HINT, path)


def fcpe_config(config_dict: dict[str, Any], where: str | Path) -> FcpeConfig:
    """torchfcpe's `config_dict` -> FcpeConfig; only the conv-only CFNaiveMelPE is supported."""
    try:
        mel, model = config_dict["mel"], config_dict["model"]
        if model["type"] != "CFNaiveMelPE" or not model.get("conv_only", False):
            raise BadInputError(
                where,
                f"model type {model['type']!r} with conv_only={model.get('conv_only')}: "
                "only CFNaiveMelPE with conv_only=True (torchfcpe's bundled model) is supported",
            )
        return FcpeConfig(
            mel=FcpeMelConfig(
                sample_rate=int(mel["sr"]),
                n_mels=int(mel["num_mels"]),
                n_fft=int(mel["n_fft"]),
                win_length=int(mel["win_size"]),
                hop_length=int(mel["hop_size"]),
                f_min_hz=float(mel["fmin"]),
                f_max_hz=float(mel["fmax"]),
            ),
            hidden=int(model["hidden_dims"]),
            n_layers=int(model["n_layers"]),
            n_bins=int(model["out_dims"]),
            f0_min_hz=float(model["f0_min"]),
            f0_max_hz=float(model["f0_max"]),
        )
    except KeyError as error:
        raise BadInputError(where, f"config_dict lacks {error}") from error


def fcpe_state_dict(foreign: dict[str, torch.Tensor], config: FcpeConfig, where: str | Path) -> dict:
    """CFNaiveMelPE state dict -> FcpeNet state dict (checked strictly against the config)."""
    expected = {
        "norm.weight",
        "norm.bias",
        "output_proj.bias",
        "output_proj.weight_g",
        "output_proj.weight_v",
    }
    expected |= {"cent_table", "gaussian_blurred_cent_mask"}
    expected |= {f"input_stack.{i}.{p}" for i in _INPUT_STACK for p in ("weight", "bias")}
    for i in range(config.n_layers):
        layer = f"net.encoder_layers.{i}"
        expected |= {f"{layer}.norm.weight", f"{layer}.norm.bias"}
        expected |= {f"{layer}.conformer.net.{s}.{p}" for s in _SUBLAYERS for p in ("weight", "bias")}
    check_state(set(foreign), expected, where)
    state = {"norm.weight": foreign["norm.weight"], "norm.bias": foreign["norm.bias"]}
    state["cent_table"] = foreign["cent_table"]
    for index, name in _INPUT_STACK.items():
        for p in ("weight", "bias"):
            state[f"input_stack.{name}.{p}"] = foreign[f"input_stack.{index}.{p}"]
    for i in range(config.n_layers):
        for index, name in _SUBLAYERS.items():
            for p in ("weight", "bias"):
                value = foreign[f"net.encoder_layers.{i}.conformer.net.{index}.{p}"]
                # pointwise Conv1d weights (out, in, 1) become Linear weights (out, in)
                state[f"layers.{i}.{name}.{p}"] = value.squeeze(-1) if name.startswith("pointwise") else value
    g, v = foreign["output_proj.weight_g"], foreign["output_proj.weight_v"]
    state["output_proj.weight"] = v * (g / torch.linalg.vector_norm(v, dim=1, keepdim=True))
    state["output_proj.bias"] = foreign["output_proj.bias"]
    return state


def load_fcpe(path: str | Path | None = None) -> FcpeNet:
    """Build FCPE from torchfcpe's bundled file or `path`, in eval mode."""
    file = shipped_fcpe_path(path)
    data = read_torch_file(file, "FCPE weight file")
    if not isinstance(data, dict) or "model" not in data or "config_dict" not in data:
        raise BadInputError(file, "expected torchfcpe's dict with 'model' and 'config_dict'")
    config = fcpe_config(data["config_dict"], file)
    net = FcpeNet(config)
    load_strict(net, fcpe_state_dict(data["model"], config, file), file)
    return net.eval()


def fcpe_extractor(path: str | Path | None = None, device: str | torch.device = "cpu") -> FcpeExtractor:
    """FCPE with RVC's settings (16 kHz, hop 160, local_argmax, threshold 0.006), named "fcpe",
    its network and mel front end on ``device``."""
    net = load_fcpe(path).to(device)
    return FcpeExtractor(net=net, mel=FcpeMel(net.config.mel).eval().to(device))
