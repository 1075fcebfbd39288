"""RVC's file formats: exported voice models and G_*/D_* training checkpoints.

Exported voice model (``assets/weights/<name>.pth``): a dict with ``weight`` (float16 tensors,
every training key except ``enc_q.*``), ``config`` (the 18-item constructor list), ``info``
(str), ``sr`` ("32k"/"40k"/"48k"), ``f0`` (int, missing = 1) and ``version`` ("v1"/"v2",
missing = "v1"). Training checkpoint (``G_<step>.pth``, ``D_<step>.pth``, pretrained
``f0G40k.pth``...): a dict with ``model`` (the full state dict) and, except for some pretrained
files, ``iteration`` (the epoch), ``optimizer`` (an AdamW state dict) and ``learning_rate``.

Files are read with ``torch.load(weights_only=True)``: a file that needs anything beyond
tensors and plain containers to load is refused, so a voice model cannot run code.
"""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import visible_files, write_bytes_atomic, write_text_atomic
from timbrel.features.pitch.f0_stats import F0Stats
from timbrel.models.rvc.config import CONTENT_DIM, SynthesizerConfig
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.nn.legacy_weight_norm import remove_weight_norm
from timbrel.weights.strict import check_state, load_strict
from timbrel.weights.torch_file import read_torch_file

_SAMPLE_RATE_LABELS = {32000: "32k", 40000: "40k", 48000: "48k"}
_POSTERIOR_PREFIX = "enc_q."
_POSTERIOR_NAME = "enc_q"  # the reference exporter drops every key containing this
SIDECAR_SUFFIX = ".timbrel.json"
SIDECAR_FORMAT_VERSION = 1


def _sample_rate_hz(value: Any) -> int:
    """The sample rate from an int or a reference label such as "40k"."""
    if isinstance(value, str):
        labels = {label: rate for rate, label in _SAMPLE_RATE_LABELS.items()}
        if value not in labels:
            raise ValueError(f"sample rate label {value!r} is not one of {sorted(labels)}")
        return labels[value]
    return int(value)


# The exported ``config`` list, in the reference's order. Item 1 is always written as this constant,
# whatever the training segment was, as the reference exporter does.
_EXPORTED_SEGMENT_ITEM = 32
_EXPORTED_FIELDS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("spec_channels", int),
    ("segment_frames", int),
    ("inter_channels", int),
    ("hidden_channels", int),
    ("filter_channels", int),
    ("n_heads", int),
    ("n_layers", int),
    ("kernel_size", int),
    ("p_dropout", float),
    ("resblock", str),
    ("resblock_kernel_sizes", lambda ks: tuple(int(k) for k in ks)),
    ("resblock_dilation_sizes", lambda dss: tuple(tuple(int(d) for d in ds) for ds in dss)),
    ("upsample_rates", lambda us: tuple(int(u) for u in us)),
    ("upsample_initial_channel", int),
    ("upsample_kernel_sizes", lambda ks: tuple(int(k) for k in ks)),
    ("n_speakers", int),
    ("gin_channels", int),
    ("sample_rate", _sample_rate_hz),
)


def config_from_exported_list(
    items: Any, *, version: str, use_f0: bool, n_speakers: int | None = None
) -> SynthesizerConfig:
    """Parse the 18-item positional ``config`` list of an exported voice model.

    ``n_speakers`` replaces item 15, as the reference does with the rows of ``emb_g.weight``.
    """
    if not isinstance(items, list | tuple) or len(items) != len(_EXPORTED_FIELDS):
        raise ConfigError(f"an RVC config list has 18 items, got {items!r}")
    values = dict(zip((name for name, _ in _EXPORTED_FIELDS), items, strict=True))
    if n_speakers is not None:
        values["n_speakers"] = n_speakers
    try:
        parsed = {name: convert(values[name]) for name, convert in _EXPORTED_FIELDS}
        return SynthesizerConfig(version=version, use_f0=use_f0, **parsed)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"bad RVC config list {items!r}: {error}") from error


def exported_list(config: SynthesizerConfig) -> list[Any]:
    """The 18-item ``config`` list the reference exporter writes for ``config``."""
    items = []
    for name, _ in _EXPORTED_FIELDS:
        value = getattr(config, name)
        if name == "segment_frames":
            value = _EXPORTED_SEGMENT_ITEM
        elif name == "p_dropout":
            value = int(value) if float(value).is_integer() else value
        elif name == "resblock_dilation_sizes":
            value = [list(d) for d in value]
        elif isinstance(value, tuple):
            value = list(value)
        items.append(value)
    return items


