"""HuBERT / ContentVec files: the Transformers folder (RVC's assets/hubert_base/, RIFT's
content-vec-best/) and the fairseq checkpoint hubert_base.pt.

Both are translated by name into ``timbrel.features.content.hubert.HubertModel``: q/k/v are
concatenated into one projection and the positional conv's weight norm is folded once here, so the
model never recomputes it. Every key of the file must be used (or be one of the known training-only
tensors) and every parameter must be found; otherwise the error names the keys. The fairseq
pickle itself is opened by ``timbrel.weights.fairseq_pickle``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from timbrel.core.errors import BadInputError
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.weights.fairseq_pickle import plain_config, read_fairseq_checkpoint
from timbrel.weights.strict import check_finite
from timbrel.weights.torch_file import read_torch_file

_PARAMS = ("weight", "bias")


@dataclass(frozen=True)
class _KeyNames:
    """Where one file format keeps each tensor; {i} is a conv layer, {n} a transformer layer."""

    conv: str
    group_norm: str
    feature_norm: str
    feature_projection: str
    pos_conv_bias: str
    pos_conv_weight_norm: tuple[tuple[str, str], ...]  # (g, v) name pairs the format may use
    encoder_norm: str
    q: str
    k: str
    v: str
    out: str
    attention_norm: str
    ffn_in: str
    ffn_out: str
    ffn_norm: str
    final_proj: str
    ignored: tuple[str, ...]  # training-only tensors the encoder never reads


TRANSFORMERS_NAMES = _KeyNames(
    conv="feature_extractor.conv_layers.{i}.conv.weight",
    group_norm="feature_extractor.conv_layers.0.layer_norm.{p}",
    feature_norm="feature_projection.layer_norm.{p}",
    feature_projection="feature_projection.projection.{p}",
    pos_conv_bias="encoder.pos_conv_embed.conv.bias",
    pos_conv_weight_norm=(
        ("encoder.pos_conv_embed.conv.weight_g", "encoder.pos_conv_embed.conv.weight_v"),
        (
            "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
            "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
        ),
    ),
    encoder_norm="encoder.layer_norm.{p}",
    q="encoder.layers.{n}.attention.q_proj.{p}",
    k="encoder.layers.{n}.attention.k_proj.{p}",
    v="encoder.layers.{n}.attention.v_proj.{p}",
    out="encoder.layers.{n}.attention.out_proj.{p}",
    attention_norm="encoder.layers.{n}.layer_norm.{p}",
    ffn_in="encoder.layers.{n}.feed_forward.intermediate_dense.{p}",
    ffn_out="encoder.layers.{n}.feed_forward.output_dense.{p}",
    ffn_norm="encoder.layers.{n}.final_layer_norm.{p}",
    final_proj="final_proj.{p}",
    ignored=("masked_spec_embed",),
)

FAIRSEQ_NAMES = _KeyNames(
    conv="feature_extractor.conv_layers.{i}.0.weight",
    group_norm="feature_extractor.conv_layers.0.2.{p}",
    feature_norm="layer_norm.{p}",
    feature_projection="post_extract_proj.{p}",
    pos_conv_bias="encoder.pos_conv.0.bias",
    pos_conv_weight_norm=(("encoder.pos_conv.0.weight_g", "encoder.pos_conv.0.weight_v"),),
    encoder_norm="encoder.layer_norm.{p}",
    q="encoder.layers.{n}.self_attn.q_proj.{p}",
    k="encoder.layers.{n}.self_attn.k_proj.{p}",
    v="encoder.layers.{n}.self_attn.v_proj.{p}",
    out="encoder.layers.{n}.self_attn.out_proj.{p}",
    attention_norm="encoder.layers.{n}.self_attn_layer_norm.{p}",
    ffn_in="encoder.layers.{n}.fc1.{p}",
    ffn_out="encoder.layers.{n}.fc2.{p}",
    ffn_norm="encoder.layers.{n}.final_layer_norm.{p}",
    final_proj="final_proj.{p}",
    ignored=("mask_emb", "label_embs_concat"),
)


# ---------------------------------------------------------------------------------------------
# Public loaders


def load_hubert(path: str | Path) -> HubertModel:
    """A Transformers folder (RVC's assets/hubert_base/) or a fairseq hubert_base.pt, as RVC reads it."""
    path = Path(path)
    if path.is_dir():
        return load_hubert_folder(path)
    if path.is_file():
        return load_hubert_fairseq(path)
    raise BadInputError(path, "no such file or folder (expected a HuBERT folder or hubert_base.pt)")


def load_hubert_folder(folder: str | Path) -> HubertModel:
    """config.json + model.safetensors or pytorch_model.bin, and preprocessor_config.json if present
    (its do_normalize decides whether the waveform is normalised, as RVC's loader does)."""
    folder = Path(folder)
    preprocessor_path = folder / "preprocessor_config.json"
    preprocessor = _read_json(preprocessor_path) if preprocessor_path.is_file() else None
    return _load_folder(folder, preprocessor)


def load_contentvec(folder: str | Path) -> HubertModel:
    """RIFT-SVC's content-vec-best folder (HubertModelWithFinalProj). RIFT feeds the raw waveform
    whatever a preprocessor config says, so none is read; final_proj is loaded but RIFT leaves it unused."""
    return _load_folder(Path(folder), preprocessor=None)


def load_hubert_fairseq(path: str | Path) -> HubertModel:
    """hubert_base.pt: the fairseq checkpoint's "model" state dict, hyper-parameters from its cfg."""
    path = Path(path)
    checkpoint = read_fairseq_checkpoint(path)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), Mapping):
        state = checkpoint["model"]
        cfg = plain_config(checkpoint.get("cfg"))
        args = plain_config(checkpoint.get("args"))
    elif isinstance(checkpoint, dict) and FAIRSEQ_NAMES.conv.format(i=0) in checkpoint:
        state, cfg, args = checkpoint, None, None
    else:
        keys = sorted(checkpoint)[:10] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise BadInputError(path, f"not a fairseq HuBERT checkpoint: no 'model' state dict (found {keys})")
    state = _tensors_only(state, path)
    config = hubert_config_from_fairseq(cfg, args, state, source=path)
    return _build(config, hubert_state_from_fairseq(state, config, source=path), path)


