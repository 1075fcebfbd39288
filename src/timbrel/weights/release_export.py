"""Writing the released formats of RIFT-SVC's standard networks from Timbrel's models: the NSF-HiFiGAN
release folder (config.json + model.ckpt), RMVPE's model.pt and the ContentVec Transformers folder
(config.json + model.safetensors).

The reference's own loaders read these files (infer.py's load_models with a ``pretrained/`` folder of
them), so the benchmarks run both implementations on the very same weights, and Timbrel's loaders read
them back unchanged. Weight norm is written as (g = ‖w‖, v = w), which folds back to w.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from timbrel.core.files import write_bytes_atomic, write_text_atomic
from timbrel.features.content.hubert import HubertModel
from timbrel.features.pitch.rmvpe_network import E2E
from timbrel.vocoders.nsf_hifigan import NsfHifiGan
from timbrel.weights.hubert_folder import transformers_state
from timbrel.weights.nsf_hifigan import CHECKPOINT_NAME, CONFIG_NAME

# The generator's layers that the release keeps under weight norm (the noise convs and the source's
# linear layer never had it).
_NSF_WEIGHT_NORMED = ("conv_pre.", "ups.", "resblocks.", "conv_post.")


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def unfold_weight_norm(weight: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    """A plain weight -> its weight-norm pair (g, v): v = weight, g = ‖weight‖ over every dim but `dim`."""
    others = tuple(d for d in range(weight.dim()) if d != dim)
    return torch.linalg.vector_norm(weight, dim=others, keepdim=True), weight.clone()


def nsf_hifigan_config_json(model: NsfHifiGan) -> dict[str, Any]:
    """The release's config.json for the model (the inverse of weights.nsf_hifigan.config_from_json)."""
    c = model.config
    return {
        "resblock": "1",
        "upsample_rates": list(c.upsample_rates),
        "upsample_kernel_sizes": list(c.upsample_kernel_sizes),
        "upsample_initial_channel": c.upsample_initial_channel,
        "resblock_kernel_sizes": list(c.resblock_kernel_sizes),
        "resblock_dilation_sizes": [list(d) for d in c.resblock_dilation_sizes],
        "num_mels": c.n_mels,
        "num_freq": c.n_fft // 2 + 1,
        "n_fft": c.n_fft,
        "hop_size": c.hop_length,
        "win_size": c.win_length,
        "sampling_rate": c.sample_rate,
        "fmin": c.f_min_hz,
        "fmax": c.f_max_hz,
        "fmax_for_loss": None,
    }


def save_nsf_hifigan_release(model: NsfHifiGan, folder: str | Path) -> Path:
    """Write `folder`/config.json and `folder`/model.ckpt ({'generator': state dict with weight_g/weight_v
    pairs}); returns the checkpoint's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    generator: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu", torch.float32)
        if key.startswith(_NSF_WEIGHT_NORMED) and key.endswith(".weight"):
            name = key.removesuffix(".weight")
            generator[f"{name}.weight_g"], generator[f"{name}.weight_v"] = unfold_weight_norm(value)
        else:
            generator[key] = value.clone()
    write_text_atomic(folder / CONFIG_NAME, json.dumps(nsf_hifigan_config_json(model), indent=2))
    write_bytes_atomic(folder / CHECKPOINT_NAME, _torch_bytes({"generator": generator}))
    return folder / CHECKPOINT_NAME


def save_rmvpe(model: E2E, path: str | Path) -> Path:
    """Write RIFT's pretrained/rmvpe/model.pt layout, {'model': state dict} (float32)."""
    state = {
        k: (v.float() if v.is_floating_point() else v).detach().to("cpu").clone()
        for k, v in model.state_dict().items()
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, _torch_bytes({"model": state}))
    return Path(path)


def contentvec_config_json(model: HubertModel) -> dict[str, Any]:
    """Transformers' HubertConfig for RIFT's HubertModelWithFinalProj (the fields Timbrel's loader reads,
    and those the model class needs; Transformers fills the training-only rest with its defaults)."""
    c = model.config
    if c.proj_size is None or c.input_norm_eps is not None:
        raise ValueError("a ContentVec folder needs final_proj and feeds the raw waveform (no input norm)")
    return {
        "architectures": ["HubertModelWithFinalProj"],
        "model_type": "hubert",
        "conv_dim": list(c.conv_channels),
        "conv_kernel": list(c.conv_kernels),
        "conv_stride": list(c.conv_strides),
        "conv_bias": c.conv_bias,
        "num_feat_extract_layers": len(c.conv_channels),
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads,
        "intermediate_size": c.ffn_size,
        "num_conv_pos_embeddings": c.pos_conv_kernel,
        "num_conv_pos_embedding_groups": c.pos_conv_groups,
        "classifier_proj_size": c.proj_size,
        "layer_norm_eps": c.layer_norm_eps,
        "feat_extract_norm": "group",
        "feat_extract_activation": "gelu",
        "hidden_act": "gelu",
        "do_stable_layer_norm": False,
        "conv_pos_batch_norm": False,
        "feat_proj_layer_norm": True,
    }


def save_contentvec_folder(model: HubertModel, folder: str | Path) -> Path:
    """Write RIFT's pretrained/content-vec-best layout: config.json and model.safetensors."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "config.json", json.dumps(contentvec_config_json(model), indent=2))
    state = transformers_state(model)
    del state["masked_spec_embed"]  # the content-vec-best release has no masked-frame embedding
    weights = save(state, metadata={"format": "pt"})
    write_bytes_atomic(folder / "model.safetensors", weights)
    return folder
