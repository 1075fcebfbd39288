"""RIFT from the files RIFT-SVC uses (spec rift.md section 0): a complete voice (the DiT checkpoint, the
content-vec-best folder, RMVPE's model.pt and the NSF-HiFiGAN release folder), and the feature models
that training-feature extraction needs."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from timbrel.core.errors import BadInputError
from timbrel.core.files import write_text_atomic
from timbrel.features.extract_rift import FEATURES, RIFTFeatureModels
from timbrel.features.pitch.f0_stats import F0Stats
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.models.registry import WeightPaths
from timbrel.models.rift.pipeline import RIFTVoice
from timbrel.weights.bundle import BundleContents
from timbrel.weights.cache import find_weight
from timbrel.weights.hubert import load_contentvec
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import RiftCheckpoint, load_rift_checkpoint
from timbrel.weights.rmvpe import load_rmvpe
from timbrel.weights.rvc import SIDECAR_FORMAT_VERSION, read_sidecar, sidecar_path
from timbrel.weights.voice_bundle import rift_checkpoint


def load_rift_voice(
    checkpoint: str | Path | RiftCheckpoint,
    contentvec_dir: str | Path | None = None,
    rmvpe_path: str | Path | None = None,
    vocoder_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    f0_stats: Mapping[str, F0Stats] | None = None,
) -> RIFTVoice:
    """checkpoint: a RIFT-SVC `.ckpt` (or one already read); contentvec_dir:
    `pretrained/content-vec-best/`; rmvpe_path:
    `pretrained/rmvpe/model.pt` (or RVC's rmvpe.pt: the same network); vocoder_dir: the NSF-HiFiGAN folder
    (model.ckpt + config.json) or its model.ckpt. A module given as None is taken from Timbrel's weight
    cache (timbrel.weights.cache). Every model computes in float32 on `device`, in eval mode. The speakers' f0
    statistics (for auto_key) are `f0_stats`, else those of the sidecar beside a checkpoint file."""
    if isinstance(checkpoint, RiftCheckpoint):
        dit = checkpoint
    else:
        dit = load_rift_checkpoint(checkpoint)
        f0_stats = f0_stats if f0_stats is not None else read_speaker_f0_stats(checkpoint)
    # float16 convolutions: 180 MB less beside the DiT for ~10 ms a slice (long songs stay under 2 GB)
    rmvpe = load_rmvpe(find_weight("rmvpe", rmvpe_path), float16_convolutions=True)
    return RIFTVoice(
        dit.model.to(device),
        dit.speakers,
        load_nsf_hifigan(find_weight("nsf-hifigan", vocoder_dir)).to(device),
        load_contentvec(find_weight("contentvec", contentvec_dir)).to(device),
        RmvpeExtractor(rmvpe.to(device), RmvpeConfig.rift()),
        f0_stats,
    )


def write_speaker_f0_stats(
    model_path: str | Path, speakers: Mapping[str, int], stats: Mapping[str, F0Stats]
) -> Path:
    """The sidecar `<model>.timbrel.json` of a RIFT model, atomically: ``{"family": "rift",
    "format_version": 1, "speakers": [names by id], "speaker_f0_hz": {name: {"median": Hz,
    "quantiles": {...}, "voiced_frames": n}}}`` (speakers without statistics left out); other keys
    already there are kept."""
    path = sidecar_path(model_path)
    data = read_sidecar(path, family="rift") if path.is_file() else {}
    data.update(
        family="rift",
        format_version=SIDECAR_FORMAT_VERSION,
        speakers=sorted(speakers, key=speakers.__getitem__),
        speaker_f0_hz={name: stats[name].to_dict() for name in sorted(stats, key=speakers.__getitem__)},
    )
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def read_speaker_f0_stats(model_path: str | Path) -> dict[str, F0Stats] | None:
    """The speakers' f0 statistics from a RIFT model's sidecar, or None without them."""
    path = sidecar_path(model_path)
    return speaker_f0_stats_from_sidecar(read_sidecar(path, family="rift"), path) if path.is_file() else None


def speaker_f0_stats_from_sidecar(data: Mapping[str, Any], where: Path) -> dict[str, F0Stats] | None:
    """A parsed sidecar's ``speaker_f0_hz`` (None without one); `where` names it in errors."""
    if "speaker_f0_hz" not in data:
        return None
    try:
        return {str(name): F0Stats.from_dict(entry) for name, entry in data["speaker_f0_hz"].items()}
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise BadInputError(where, f"bad speaker_f0_hz entry: {error}") from None


def load_rift_feature_models(
    contentvec_dir: str | Path | None = None,
    rmvpe_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    features: Collection[str] = FEATURES,
) -> RIFTFeatureModels:
    """The models `timbrel.features.extract_rift` needs for `features` (cvec: ContentVec, f0: RMVPE), from
    the given paths or Timbrel's weight cache; float32 on `device`, in eval mode."""
    content = rmvpe = None
    if "cvec" in features:
        content = load_contentvec(find_weight("contentvec", contentvec_dir)).to(device).eval()
    if "f0" in features:
        rmvpe = RmvpeExtractor(load_rmvpe(find_weight("rmvpe", rmvpe_path)).to(device), RmvpeConfig.rift())
    return RIFTFeatureModels(content_model=content, rmvpe=rmvpe)


def load_voice(source: Path | BundleContents, weights: WeightPaths, device: torch.device) -> RIFTVoice:
    """A RIFT-SVC .ckpt or a verified bundle -> its voice on ``device`` (the registry's loader)."""
    if isinstance(source, BundleContents):
        stats = speaker_f0_stats_from_sidecar(source.sidecar or {}, source.path)
        return load_rift_voice(
            rift_checkpoint(source), weights.contentvec, weights.rmvpe, weights.vocoder, device, stats
        )
    return load_rift_voice(source, weights.contentvec, weights.rmvpe, weights.vocoder, device=device)


def export_onnx(
    source: Path | BundleContents, output_dir: Path, name: str, vocoder: str | Path | None
) -> list[Path]:
    """The velocity network -> ``output_dir/<name>.dit.onnx`` and, with ``vocoder`` (an
    NSF-HiFiGAN folder), ``output_dir/nsf_hifigan.onnx``."""
    from timbrel.weights import onnx_graphs

    bundled = isinstance(source, BundleContents)
    rift = rift_checkpoint(source) if bundled else load_rift_checkpoint(source)
    path = source.path if bundled else source
    written = [onnx_graphs.export_rift_dit(rift.model, output_dir / f"{name}.dit.onnx", path, rift.speakers)]
    if vocoder is not None:
        network = load_nsf_hifigan(vocoder)
        written.append(onnx_graphs.export_nsf_hifigan(network, output_dir / "nsf_hifigan.onnx", vocoder))
    return written
