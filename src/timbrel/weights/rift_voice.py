"""A complete RIFT voice from the files RIFT-SVC uses (spec rift.md section 0): the DiT checkpoint, the
content-vec-best folder, RMVPE's model.pt and the NSF-HiFiGAN release folder."""

from __future__ import annotations

from pathlib import Path

import torch

from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.models.rift.pipeline import RIFTVoice
from timbrel.weights.hubert import load_contentvec
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rmvpe import load_rmvpe


def load_rift_voice(
    checkpoint: str | Path,
    contentvec_dir: str | Path,
    rmvpe_path: str | Path,
    vocoder_dir: str | Path,
    device: str | torch.device = "cpu",
) -> RIFTVoice:
    """checkpoint: a RIFT-SVC `.ckpt`; contentvec_dir: `pretrained/content-vec-best/`; rmvpe_path:
    `pretrained/rmvpe/model.pt`; vocoder_dir: the NSF-HiFiGAN folder (model.ckpt + config.json) or its
    model.ckpt. Every model is float32 on `device`, in eval mode."""
    dit = load_rift_checkpoint(checkpoint)
    rmvpe = RmvpeExtractor(load_rmvpe(rmvpe_path).to(device), RmvpeConfig.rift())
    return RIFTVoice(
        dit.model.to(device),
        dit.speakers,
        load_nsf_hifigan(vocoder_dir).to(device),
        load_contentvec(contentvec_dir).to(device),
        rmvpe,
    )