# ---------------------------------------------------------------------------------------------
# Configs


def hubert_config_from_transformers(
    config: Mapping[str, Any],
    preprocessor: Mapping[str, Any] | None,
    state: Mapping[str, torch.Tensor],
    source: str | Path = "config.json",
) -> HubertConfig:
    """A Transformers HubertConfig (config.json as a dict) -> HubertConfig; proj_size from the weights."""
    base = HubertConfig.base()
    _require(config, "feat_extract_norm", "group", source)
    _require(config, "do_stable_layer_norm", False, source)
    _require(config, "hidden_act", "gelu", source)
    _require(config, "feat_extract_activation", "gelu", source)
    _require(config, "conv_pos_batch_norm", False, source)
    _require(config, "feat_proj_layer_norm", True, source)
    normalize = bool(preprocessor and preprocessor.get("do_normalize", False))
    try:
        return HubertConfig(
            conv_channels=tuple(config.get("conv_dim", base.conv_channels)),
            conv_kernels=tuple(config.get("conv_kernel", base.conv_kernels)),
            conv_strides=tuple(config.get("conv_stride", base.conv_strides)),
            hidden_size=int(config.get("hidden_size", base.hidden_size)),
            num_layers=int(config.get("num_hidden_layers", base.num_layers)),
            num_heads=int(config.get("num_attention_heads", base.num_heads)),
            ffn_size=int(config.get("intermediate_size", base.ffn_size)),
            pos_conv_kernel=int(config.get("num_conv_pos_embeddings", base.pos_conv_kernel)),
            pos_conv_groups=int(config.get("num_conv_pos_embedding_groups", base.pos_conv_groups)),
            proj_size=_proj_size(state, TRANSFORMERS_NAMES),
            layer_norm_eps=float(config.get("layer_norm_eps", base.layer_norm_eps)),
            input_norm_eps=1e-7 if normalize else None,
            conv_bias=bool(config.get("conv_bias", False)),
        )
    except (TypeError, ValueError) as error:
        raise BadInputError(source, f"unusable HuBERT config: {error}") from error


