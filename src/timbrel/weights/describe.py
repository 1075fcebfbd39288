"""What a voice-model file is and holds, read without building the model: RVC exports, RVC G_/D_
training checkpoints, RIFT-SVC Lightning checkpoints and Timbrel's RIFT models and bundles."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from timbrel.core.errors import BadInputError
from timbrel.core.files import sha256_of
from timbrel.models.rift.segment_features import SAMPLE_RATE as RIFT_SAMPLE_RATE
from timbrel.weights import bundle, rift_native
from timbrel.weights.rift import SPEAKER_KEY as RIFT_SPEAKER_KEY
from timbrel.weights.rift import dit_state_dict, read_lightning_file
from timbrel.weights.rvc import load_file, read_voice_model, sidecar_path
from timbrel.weights.rvc_tools import is_discriminator, read_voice


@dataclass(frozen=True)
class ModelDescription:
    """family: rvc or rift; kind: what sort of file; speakers: names (RIFT) or ids (RVC)."""

    path: str
    family: str
    kind: str
    sha256: str
    parameters: int
    dtypes: list[str]
    version: str | None = None
    sample_rate: int | None = None
    use_f0: bool | None = None
    speakers: list[str] = field(default_factory=list)
    epoch: int | None = None
    step: int | None = None
    info: str = ""
    sidecar: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe(path: str | Path) -> ModelDescription:
    """What a voice-model file is and holds (family, version, rate, f0, speakers, parameters,
    epoch/step, info, sha256, sidecar)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "no such file")
    if bundle.is_bundle(path):
        return _describe_bundle(path)
    if path.suffix == ".json" or path.suffix == ".safetensors":
        return _describe_rift_native(path)
    data = load_file(path)
    if not isinstance(data, Mapping):
        raise BadInputError(path, f"not a voice model: the file holds a {type(data).__name__}")
    if "weight" in data:
        return _describe_rvc_export(path)
    if "model" in data:
        return _describe_rvc_checkpoint(path, data)
    if "state_dict" in data and "hyper_parameters" in data:
        return _describe_rift_checkpoint(path)
    raise BadInputError(
        path, f"not a voice model Timbrel knows (RVC .pth or G_/D_, RIFT .ckpt); entries {sorted(data)[:8]}"
    )


def _stats(tensors: Mapping[str, Tensor]) -> tuple[int, list[str]]:
    values = list(tensors.values())
    return sum(v.numel() for v in values), sorted({str(v.dtype).removeprefix("torch.") for v in values})


def _sidecar(model_path: Path) -> dict[str, Any] | None:
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise BadInputError(path, f"not a readable JSON sidecar: {error}") from None


def _describe_rvc_export(path: Path) -> ModelDescription:
    voice = read_voice_model(path)
    parameters, dtypes = _stats(voice.weights)
    data = load_file(path)
    extra = {k: v for k, v in data.items() if k not in ("weight", "config", "info", "sr", "f0", "version")}
    return ModelDescription(
        path=str(path),
        family="rvc",
        kind="voice model",
        sha256=sha256_of(path),
        parameters=parameters,
        dtypes=dtypes,
        version=voice.version,
        sample_rate=voice.config.sample_rate,
        use_f0=voice.use_f0,
        speakers=[str(i) for i in range(voice.config.n_speakers)],
        info=voice.info,
        sidecar=_sidecar(path),
        extra={"sr": voice.sample_rate_label, "config": data["config"], **_plain(extra)},
    )


def _describe_rvc_checkpoint(path: Path, data: Mapping[str, Any]) -> ModelDescription:
    model = data["model"]
    if isinstance(model, Mapping) and is_discriminator(model):
        parameters, dtypes = _stats(model)
        periods = len({k.split(".")[1] for k in model if k.startswith("discriminators.")})
        return ModelDescription(
            path=str(path),
            family="rvc",
            kind="discriminator checkpoint",
            sha256=sha256_of(path),
            parameters=parameters,
            dtypes=dtypes,
            version="v2" if periods > 7 else "v1",
            epoch=data.get("iteration"),
            extra={"sub_discriminators": periods, "has_optimizer": data.get("optimizer") is not None},
        )
    voice = read_voice(path)
    parameters, dtypes = _stats(model)
    return ModelDescription(
        path=str(path),
        family="rvc",
        kind="generator checkpoint",
        sha256=sha256_of(path),
        parameters=parameters,
        dtypes=dtypes,
        version=voice.config.version,
        sample_rate=voice.config.sample_rate,
        use_f0=voice.config.use_f0,
        speakers=[str(i) for i in range(voice.config.n_speakers)],
        epoch=data.get("iteration"),
        extra={
            "has_optimizer": data.get("optimizer") is not None,
            "learning_rate": data.get("learning_rate"),
            "exported_parameters": sum(v.numel() for v in voice.weights.values()),
        },
    )


def _describe_rift_checkpoint(path: Path) -> ModelDescription:
    data = read_lightning_file(path)
    cfg = (data.get("hyper_parameters") or {}).get("cfg") or {}
    state = dit_state_dict(data["state_dict"], path)
    parameters, dtypes = _stats(state)
    speakers = cfg.get("spk2idx") or {}
    return ModelDescription(
        path=str(path),
        family="rift",
        kind="rift-svc checkpoint",
        sha256=sha256_of(path),
        parameters=parameters,
        dtypes=dtypes,
        sample_rate=RIFT_SAMPLE_RATE,
        use_f0=True,
        speakers=sorted(speakers, key=speakers.get),
        epoch=data.get("epoch"),
        step=data.get("global_step"),
        extra={"model": _plain(cfg.get("model", {})), "speaker_rows": _rows(state)},
    )


def _describe_rift_native(path: Path) -> ModelDescription:
    document = rift_native.read_config(path)
    weights, _ = rift_native.model_paths(path)
    state = rift_native.read_weights(weights)
    parameters, dtypes = _stats(state)
    speakers = document.get("speakers", {})
    return ModelDescription(
        path=str(weights),
        family="rift",
        kind="timbrel rift model",
        sha256=sha256_of(weights),
        parameters=parameters,
        dtypes=dtypes,
        sample_rate=RIFT_SAMPLE_RATE,
        use_f0=True,
        speakers=sorted(speakers, key=speakers.get),
        step=document.get("training", {}).get("step"),
        extra={"model": document.get("model"), "speaker_f0_hz": document.get("speaker_f0_hz")},
    )


def _describe_bundle(path: Path) -> ModelDescription:
    contents = bundle.read_bundle(path)
    config = contents.config
    parameters, dtypes = _stats(contents.weights)
    rift = config.get("rift") or {}
    return ModelDescription(
        path=str(path),
        family=contents.family,
        kind="timbrel bundle",
        sha256=sha256_of(path),
        parameters=parameters,
        dtypes=dtypes,
        version=config.get("version"),
        sample_rate=config.get("sample_rate"),
        use_f0=config.get("f0"),
        speakers=[str(s) for s in config.get("speakers", [])],
        step=rift.get("step"),
        info=config.get("info", ""),
        sidecar=contents.sidecar,
        extra={
            "format_version": config["format_version"],
            "license": config.get("license", ""),
            "parts": config["parts"],
            "index": contents.index is not None,
        },
    )


def _rows(state: Mapping[str, Tensor]) -> int | None:
    table = state.get(RIFT_SPEAKER_KEY)
    return None if table is None else int(table.shape[0])


def _plain(value: Any) -> Any:
    """JSON-safe copy: tensors become their shapes."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Tensor):
        return f"tensor{tuple(value.shape)}"
    return value
