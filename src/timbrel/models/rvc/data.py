"""RVC's training batches: the reference's collate, its length buckets, and the random draws of
each item. Every random draw of a step (segment start, posterior noise, NSF noise) is made per
item from (seed, epoch, item index), so a step is reproducible on its own and data-parallel
training sees the same draws as one process with the whole batch.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from timbrel.models.rvc.config import SynthesizerConfig

MAX_FRAMES = 900
BUCKET_BOUNDARIES = (100, 200, 300, 400, 500, 600, 700, 800, 900)


@dataclass(frozen=True)
class DrawShapes:
    """What one item's random draws look like: inter_channels of the posterior noise, and the
    segment in frames and samples (the NSF noise covers one segment)."""

    inter_channels: int
    segment_frames: int
    segment_samples: int

    @classmethod
    def for_model(cls, config: SynthesizerConfig) -> DrawShapes:
        return cls(
            config.inter_channels, config.segment_frames, config.segment_frames * config.upsample_factor
        )


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The random stream of one item in one epoch: independent of batching, workers and processes."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_033 + index) % (2**63))


def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Items -> a batch sorted by spectrogram length (longest first), zero-padded:
    phone (b, t, dim), phone_lengths, pitch/pitchf (b, t), spec (b, freq, t_spec), spec_lengths,
    wave (b, 1, n), wave_lengths, sid (b,), and the draws when the items have them."""
    order = sorted(range(len(items)), key=lambda i: -items[i]["spec"].shape[-1])
    items = [items[i] for i in order]

    def padded(key: str, length_dim: int) -> tuple[Tensor, Tensor]:
        lengths = torch.tensor([x[key].shape[length_dim] for x in items], dtype=torch.long)
        first = items[0][key]
        shape = list(first.shape)
        shape[length_dim] = int(lengths.max())
        out = first.new_zeros((len(items), *shape))
        for i, x in enumerate(items):
            index = [i] + [slice(None)] * first.dim()
            index[1 + length_dim] = slice(0, x[key].shape[length_dim])
            out[tuple(index)] = x[key]
        return out, lengths

    batch: dict[str, Tensor] = {}
    batch["phone"], batch["phone_lengths"] = padded("phone", 0)
    if "pitch" in items[0]:
        batch["pitch"], _ = padded("pitch", 0)
        batch["pitchf"], _ = padded("pitchf", 0)
    batch["spec"], batch["spec_lengths"] = padded("spec", 1)
    batch["wave"], batch["wave_lengths"] = padded("wave", 1)
    batch["sid"] = torch.stack([x["sid"] for x in items])
    if "slice_rand" in items[0]:
        batch["slice_rand"] = torch.stack([x["slice_rand"] for x in items])
        batch["noise_posterior"], _ = padded("noise_posterior", 1)
        batch["noise_nsf"] = torch.stack([x["noise_nsf"] for x in items])
    return batch


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    boundaries: Sequence[int] = BUCKET_BOUNDARIES,
    shuffle: bool = True,
) -> list[list[int]]:
    """The reference's DistributedBucketSampler: this process's batches (item indices) of one epoch.

    Items go to the bucket (boundaries[i], boundaries[i+1]] of their length (others are dropped);
    each bucket is filled up by repetition to a multiple of batch_size · world_size, shuffled
    with a generator seeded by the epoch, dealt to the processes, cut into batches, and the
    batches shuffled.
    """
    buckets: list[list[int]] = [[] for _ in range(len(boundaries) - 1)]
    for index, length in enumerate(lengths):
        position = bisect.bisect_left(boundaries, length)
        if 0 < position < len(boundaries):
            buckets[position - 1].append(index)
    buckets = [b for b in buckets if b]
    total = batch_size * world_size
    generator = torch.Generator().manual_seed(epoch)
    batches = []
    for bucket in buckets:
        order = (
            torch.randperm(len(bucket), generator=generator).tolist() if shuffle else list(range(len(bucket)))
        )
        missing = (total - len(bucket) % total) % total
        order = order + order * (missing // len(bucket)) + order[: missing % len(bucket)]
        mine = order[rank::world_size]
        batches += [
            [bucket[i] for i in mine[j * batch_size : (j + 1) * batch_size]]
            for j in range(len(mine) // batch_size)
        ]
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches
