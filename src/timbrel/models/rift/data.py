"""RIFT training data (spec 2.5): utterance features -> cropped items -> zero-padded batches.

An utterance's features are the four files of spec 2.6 (read by `timbrel.weights.rift_features`);
the content vector (2n frames at 100 Hz) is aligned to the T mel frames, then a training item is
cropped to at most `max_frames` frames at a random start that avoids mostly-unvoiced segments, and a
held-out item keeps its first `max_frames` frames. Crops are drawn from a generator seeded by
(seed, epoch, item), so an epoch's data is the same whichever process or resumed run reads it. The
sampler (step_batches) deals an epoch's items to the processes and micro-batches of each step.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from timbrel.core.errors import ConfigError
from timbrel.features.content.contentvec import align_to_frames
from timbrel.models.rift.flow import lens_to_mask

CROP_TRIES = 10
MAX_UNVOICED_FRACTION = 0.9


@dataclass(frozen=True)
class UtteranceFeatures:
    """One utterance as stored: mel (1, n_mels, T) natural-log, rms (1, T), f0_hz (T,), content (2n, d)."""

    mel: Tensor
    rms: Tensor
    f0_hz: Tensor
    content: Tensor


@dataclass(frozen=True)
class RIFTItem:
    """speaker: index; mel: (T, n_mels); rms, f0_hz: (T,); content: (T, d), aligned to the mel frames."""

    speaker: int
    mel: Tensor
    rms: Tensor
    f0_hz: Tensor
    content: Tensor

    @property
    def n_frames(self) -> int:
        return self.mel.shape[0]


@dataclass(frozen=True)
class RIFTBatch:
    """speaker: (b,) long; mel: (b, n, n_mels); rms, f0_hz: (b, n); content: (b, n, d); frame_lengths:
    (b,) long. Frames at or past an item's length are zero."""

    speaker: Tensor
    mel: Tensor
    rms: Tensor
    f0_hz: Tensor
    content: Tensor
    frame_lengths: Tensor

    @property
    def size(self) -> int:
        return self.speaker.shape[0]

    def mask(self) -> Tensor:
        """(b, n) bool, True = valid frame."""
        return lens_to_mask(self.frame_lengths, self.mel.shape[1])

    def to(self, device: torch.device | str) -> RIFTBatch:
        return RIFTBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def crop_start(f0_hz: Tensor, max_frames: int, rng: random.Random | None) -> int:
    """Where a crop of `max_frames` starts: 0 if the utterance fits or for held-out items (rng None);
    else the first of up to 10 uniform draws whose segment is less than 90% unvoiced, or the last draw."""
    n_frames = f0_hz.shape[0]
    if n_frames <= max_frames or rng is None:
        return 0
    start = 0
    for _ in range(CROP_TRIES):
        start = rng.randint(0, n_frames - max_frames)
        unvoiced = (f0_hz[start : start + max_frames] == 0).float().mean().item()
        if unvoiced < MAX_UNVOICED_FRACTION:
            break
    return start


def make_item(
    speaker: int, features: UtteranceFeatures, max_frames: int, rng: random.Random | None
) -> RIFTItem:
    """Stored features -> one (cropped) item; rng None keeps the first `max_frames` frames."""
    mel = features.mel.squeeze(0).transpose(0, 1)
    n_frames = mel.shape[0]
    rms = features.rms.reshape(-1)
    f0_hz = features.f0_hz.reshape(-1)
    if rms.shape[0] != n_frames or f0_hz.shape[0] != n_frames:
        raise ValueError(
            f"feature frame counts disagree: mel {n_frames}, rms {rms.shape[0]}, f0 {f0_hz.shape[0]}"
        )
    content = align_to_frames(features.content.float(), n_frames)
    start = crop_start(f0_hz, max_frames, rng)
    stop = start + max_frames
    return RIFTItem(speaker, mel[start:stop], rms[start:stop], f0_hz[start:stop], content[start:stop])


def collate(items: Sequence[RIFTItem]) -> RIFTBatch:
    """Zero-pad every field to the longest item."""

    def pad(name: str) -> Tensor:
        return pad_sequence([getattr(item, name).float() for item in items], batch_first=True)

    return RIFTBatch(
        speaker=torch.tensor([item.speaker for item in items], dtype=torch.long),
        mel=pad("mel"),
        rms=pad("rms"),
        f0_hz=pad("f0_hz"),
        content=pad("content"),
        frame_lengths=torch.tensor([item.n_frames for item in items], dtype=torch.long),
    )


class RIFTSegments(torch.utils.data.Dataset):
    """Items of one split. entries: (speaker index, wav path); load: wav path -> its stored features;
    train: random crops (else the first `max_frames` frames). An item is asked for by (epoch, index), or
    by index for the epoch last given to `set_epoch` (0 at first)."""

    def __init__(
        self,
        entries: Sequence[tuple[int, Path]],
        load: Callable[[Path], UtteranceFeatures],
        max_frames: int,
        train: bool,
        seed: int = 0,
    ):
        if max_frames < 1:
            raise ConfigError(f"max_frames must be positive, got {max_frames!r}")
        self.entries = list(entries)
        self.load = load
        self.max_frames = max_frames
        self.train = train
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key: int | tuple[int, int]) -> RIFTItem:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        speaker, wav = self.entries[index]
        rng = random.Random(f"{self.seed}/{epoch}/{index}") if self.train else None
        return make_item(speaker, self.load(wav), self.max_frames, rng)


def step_batches(n_items: int, batch_size: int, accumulation: int, seed: int):
    """The loop's batches(epoch, rank, world_size): this process's micro-batches of the epoch, in order.

    Each optimizer step takes world·accumulation micro-batches of consecutive items of a per-epoch
    permutation; shard s = rank·accumulation + i is process `rank`'s i-th micro-batch of the step. The
    tail that fills no step is dropped (drop_last)."""

    def batches(epoch: int, rank: int, world_size: int) -> list[list[int]]:
        shards = world_size * accumulation
        steps = n_items // (batch_size * shards)
        digest = hashlib.blake2b(f"rift-order/{seed}/{epoch}".encode(), digest_size=8).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
        order = torch.randperm(n_items, generator=generator).tolist()
        mine = []
        for step in range(steps):
            first = step * batch_size * shards
            for shard in range(rank * accumulation, (rank + 1) * accumulation):
                start = first + shard * batch_size
                mine.append(order[start : start + batch_size])
        return mine

    return batches
