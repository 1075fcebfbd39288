"""Write a HubertModel as the Transformers folder RVC's infer/hubert.py loads (assets/hubert_base/):
config.json, model.safetensors and preprocessor_config.json.

The inverse of ``timbrel.weights.hubert.load_hubert_folder``: the fused q/k/v projection is split
back into three, and the positional conv's folded weight is written as a weight-norm pair
(g = the per-tap norm, v = the weight), which the loaders fold back to the same weight up to one
float32 rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from timbrel.core.files import atomic_path, write_text_atomic
from timbrel.features.content.hubert import HubertModel
from timbrel.weights.hubert import TRANSFORMERS_NAMES

_NAMES = TRANSFORMERS_NAMES
_WEIGHT_NORM_PAIR = _NAMES.pos_conv_weight_norm[1]  # the parametrizations.* names Transformers writes


def write_hubert_folder(folder: str | Path, model: HubertModel) -> Path:
    """model -> ``folder`` (created) in the Transformers HubertModelWithFinalProj layout; -> folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model.config.proj_size is None:
        raise ValueError("RVC's HubertModelWithFinalProj needs a final_proj: the model has none")
    from safetensors.torch import save_file

    state = transformers_state(model)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    _write_json(folder / "config.json", transformers_config(model))
    _write_json(
        folder / "preprocessor_config.json",
        {
            "do_normalize": model.config.input_norm_eps is not None,
            "feature_extractor_type": "Wav2Vec2FeatureExtractor",
            "feature_size": 1,
            "padding_side": "right",
            "padding_value": 0.0,
            "return_attention_mask": False,
            "sampling_rate": 16000,
        },
    )
    return folder


def transformers_config(model: HubertModel) -> dict:
    """config.json of the model (the fields the reference's HubertConfig reads; dropouts off)."""
    c = model.config
    return {
        "architectures": ["HubertModelWithFinalProj"],
        "model_type": "hubert",
        "conv_dim": list(c.conv_channels),
        "conv_kernel": list(c.conv_kernels),
        "conv_stride": list(c.conv_strides),
        "num_feat_extract_layers": len(c.conv_channels),
        "conv_bias": c.conv_bias,
        "feat_extract_norm": "group",
        "feat_extract_activation": "gelu",
        "feat_proj_layer_norm": True,
        "do_stable_layer_norm": False,
        "conv_pos_batch_norm": False,
        "hidden_act": "gelu",
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads,
        "intermediate_size": c.ffn_size,
        "num_conv_pos_embeddings": c.pos_conv_kernel,
        "num_conv_pos_embedding_groups": c.pos_conv_groups,
        "classifier_proj_size": c.proj_size,
        "layer_norm_eps": c.layer_norm_eps,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "feat_proj_dropout": 0.0,
        "layerdrop": 0.0,
        "dtype": "float32",
    }


def transformers_state(model: HubertModel) -> dict[str, torch.Tensor]:
    """The model's weights under Transformers' key names, float32, contiguous."""
    ours = {key: value.detach().float().cpu() for key, value in model.state_dict().items()}
    c = model.config
    out: dict[str, torch.Tensor] = {}
    for i in range(len(c.conv_channels)):
        out[_NAMES.conv.format(i=i)] = ours[f"feature_extractor.convs.{i}.weight"]
        if c.conv_bias:
            out[_NAMES.conv.format(i=i).removesuffix("weight") + "bias"] = ours[
                f"feature_extractor.convs.{i}.bias"
            ]
    for p in ("weight", "bias"):
        out[_NAMES.group_norm.format(p=p)] = ours[f"feature_extractor.group_norm.{p}"]
        out[_NAMES.feature_norm.format(p=p)] = ours[f"feature_norm.{p}"]
        out[_NAMES.feature_projection.format(p=p)] = ours[f"feature_projection.{p}"]
        out[_NAMES.encoder_norm.format(p=p)] = ours[f"encoder_norm.{p}"]
        out[_NAMES.final_proj.format(p=p)] = ours[f"final_proj.{p}"]
        for n in range(c.num_layers):
            q, k, v = ours[f"layers.{n}.attention.qkv.{p}"].chunk(3, dim=0)
            for template, tensor in ((_NAMES.q, q), (_NAMES.k, k), (_NAMES.v, v)):
                out[template.format(n=n, p=p)] = tensor
            for ours_name, template in (
                ("attention.out", _NAMES.out),
                ("attention_norm", _NAMES.attention_norm),
                ("ffn_in", _NAMES.ffn_in),
                ("ffn_out", _NAMES.ffn_out),
                ("ffn_norm", _NAMES.ffn_norm),
            ):
                out[template.format(n=n, p=p)] = ours[f"layers.{n}.{ours_name}.{p}"]
    weight = ours["pos_conv.weight"]
    g_name, v_name = _WEIGHT_NORM_PAIR
    out[g_name] = weight.norm(dim=(0, 1), keepdim=True)
    out[v_name] = weight
    out[_NAMES.pos_conv_bias] = ours["pos_conv.bias"]
    out["masked_spec_embed"] = torch.zeros(c.hidden_size)  # training-only: masked frames' embedding
    return {key: tensor.contiguous() for key, tensor in out.items()}


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
