"""Timbrel's own RIFT files.

A voice model is two files: `<name>.safetensors` (the DiT weights under their module names) and
`<name>.json` ({"family": "rift", "format_version", "model": DiTConfig fields, "speakers": {name: index},
"training": the settings it was trained with}), each written atomically. The optimizer state and the
loop's position sit beside them in the generic loop's train_state files (timbrel.train.checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from timbrel.core.config import from_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import write_bytes_atomic, write_text_atomic
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.weights.rift import SPEAKER_KEY, RiftCheckpoint, load_dit_strict

FAMILY = "rift"
FORMAT_VERSION = 1


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """`x`, `x.safetensors` or `x.json` -> (`x.safetensors`, `x.json`)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def is_native_model(path: str | Path) -> bool:
    weights, config = model_paths(path)
    return weights.is_file() and config.is_file()


def save_rift_model(
    path: str | Path,
    model: DiT,
    speakers: Mapping[str, int],
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model's weights and config -> the .safetensors path."""
    return save_rift_weights(path, model.state_dict(), model.config, speakers, training)


def save_rift_weights(
    path: str | Path,
    state: Mapping[str, torch.Tensor],
    model_config: DiTConfig,
    speakers: Mapping[str, int],
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write a DiT state dict of `model_config` and its config -> the .safetensors path."""
    if sorted(speakers.values()) != list(range(model_config.num_speakers)):
        raise ConfigError(
            f"speakers {dict(speakers)} do not index the model's {model_config.num_speakers} speaker rows"
        )
    weights, config = model_paths(path)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    write_bytes_atomic(weights, save(tensors, metadata={"family": FAMILY}))
    document = {
        "family": FAMILY,
        "format_version": FORMAT_VERSION,
        "model": dataclasses.asdict(model_config),
        "speakers": {str(k): int(v) for k, v in speakers.items()},
        "training": dict(training or {}),
    }
    write_text_atomic(config, json.dumps(document, indent=2, ensure_ascii=False))
    return weights


def read_config(path: str | Path) -> dict[str, Any]:
    _, config = model_paths(path)
    try:
        document = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(config, "no such model config") from None
    except ValueError as error:
        raise BadInputError(config, f"not JSON ({error})") from error
    if not isinstance(document, dict) or document.get("family") != FAMILY:
        raise BadInputError(config, f"not a Timbrel RIFT model (family {document.get('family')!r})")
    if document.get("format_version") != FORMAT_VERSION:
        raise BadInputError(
            config, f"format_version {document.get('format_version')!r}; this Timbrel reads {FORMAT_VERSION}"
        )
    return document


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file, with an error naming it when it cannot be read."""
    try:
        return load_file(path)
    except (FileNotFoundError, SafetensorError, OSError) as error:
        raise BadInputError(path, f"not a readable safetensors file ({error})") from error


def load_rift_model(path: str | Path) -> RiftCheckpoint:
    """Read a Timbrel RIFT model (strict), in eval mode."""
    weights, config_path = model_paths(path)
    document = read_config(path)
    try:
        config = from_dict(DiTConfig, document["model"], where=f"{config_path}: model")
    except (ConfigError, KeyError) as error:
        raise BadInputError(config_path, f"bad model section ({error})") from error
    speakers = {str(k): int(v) for k, v in document.get("speakers", {}).items()}
    if len(speakers) != config.num_speakers:
        raise BadInputError(
            config_path, f"{len(speakers)} speaker names for a model of {config.num_speakers} speakers"
        )
    state = read_weights(weights)
    model = DiT(config)
    load_dit_strict(model, state, weights)
    model.eval()
    return RiftCheckpoint(model, speakers, config, document.get("training", {}))


def load_pretrained_native(model: DiT, path: str | Path) -> list[str]:
    """Initialise `model` from a Timbrel RIFT model before fine-tuning, with the rule of
    `weights.rift.load_pretrained_dit`: a speaker table of another size is left out (the model keeps its
    own) -> the keys left out. Every other key must fit exactly."""
    weights, _ = model_paths(path)
    read_config(path)
    state = read_weights(weights)
    left_out = []
    rows = state.get(SPEAKER_KEY)
    if rows is None or rows.shape[0] != model.spk_embed.weight.shape[0]:
        state[SPEAKER_KEY] = model.spk_embed.weight.detach().clone()
        left_out.append(SPEAKER_KEY)
    load_dit_strict(model, state, weights)
    return left_out