@dataclass(frozen=True)
class VoiceModelFile:
    """The contents of an exported RVC voice model.

    weights: key -> tensor as stored (float16 in reference files), without ``enc_q`` keys.
    config: parsed from the ``config`` list, with n_speakers = rows of ``emb_g.weight``.
    """

    path: Path
    config: SynthesizerConfig
    weights: dict[str, Tensor]
    info: str
    sample_rate_label: str

    @property
    def version(self) -> str:
        return self.config.version

    @property
    def use_f0(self) -> bool:
        return self.config.use_f0


@dataclass(frozen=True)
class TrainingCheckpoint:
    """A G_*.pth / D_*.pth file. iteration: the epoch at save time; optimizer: AdamW state dict."""

    model: dict[str, Tensor]
    iteration: int | None = None
    optimizer: dict[str, Any] | None = None
    learning_rate: float | None = None


def load_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file."""
    return read_torch_file(path)


def read_voice_model(path: str | Path) -> VoiceModelFile:
    """Read an exported voice model and detect its variant (version, f0) from the file."""
    path = Path(path)
    data = load_file(path)
    if not isinstance(data, Mapping) or "weight" not in data or "config" not in data:
        keys = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise BadInputError(
            path, f"not an RVC voice model: expected 'weight' and 'config' entries, found {keys}"
        )
    weights = _tensor_table(data["weight"], path, "weight")
    weights = {k: v for k, v in weights.items() if not k.startswith(_POSTERIOR_PREFIX)}
    version = data.get("version", "v1")
    use_f0 = data.get("f0", 1)
    if not isinstance(version, str) or version not in CONTENT_DIM:
        raise BadInputError(path, f"version {version!r} is not one of {sorted(CONTENT_DIM)}")
    if not isinstance(use_f0, int) or use_f0 not in (0, 1):
        raise BadInputError(path, f"f0 {use_f0!r} is not 0 or 1")
    _check_variant(path, weights, version, bool(use_f0))
    if "emb_g.weight" not in weights:
        raise BadInputError(path, "missing key 'emb_g.weight'")
    try:
        config = config_from_exported_list(
            data["config"],
            version=version,
            use_f0=bool(use_f0),
            n_speakers=int(weights["emb_g.weight"].shape[0]),
        )
    except ConfigError as error:
        raise BadInputError(path, str(error)) from None
    label = data.get("sr", _SAMPLE_RATE_LABELS.get(config.sample_rate, str(config.sample_rate)))
    return VoiceModelFile(
        path=path,
        config=config,
        weights=dict(weights),
        info=str(data.get("info", "")),
        sample_rate_label=str(label),
    )


def write_voice_model(
    path: str | Path,
    config: SynthesizerConfig,
    state_dict: Mapping[str, Tensor],
    info: str = "",
    sample_rate_label: str | None = None,
) -> None:
    """Write an exported voice model as the reference exporter does (float16, no ``enc_q``), atomically.

    ``state_dict`` must hold the reference keys (weight norm not folded), with or without enc_q.
    """
    weights = OrderedDict(
        (k, v.detach().to("cpu", torch.float16)) for k, v in state_dict.items() if _POSTERIOR_NAME not in k
    )
    with torch.device("meta"):
        expected = Synthesizer(config, with_posterior=False)
    check_state(weights, expected.state_dict(), path)
    data = OrderedDict(
        weight=OrderedDict((k, weights[k]) for k in expected.state_dict()),  # the reference's order
        config=exported_list(config),
        info=info,
        sr=sample_rate_label or _SAMPLE_RATE_LABELS.get(config.sample_rate, str(config.sample_rate)),
        f0=int(config.use_f0),
        version=config.version,
    )
    _save(path, data)


def sidecar_path(model_path: str | Path) -> Path:
    """``<model>.timbrel.json`` beside ``<model>.pth``: what Timbrel knows about a voice model
    that the reference format has no place for."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + SIDECAR_SUFFIX)


def write_training_f0_stats(model_path: str | Path, f0_folder: str | Path) -> Path:
    """Pool the f0 tracks of a training set (the extraction stage's ``2b-f0nsf/*.npy``, Hz, 0 =
    unvoiced) into the voice model's sidecar, atomically; returns the sidecar's path.

    Sidecar (JSON): ``{"family": "rvc", "format_version": 1, "training_f0_hz": {"median": Hz,
    "quantiles": {"0.05": Hz, ...}, "voiced_frames": n}}``; other keys already there are kept.
    """
    f0_folder = Path(f0_folder)
    files = visible_files(f0_folder, "*.npy")
    if not files:
        raise BadInputError(f0_folder, "no f0 tracks (*.npy): run the extraction stage first")
    stats = F0Stats.from_f0(np.load(file, allow_pickle=False) for file in files)
    path = sidecar_path(model_path)
    data = read_sidecar(path) if path.is_file() else {}
    data.update(family="rvc", format_version=SIDECAR_FORMAT_VERSION, training_f0_hz=stats.to_dict())
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