def hubert_config_from_fairseq(
    cfg: Any,
    args: Any,
    state: Mapping[str, torch.Tensor],
    source: str | Path = "hubert_base.pt",
) -> HubertConfig:
    """fairseq's cfg ({'model': ..., 'task': ...}) or legacy args namespace -> HubertConfig.

    Without a readable config the hubert_base hyper-parameters are used (the file's tensors must
    then fit them exactly).
    """
    if isinstance(cfg, Mapping):
        model = cfg.get("model") if isinstance(cfg.get("model"), Mapping) else {}
        task = cfg.get("task") if isinstance(cfg.get("task"), Mapping) else {}
    elif isinstance(args, Mapping):
        model = task = args
    else:
        model = task = {}
    base = HubertConfig.base()
    _require(model, "extractor_mode", "default", source)
    _require(model, "layer_norm_first", False, source)
    _require(model, "activation_fn", "gelu", source)
    conv_layers = model.get("conv_feature_layers")
    if conv_layers is None:
        channels, kernels, strides = base.conv_channels, base.conv_kernels, base.conv_strides
    else:
        channels, kernels, strides = _parse_conv_layers(str(conv_layers), source)
    try:
        return HubertConfig(
            conv_channels=channels,
            conv_kernels=kernels,
            conv_strides=strides,
            hidden_size=int(model.get("encoder_embed_dim", base.hidden_size)),
            num_layers=int(model.get("encoder_layers", base.num_layers)),
            num_heads=int(model.get("encoder_attention_heads", base.num_heads)),
            ffn_size=int(model.get("encoder_ffn_embed_dim", base.ffn_size)),
            pos_conv_kernel=int(model.get("conv_pos", base.pos_conv_kernel)),
            pos_conv_groups=int(model.get("conv_pos_groups", base.pos_conv_groups)),
            proj_size=_proj_size(state, FAIRSEQ_NAMES),
            input_norm_eps=1e-5 if task.get("normalize", False) else None,
            conv_bias=bool(model.get("conv_bias", False)),
        )
    except (TypeError, ValueError) as error:
        raise BadInputError(source, f"unusable HuBERT config: {error}") from error


# ---------------------------------------------------------------------------------------------
# State dicts


def hubert_state_from_transformers(
    state: Mapping[str, torch.Tensor], config: HubertConfig, source: str | Path = "model.safetensors"
) -> dict[str, torch.Tensor]:
    """Transformers HubertModel(+final_proj) keys -> HubertModel keys (float32)."""
    return _translate(state, config, TRANSFORMERS_NAMES, source)


def hubert_state_from_fairseq(
    state: Mapping[str, torch.Tensor], config: HubertConfig, source: str | Path = "hubert_base.pt"
) -> dict[str, torch.Tensor]:
    """fairseq HubertModel keys (hubert_base.pt["model"]) -> HubertModel keys (float32)."""
    return _translate(state, config, FAIRSEQ_NAMES, source)


def _translate(
    state: Mapping[str, torch.Tensor], config: HubertConfig, names: _KeyNames, source: str | Path
) -> dict[str, torch.Tensor]:
    weight_norm = next(
        (pair for pair in names.pos_conv_weight_norm if pair[0] in state or pair[1] in state),
        names.pos_conv_weight_norm[0],
    )
    plan: list[tuple[str, tuple[str, ...], Callable[..., torch.Tensor]]] = []

    def same(ours: str, theirs: str) -> None:
        plan.append((ours, (theirs,), lambda tensor: tensor))

    for i in range(len(config.conv_channels)):
        same(f"feature_extractor.convs.{i}.weight", names.conv.format(i=i))
        if config.conv_bias:
            same(f"feature_extractor.convs.{i}.bias", names.conv.format(i=i).removesuffix("weight") + "bias")
    for p in _PARAMS:
        same(f"feature_extractor.group_norm.{p}", names.group_norm.format(p=p))
        same(f"feature_norm.{p}", names.feature_norm.format(p=p))
        same(f"feature_projection.{p}", names.feature_projection.format(p=p))
        same(f"encoder_norm.{p}", names.encoder_norm.format(p=p))
        if config.proj_size is not None:
            same(f"final_proj.{p}", names.final_proj.format(p=p))
    same("pos_conv.bias", names.pos_conv_bias)
    plan.append(("pos_conv.weight", weight_norm, _fold_weight_norm))
    for n in range(config.num_layers):
        for p in _PARAMS:
            qkv = tuple(template.format(n=n, p=p) for template in (names.q, names.k, names.v))
            plan.append((f"layers.{n}.attention.qkv.{p}", qkv, lambda *t: torch.cat(t, dim=0)))
            same(f"layers.{n}.attention.out.{p}", names.out.format(n=n, p=p))
            same(f"layers.{n}.attention_norm.{p}", names.attention_norm.format(n=n, p=p))
            same(f"layers.{n}.ffn_in.{p}", names.ffn_in.format(n=n, p=p))
            same(f"layers.{n}.ffn_out.{p}", names.ffn_out.format(n=n, p=p))
            same(f"layers.{n}.ffn_norm.{p}", names.ffn_norm.format(n=n, p=p))

    expected = {key for _, keys, _ in plan for key in keys}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected - set(names.ignored))
    if missing or unexpected:
        raise BadInputError(
            source,
            f"HuBERT weights do not match the config ({config.num_layers} layers, hidden "
            f"{config.hidden_size}): missing keys {missing}; unexpected keys {unexpected}",
        )
    mistyped = sorted(f"{key} ({state[key].dtype})" for key in expected if not state[key].is_floating_point())
    if mistyped:
        raise BadInputError(source, f"HuBERT weights must be floating point: {mistyped[:3]}")
    with torch.device("meta"):
        expected_shapes = {key: value.shape for key, value in HubertModel(config).state_dict().items()}
    translated: dict[str, torch.Tensor] = {}
    wrong: list[str] = []
    for ours, keys, combine in plan:
        try:
            tensor = combine(*(state[key].float() for key in keys))
        except RuntimeError:
            tensor = None
        if tensor is None or tensor.shape != expected_shapes[ours]:
            shapes = ", ".join(f"{key} {list(state[key].shape)}" for key in keys)
            wrong.append(f"{shapes} (should give {list(expected_shapes[ours])})")
        else:
            translated[ours] = tensor
    if wrong:
        more = f"; and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise BadInputError(
            source,
            f"HuBERT weights do not fit the config ({config.num_layers} layers, hidden "
            f"{config.hidden_size}, FFN {config.ffn_size}): wrong shapes: {'; '.join(wrong[:3])}{more}",
        )
    return translated


