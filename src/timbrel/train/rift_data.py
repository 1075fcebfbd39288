"""RIFT's training set on disk: the splits of meta_info.json as datasets of stored utterance features
(timbrel.dataset.rift holds the folder's layout, timbrel.weights.rift_features the feature files)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from timbrel.dataset.rift import read_meta_info, split_entries
from timbrel.models.rift.data import RIFTBatch, RIFTSegments, collate
from timbrel.train.rift_config import RIFTTrainConfig
from timbrel.weights.rift_features import load_utterance_features


@dataclass(frozen=True)
class RIFTSplits:
    """speakers: name -> index (meta_info.json's order); train: random crops; test: first frames."""

    speakers: dict[str, int]
    train: RIFTSegments
    test: RIFTSegments


def read_splits(config: RIFTTrainConfig) -> RIFTSplits:
    meta = read_meta_info(config.dataset.meta_info)
    data_dir, max_frames = config.dataset.data_dir, config.dataset.max_frame_len
    train = RIFTSegments(
        split_entries(data_dir, meta, "train"),
        load_utterance_features,
        max_frames,
        train=True,
        seed=config.seed,
    )
    test = RIFTSegments(
        split_entries(data_dir, meta, "test"), load_utterance_features, max_frames, train=False
    )
    return RIFTSplits(meta.speaker_ids, train, test)


def held_out_batches(
    test_set: RIFTSegments, max_items: int, batch_size: int, device: torch.device
) -> list[RIFTBatch]:
    """The first ``max_items`` held-out items (0 = all) in batches of ``batch_size`` on ``device``."""
    indices = list(range(len(test_set)))[: max_items or None]
    return [
        collate([test_set[i] for i in indices[k : k + batch_size]]).to(device)
        for k in range(0, len(indices), batch_size)
    ]
