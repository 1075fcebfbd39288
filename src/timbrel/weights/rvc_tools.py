"""RVC's checkpoint tools (the WebUI's checkpoint tab, the reference's ``process_ckpt``): small-model
extraction from a G_ checkpoint, weighted merging of two voices, and info edits.

Extraction writes what the reference's exporter writes (float16, no ``enc_q``, the 18-item config
list), but takes the config from the tensor shapes instead of a per-rate table, so it is also right
for models of other sizes. Merging follows the reference: ``alpha·A + (1 − alpha)·B`` per key in
float32, stored as float16, a speaker table cut to the smaller of the two, config from A. Unlike the
reference it refuses two voices of different rates, versions or f0 settings instead of writing a
file that loads with the wrong settings.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import refuse_overwrite, write_bytes_atomic
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.weights.rvc import (
    load_file,
    read_training_checkpoint,
    read_voice_model,
    synthesizer_config_from_state,
    write_voice_model,
)

EXTRACTED_INFO = "Extracted model."  # the reference's info when none is given
SPEAKER_KEY = "emb_g.weight"
# Top-level modules a merge can weigh separately: text encoder, flow, decoder, speaker table.
MODULE_GROUPS = ("enc_p", "flow", "dec", "emb_g")
# Entries of an exported file that define how its weights are read: edit-info leaves them alone.
_STRUCTURAL_ENTRIES = ("weight", "config", "f0", "version")


@dataclass(frozen=True)
class Voice:
    """An RVC generator read from either an exported voice model or a G_ training checkpoint."""

    path: Path
    config: SynthesizerConfig
    weights: dict[str, Tensor]  # without enc_q
    info: str
    sample_rate_label: str | None


def is_discriminator(state: Mapping[str, Any]) -> bool:
    return any(key.startswith("discriminators.") for key in state)


def read_voice(path: str | Path) -> Voice:
    """An exported voice model, or the generator of a G_*.pth / pretrained G file."""
    path = Path(path)
    data = load_file(path)
    if isinstance(data, Mapping) and "weight" in data:
        voice = read_voice_model(path)
        return Voice(path, voice.config, voice.weights, voice.info, voice.sample_rate_label)
    checkpoint = read_training_checkpoint(path)
    if is_discriminator(checkpoint.model):
        raise BadInputError(path, "a discriminator (D_) checkpoint holds no voice: give the matching G_ file")
    try:
        config = synthesizer_config_from_state(checkpoint.model)
    except ConfigError as error:
        raise BadInputError(path, str(error)) from None
    weights = {k: v for k, v in checkpoint.model.items() if "enc_q" not in k}
    info = "" if checkpoint.iteration is None else f"{checkpoint.iteration}epoch"
    return Voice(path, config, weights, info, None)


def extract_voice_model(checkpoint: str | Path, output: str | Path, info: str = "") -> Path:
    """G_*.pth -> an exported voice model at ``output`` (float16, no enc_q, the reference config list)."""
    checkpoint, output = Path(checkpoint), Path(output)
    refuse_overwrite(output, [checkpoint])
    data = read_training_checkpoint(checkpoint)
    if is_discriminator(data.model):
        raise BadInputError(
            checkpoint, "a discriminator (D_) checkpoint holds no voice: give the matching G_ file"
        )
    try:
        config = synthesizer_config_from_state(data.model)
    except ConfigError as error:
        raise BadInputError(checkpoint, str(error)) from None
    write_voice_model(output, config, data.model, info or EXTRACTED_INFO)
    return output


def merge_voice_models(
    first: str | Path,
    second: str | Path,
    output: str | Path,
    alpha: float = 0.5,
    group_alphas: Mapping[str, float] | None = None,
    info: str | None = None,
) -> Path:
    """``alpha·first + (1 − alpha)·second`` per weight (``group_alphas`` overrides alpha for whole
    modules: enc_p, flow, dec, emb_g) -> an exported voice model with first's config and info."""
    output = Path(output)
    refuse_overwrite(output, [Path(first), Path(second)])
    group_alphas = dict(group_alphas or {})
    unknown = sorted(set(group_alphas) - set(MODULE_GROUPS))
    if unknown:
        raise ConfigError(f"unknown module group(s) {unknown}; allowed: {list(MODULE_GROUPS)}")
    for name, value in {"alpha": alpha, **group_alphas}.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} {value} is outside 0..1")
    a, b = read_voice(first), read_voice(second)
    _check_mergeable(a, b)
    weights = OrderedDict()
    rows = min(a.weights[SPEAKER_KEY].shape[0], b.weights[SPEAKER_KEY].shape[0])
    for key, value in a.weights.items():
        other = b.weights[key]
        if key == SPEAKER_KEY:
            value, other = value[:rows], other[:rows]
        weight = group_alphas.get(key.split(".", 1)[0], alpha)
        weights[key] = weight * value.float() + (1 - weight) * other.float()
    write_voice_model(
        output,
        a.config.with_speakers(rows),
        weights,
        a.info if info is None else info,
        a.sample_rate_label,
    )
    return output


def _check_mergeable(a: Voice, b: Voice) -> None:
    for what, left, right in (
        ("sample rate", a.config.sample_rate, b.config.sample_rate),
        ("version", a.config.version, b.config.version),
        ("f0", int(a.config.use_f0), int(b.config.use_f0)),
    ):
        if left != right:
            raise BadInputError(b.path, f"cannot merge: its {what} is {right}, but {a.path.name}'s is {left}")
    only_a = sorted(set(a.weights) - set(b.weights))
    only_b = sorted(set(b.weights) - set(a.weights))
    if only_a or only_b:
        raise BadInputError(
            b.path,
            f"cannot merge: the architectures differ (only in A: {only_a[:5]}, only in B: {only_b[:5]})",
        )
    mis_shaped = [
        f"{k}: {tuple(v.shape)} vs {tuple(b.weights[k].shape)}"
        for k, v in a.weights.items()
        if k != SPEAKER_KEY and v.shape != b.weights[k].shape
    ]
    if mis_shaped:
        raise BadInputError(b.path, f"cannot merge: the architectures differ ({'; '.join(mis_shaped[:3])})")


def edit_voice_model_info(
    path: str | Path,
    output: str | Path,
    info: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Copy an exported voice model to ``output`` with a new info string and other text entries
    (name, author, sr label...); the tensors are written back untouched, bit for bit."""
    path, output = Path(path), Path(output)
    refuse_overwrite(output, [path])
    read_voice_model(path)  # refuses anything that is not a loadable voice model
    data = load_file(path)
    changes = dict(metadata or {})
    if info is not None:
        changes["info"] = info
    structural = sorted(set(changes) & set(_STRUCTURAL_ENTRIES))
    if structural:
        raise ConfigError(f"{structural} define how the weights are read and cannot be edited")
    edited = OrderedDict(data)
    edited.update({key: str(value) for key, value in changes.items()})
    buffer = io.BytesIO()
    torch.save(edited, buffer)
    write_bytes_atomic(output, buffer.getvalue())
    return output
