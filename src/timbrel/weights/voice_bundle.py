"""Packing voice models into Timbrel bundles (timbrel.weights.bundle) and back into the files the
reference tools read: an RVC ``.pth`` with its ``.index``, or a RIFT-SVC ``.ckpt``, each with the
sidecar Timbrel keeps beside it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from timbrel.core.config import from_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import refuse_overwrite, write_bytes_atomic, write_text_atomic
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.segment_features import SAMPLE_RATE as RIFT_SAMPLE_RATE
from timbrel.weights import bundle, rift_native
from timbrel.weights.rift import RiftCheckpoint, load_dit_strict, load_rift_checkpoint, read_lightning_file
from timbrel.weights.rift_export import lightning_checkpoint, save_lightning_checkpoint
from timbrel.weights.rvc import (
    VoiceModelFile,
    config_from_exported_list,
    exported_list,
    read_voice_model,
    sidecar_path,
    write_voice_model,
)
from timbrel.weights.rvc_index import read_index


def pack_voice(
    model: str | Path,
    output: str | Path,
    index: str | Path | None = None,
    license: str = "",
    info: str | None = None,
) -> Path:
    """An RVC voice model (+ its .index), a RIFT-SVC .ckpt or a Timbrel RIFT model -> one bundle.
    The sidecar beside the model (``<model>.timbrel.json``) goes in too."""
    model, output = Path(model), Path(output)
    refuse_overwrite(output, [model, *([Path(index)] if index else [])])
    if not output.name.lower().endswith(".zip"):
        raise BadInputError(output, f"a bundle's name ends in {bundle.SUFFIX}")
    sidecar = _read_json(sidecar_path(model)) if sidecar_path(model).is_file() else None
    if model.suffix == ".pth":
        voice = read_voice_model(model)
        index_bytes = None
        if index is not None:
            read_index(index)  # refuses anything that is not a faiss IVF index
            index_bytes = Path(index).read_bytes()
        config = {
            "family": "rvc",
            "sample_rate": voice.config.sample_rate,
            "version": voice.version,
            "f0": voice.use_f0,
            "speakers": [str(i) for i in range(voice.config.n_speakers)],
            "info": voice.info if info is None else info,
            "license": license,
            "rvc": {"config": exported_list(voice.config), "sr": voice.sample_rate_label},
        }
        return bundle.write_bundle(output, config, voice.weights, index_bytes, sidecar)
    if index is not None:
        raise BadInputError(Path(index), "a retrieval index goes with an RVC .pth model only")
    rift, step = _read_rift(model)
    config = {
        "family": "rift",
        "sample_rate": RIFT_SAMPLE_RATE,
        "version": None,
        "f0": True,
        "speakers": sorted(rift.speakers, key=rift.speakers.get),
        "info": f"step {step}" if info is None else info,
        "license": license,
        "rift": {
            "model": dataclasses.asdict(rift.config),
            "training": json.loads(json.dumps(rift.training_config, default=str)),
            "step": step,
        },
    }
    return bundle.write_bundle(output, config, rift.model.state_dict(), None, sidecar)


def rvc_voice_file(contents: bundle.BundleContents) -> VoiceModelFile:
    """The exported RVC voice model a bundle holds (strictly checked when it is built)."""
    rvc = contents.config.get("rvc") or {}
    weights = contents.weights
    if "emb_g.weight" not in weights:
        raise BadInputError(contents.path, f"part {bundle.WEIGHTS} lacks 'emb_g.weight'")
    try:
        config = config_from_exported_list(
            rvc.get("config"),
            version=contents.config.get("version"),
            use_f0=bool(contents.config.get("f0")),
            n_speakers=int(weights["emb_g.weight"].shape[0]),
        )
    except ConfigError as error:
        raise BadInputError(contents.path, f"{bundle.CONFIG}: {error}") from None
    label = str(rvc.get("sr") or config.sample_rate)
    return VoiceModelFile(contents.path, config, dict(weights), str(contents.config.get("info", "")), label)


def rift_checkpoint(contents: bundle.BundleContents) -> RiftCheckpoint:
    """The RIFT DiT a bundle holds, built strictly, in eval mode."""
    rift = contents.config.get("rift") or {}
    try:
        config = from_dict(DiTConfig, rift.get("model") or {}, where=f"{contents.path}: rift.model")
    except ConfigError as error:
        raise BadInputError(contents.path, str(error)) from None
    speakers = {str(name): i for i, name in enumerate(contents.config.get("speakers", []))}
    model = DiT(config)
    load_dit_strict(model, dict(contents.weights), contents.path)
    model.eval()
    return RiftCheckpoint(model, speakers, config, rift.get("training") or {})


def unpack_voice(path: str | Path, output_dir: str | Path) -> list[Path]:
    """A bundle -> ``<name>.pth`` (+ ``.index``) for RVC or ``<name>.ckpt`` for RIFT, and the sidecar,
    in ``output_dir``; an existing file of the same name is left alone and refused."""
    contents = bundle.read_bundle(path)
    output_dir = Path(output_dir)
    name = contents.name
    if contents.family == "rvc":
        voice = rvc_voice_file(contents)
        targets = [output_dir / f"{name}.pth"]
        if contents.index is not None:
            targets.append(output_dir / f"{name}.index")
    else:
        rift = rift_checkpoint(contents)
        targets = [output_dir / f"{name}.ckpt"]
    if contents.sidecar is not None:
        targets.append(sidecar_path(targets[0]))
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        raise BadInputError(output_dir, f"already holds {taken}; unpack into another folder")
    if contents.family == "rvc":
        write_voice_model(targets[0], voice.config, voice.weights, voice.info, voice.sample_rate_label)
        if contents.index is not None:
            write_bytes_atomic(targets[1], contents.index)
    else:
        cfg = {k: v for k, v in rift.training_config.items() if k not in ("model", "spk2idx")}
        step = int((contents.config.get("rift") or {}).get("step") or 0)
        save_lightning_checkpoint(targets[0], lightning_checkpoint(rift.model, rift.speakers, cfg, step))
    if contents.sidecar is not None:
        write_text_atomic(targets[-1], json.dumps(contents.sidecar, indent=2, ensure_ascii=False) + "\n")
    return targets


def _read_rift(path: Path) -> tuple[RiftCheckpoint, int]:
    if path.suffix in (".json", ".safetensors"):
        document = rift_native.read_config(path)
        return rift_native.load_rift_model(path), int(document.get("training", {}).get("step") or 0)
    if path.suffix != ".ckpt":
        raise BadInputError(path, "not a voice model: expected an RVC .pth, a RIFT .ckpt or a Timbrel model")
    step = int(read_lightning_file(path).get("global_step") or 0)
    return load_rift_checkpoint(path), step


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"not a readable JSON sidecar: {error}") from None
    if not isinstance(data, dict):
        raise BadInputError(path, "a sidecar must hold a JSON object")
    return data