def _fold_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """w = g · v / ‖v‖ with the norm over dims (0, 1) for each kernel tap (weight norm over dim 2),
    in torch's weight-norm order of operations."""
    return v * (g / v.norm(dim=(0, 1), keepdim=True))


def _build(config: HubertConfig, state: dict[str, torch.Tensor], source: str | Path) -> HubertModel:
    with torch.device("meta"):
        model = HubertModel(config)
    try:
        model.load_state_dict({k: v.contiguous() for k, v in state.items()}, strict=True, assign=True)
    except RuntimeError as error:
        raise BadInputError(source, f"HuBERT weights do not fit the config: {error}") from error
    return model.eval().requires_grad_(False)


# ---------------------------------------------------------------------------------------------
# Files


def _load_folder(folder: Path, preprocessor: Mapping[str, Any] | None) -> HubertModel:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise BadInputError(folder, "no config.json: not a Transformers HuBERT folder")
    config_json = _read_json(config_path)
    state, weights_path = _read_folder_weights(folder)
    config = hubert_config_from_transformers(config_json, preprocessor, state, source=config_path)
    return _build(config, hubert_state_from_transformers(state, config, source=weights_path), weights_path)


def _read_folder_weights(folder: Path) -> tuple[dict[str, torch.Tensor], Path]:
    safetensors_path = folder / "model.safetensors"
    bin_path = folder / "pytorch_model.bin"
    if safetensors_path.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(safetensors_path), safetensors_path
        except (SafetensorError, OSError) as error:
            raise BadInputError(safetensors_path, f"unreadable safetensors file: {error}") from error
    if bin_path.is_file():
        return _tensors_only(read_torch_file(bin_path, "weights file"), bin_path), bin_path
    raise BadInputError(folder, "no model.safetensors or pytorch_model.bin")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"unreadable JSON: {error}") from error
    if not isinstance(data, dict):
        raise BadInputError(path, "expected a JSON object")
    return data


def _tensors_only(state: Any, source: Path) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping):
        raise BadInputError(source, "the weights are not a mapping of names to tensors")
    others = sorted(
        str(k) for k, v in state.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))
    )
    if others:
        raise BadInputError(source, f"weights that are not named tensors: {others[:5]}")
    check_finite(state, source, "HuBERT weights")
    return dict(state)


def _parse_conv_layers(text: str, source: str | Path) -> tuple[tuple[int, ...], ...]:
    """fairseq's conv_feature_layers, e.g. "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
    parsed as data (never evaluated) -> (channels, kernels, strides)."""
    layers: list[tuple[int, int, int]] = []
    term = re.compile(r"\s*\[((?:\s*\(\s*\d+\s*,\s*\d+\s*,\s*\d+\s*\)\s*,?)+)\]\s*(?:\*\s*(\d+))?\s*")
    for part in text.split("+"):
        match = term.fullmatch(part)
        if match is None:
            raise BadInputError(source, f"cannot read conv_feature_layers {text!r}")
        triples = [
            tuple(int(x) for x in t) for t in re.findall(r"\((\d+)\s*,\s*(\d+)\s*,\s*(\d+)\)", match[1])
        ]
        layers.extend(triples * int(match[2] or 1))
    channels, kernels, strides = zip(*layers, strict=True)
    return channels, kernels, strides


def _proj_size(state: Mapping[str, torch.Tensor], names: _KeyNames) -> int | None:
    weight = state.get(names.final_proj.format(p="weight"))
    return None if weight is None else int(weight.shape[0])


def _require(config: Mapping[str, Any], key: str, value: Any, source: str | Path) -> None:
    if key in config and config[key] != value:
        raise BadInputError(
            source, f"unsupported HuBERT variant: {key} is {config[key]!r}, only {value!r} is implemented"
        )