def read_training_f0_stats(model_path: str | Path) -> F0Stats | None:
    """The training set's f0 statistics from the model's sidecar, or None without one."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    data = read_sidecar(path)
    if "training_f0_hz" not in data:
        return None
    try:
        return F0Stats.from_dict(data["training_f0_hz"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BadInputError(path, f"bad training_f0_hz entry: {type(error).__name__} {error}") from None


def read_sidecar(path: Path, family: str = "rvc") -> dict[str, Any]:
    """The checked JSON of a Timbrel sidecar of the given model family."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"not a readable JSON sidecar: {error}") from error
    if not isinstance(data, dict):
        raise BadInputError(path, "a sidecar must hold a JSON object")
    version = data.get("format_version", SIDECAR_FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadInputError(path, f"format_version {version!r} is not a positive whole number")
    if version > SIDECAR_FORMAT_VERSION:
        raise BadInputError(path, f"format_version {version} is newer than this Timbrel reads")
    if data.get("family", "rvc") != family:
        raise BadInputError(path, f"family {data['family']!r} is not {family!r}")
    if not isinstance(data.get("training_f0_hz", {}), dict):
        raise BadInputError(path, "training_f0_hz is not a JSON object")
    return data


def load_voice_model(path: str | Path, *, fold_weight_norm: bool = True) -> Synthesizer:
    """Build the synthesizer of an exported voice model: float32, eval mode, strict key check.

    With ``fold_weight_norm`` the weight-norm pairs are folded once into plain weights (same
    outputs, no per-call recomputation).
    """
    return build_synthesizer(read_voice_model(path), fold_weight_norm=fold_weight_norm)


def build_synthesizer(voice: VoiceModelFile, *, fold_weight_norm: bool = True) -> Synthesizer:
    """The synthesizer of a voice model already read: float32, eval mode, strict key check."""
    model = Synthesizer(voice.config, with_posterior=False)
    load_state_dict_strict(model, voice.weights, voice.path)
    model.float().eval()
    if fold_weight_norm:
        remove_weight_norm(model)
    return model


def read_training_checkpoint(path: str | Path) -> TrainingCheckpoint:
    """Read a G_*.pth / D_*.pth training checkpoint or a pretrained G/D file."""
    path = Path(path)
    data = load_file(path)
    if not isinstance(data, Mapping) or "model" not in data:
        keys = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise BadInputError(path, f"not an RVC training checkpoint: expected a 'model' entry, found {keys}")
    model = _tensor_table(data["model"], path, "model")
    iteration = data.get("iteration")
    learning_rate = data.get("learning_rate")
    optimizer = data.get("optimizer")
    if iteration is not None and not isinstance(iteration, int):
        raise BadInputError(path, f"'iteration' {iteration!r} is not an int")
    if optimizer is not None and not isinstance(optimizer, Mapping):
        raise BadInputError(path, "'optimizer' is not an optimizer state dict")
    return TrainingCheckpoint(
        model=dict(model),
        iteration=iteration,
        optimizer=optimizer,
        learning_rate=None if learning_rate is None else float(learning_rate),
    )


def write_training_checkpoint(path: str | Path, checkpoint: TrainingCheckpoint) -> None:
    """Write a G_*/D_* checkpoint in the reference layout, atomically."""
    data = {
        "model": OrderedDict((k, v.detach().cpu()) for k, v in checkpoint.model.items()),
        "iteration": checkpoint.iteration,
        "optimizer": checkpoint.optimizer,
        "learning_rate": checkpoint.learning_rate,
    }
    _save(path, data)


def synthesizer_config_from_state(state_dict: Mapping[str, Tensor]) -> SynthesizerConfig:
    """The config of a training-time generator state dict (G_*.pth, pretrained f0G40k.pth).

    Widths, depths and kernel sizes come from the tensor shapes; the upsample rates and sample
    rate, which no shape records, from the reference layout with the same spectrogram size and
    upsample kernels. Dilations are the (1, 3, 5) every RVC config uses.
    """
    try:
        version = _version_from_weights(state_dict)
        use_f0 = "enc_p.emb_pitch.weight" in state_dict
        hidden, _ = state_dict["enc_p.emb_phone.weight"].shape
        head_dim = state_dict["enc_p.encoder.attn_layers.0.emb_rel_k"].shape[-1]
        n_layers = _count(state_dict, "enc_p.encoder.attn_layers.{}.conv_q.weight")
        filter_channels, _, kernel_size = state_dict["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape
        inter = state_dict["enc_p.proj.weight"].shape[0] // 2
        n_speakers, gin = state_dict["emb_g.weight"].shape
        n_ups = _count(state_dict, "dec.ups.{}.weight_v")
        up_kernels = tuple(int(state_dict[f"dec.ups.{i}.weight_v"].shape[-1]) for i in range(n_ups))
        upsample_initial = state_dict["dec.conv_pre.weight"].shape[0]
        n_blocks = _count(state_dict, "dec.resblocks.{}.convs1.0.weight_v") // n_ups
        block_kernels = tuple(
            int(state_dict[f"dec.resblocks.{j}.convs1.0.weight_v"].shape[-1]) for j in range(n_blocks)
        )
        spec_key = "enc_q.pre.weight"
        spec_channels = state_dict[spec_key].shape[1] if spec_key in state_dict else None
    except KeyError as error:
        raise ConfigError(f"not an RVC generator state dict: missing key {error.args[0]!r}") from None
    matches = [
        preset
        for (v, sr) in [
            ("v1", 32000),
            ("v1", 40000),
            ("v1", 48000),
            ("v2", 32000),
            ("v2", 40000),
            ("v2", 48000),
        ]
        if v == version
        for preset in [SynthesizerConfig.preset(v, sr, use_f0)]
        if preset.upsample_kernel_sizes == up_kernels and spec_channels in (None, preset.spec_channels)
    ]
    if len({m.sample_rate for m in matches}) != 1:
        raise ConfigError(
            f"cannot tell the sample rate of a {version} generator with upsample kernels {up_kernels} "
            f"and {spec_channels} spectrogram channels; give its config explicitly"
        )
    return replace(
        matches[0],
        inter_channels=int(inter),
        hidden_channels=int(hidden),
        filter_channels=int(filter_channels),
        n_heads=int(hidden // head_dim),
        n_layers=n_layers,
        kernel_size=int(kernel_size),
        resblock_kernel_sizes=block_kernels,
        resblock_dilation_sizes=tuple((1, 3, 5) for _ in block_kernels),
        upsample_initial_channel=int(upsample_initial),
        n_speakers=int(n_speakers),
        gin_channels=int(gin),
    )


def load_state_dict_strict(module: nn.Module, state_dict: Mapping[str, Tensor], path: str | Path) -> None:
    """``module.load_state_dict(state_dict, strict=True)`` with an error naming every bad key."""
    load_strict(module, state_dict, path)


def _tensor_table(table: Any, path: Path, entry: str) -> Mapping[str, Tensor]:
    if not isinstance(table, Mapping):
        raise BadInputError(path, f"{entry!r} is not a mapping of names to tensors")
    others = sorted(str(k) for k, v in table.items() if not isinstance(v, Tensor))
    if others:
        raise BadInputError(path, f"{entry!r} holds entries that are not tensors: {others[:5]}")
    return table


def _check_variant(path: Path, weights: Mapping[str, Tensor], version: str, use_f0: bool) -> None:
    """The declared (version, f0) must agree with the tensors, or the reference could not load it either."""
    if "enc_p.emb_phone.weight" not in weights:
        raise BadInputError(path, "missing key 'enc_p.emb_phone.weight'")
    try:
        found = _version_from_weights(weights)
    except ConfigError as error:
        raise BadInputError(path, str(error)) from None
    if found != version:
        width = weights["enc_p.emb_phone.weight"].shape[1]
        raise BadInputError(path, f"declares version {version!r} but its content width is {width} ({found})")
    has_pitch = "enc_p.emb_pitch.weight" in weights
    if has_pitch != use_f0:
        raise BadInputError(
            path,
            f"declares f0={int(use_f0)} but 'enc_p.emb_pitch.weight' is "
            + ("present" if has_pitch else "absent"),
        )


def _version_from_weights(weights: Mapping[str, Tensor]) -> str:
    width = weights["enc_p.emb_phone.weight"].shape[1]
    for version, dim in CONTENT_DIM.items():
        if dim == width:
            return version
    raise ConfigError(f"content width {width} of 'enc_p.emb_phone.weight' is neither 256 (v1) nor 768 (v2)")


def _count(state_dict: Mapping[str, Tensor], pattern: str) -> int:
    n = 0
    while pattern.format(n) in state_dict:
        n += 1
    return n


def _save(path: str | Path, data: Any) -> None:
    # Through a buffer so the archive's internal names do not depend on the temporary file's name.
    buffer = io.BytesIO()
    torch.save(data, buffer)
    write_bytes_atomic(path, buffer.getvalue())
