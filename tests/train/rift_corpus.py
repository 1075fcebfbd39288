"""A small RIFT training set: synthetic singing -> RIFT preparation -> features from tiny random
ContentVec and RMVPE networks built here (no weights needed)."""

from __future__ import annotations

from pathlib import Path

import torch

from timbrel.audio.synthesis import make_corpus
from timbrel.dataset.prepare import prepare_rift_folder
from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.extract_rift import RIFTExtractConfig, RIFTFeatureModels, extract_rift_features
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig

CONTENT_DIM = HubertConfig.tiny().hidden_size


def build_corpus(root: Path, seconds_per_singer: float = 9.0, recording_s: float = 1.0) -> Path:
    """-> the prepared data folder (2 singers, one held-out recording each), features extracted."""
    raw = root / "raw"
    make_corpus(raw, seconds_per_singer, recording_s=recording_s, seed=3)
    data_dir = root / "data"
    split = SplitConfig(split_type="stratified", num_test_per_speaker=1, seed=1)
    report = prepare_rift_folder(raw, data_dir, RIFTPrepareConfig(), split, workers=1, show_progress=False)
    assert report.usable
    torch.manual_seed(0)
    models = RIFTFeatureModels(
        content_model=HubertModel(HubertConfig.tiny()).eval(),
        rmvpe=RmvpeExtractor(
            E2E(E2EConfig(n_blocks=1, inter_layers=1, en_out_channels=2, n_gru=0)), RmvpeConfig.rift()
        ),
    )
    outcomes = extract_rift_features(data_dir, models, RIFTExtractConfig())
    assert all(o.status == "done" for o in outcomes), [o.reason for o in outcomes if o.status != "done"]
    return data_dir
