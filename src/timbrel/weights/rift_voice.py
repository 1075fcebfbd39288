"""RIFT from the files RIFT-SVC uses (spec rift.md section 0): a complete voice (the DiT checkpoint, the
content-vec-best folder, RMVPE's model.pt and the NSF-HiFiGAN release folder), and the feature models
that training-feature extraction needs."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch

from timbrel.features.extract_rift import FEATURES, RIFTFeatureModels
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.models.rift.pipeline import RIFTVoice
from timbrel.weights.cache import find_weight
from timbrel.weights.hubert import load_contentvec
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import RiftCheckpoint, load_rift_checkpoint
from timbrel.weights.rmvpe import load_rmvpe


def load_rift_voice(
    checkpoint: str | Path | RiftCheckpoint,
    contentvec_dir: str | Path | None = None,
    rmvpe_path: str | Path | None = None,
    vocoder_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> RIFTVoice:
    """checkpoint: a RIFT-SVC `.ckpt` (or one already read); contentvec_dir:
    `pretrained/content-vec-best/`; rmvpe_path:
    `pretrained/rmvpe/model.pt` (or RVC's rmvpe.pt: the same network); vocoder_dir: the NSF-HiFiGAN folder
    (model.ckpt + config.json) or its model.ckpt. A module given as None is taken from Timbrel's weight
    cache (timbrel.weights.cache). Every model is float32 on `device`, in eval mode."""
    dit = checkpoint if isinstance(checkpoint, RiftCheckpoint) else load_rift_checkpoint(checkpoint)
    rmvpe = load_rmvpe(find_weight("rmvpe", rmvpe_path))
    return RIFTVoice(
        dit.model.to(device),
        dit.speakers,
        load_nsf_hifigan(find_weight("nsf-hifigan", vocoder_dir)).to(device),
        load_contentvec(find_weight("contentvec", contentvec_dir)).to(device),
        RmvpeExtractor(rmvpe.to(device), RmvpeConfig.rift()),
    )


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
