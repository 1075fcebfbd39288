"""What the loop iterates: a dataset, this process's batches of each epoch, and a collate function.

Batches are lists of item indices fixed per epoch, so a resumed run skips exactly the batches
it had done and data-parallel processes each take their share of every global batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

Batches = Callable[[int, int, int], Sequence[Sequence[int]]]  # (epoch, rank, world_size) -> batches


@dataclass(frozen=True)
class TrainData:
    """dataset: indexable; batches(epoch, rank, world_size): this process's batches of the epoch;
    collate: items -> batch. A dataset with ``set_epoch`` is told the epoch before it is read."""

    dataset: Any
    batches: Batches
    collate: Callable[[list[Any]], Any]


def shuffled_batches(n_items: int, batch_size: int, seed: int = 0, drop_last: bool = True) -> Batches:
    """DistributedSampler's split: a permutation per epoch (seeded by seed + epoch), padded by
    repetition to a multiple of world_size, dealt round-robin, cut into batches."""

    def batches(epoch: int, rank: int, world_size: int) -> list[list[int]]:
        order = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
        order += order[: (-len(order)) % world_size]
        mine = order[rank::world_size]
        count = len(mine) // batch_size if drop_last else -(-len(mine) // batch_size)
        return [mine[i * batch_size : (i + 1) * batch_size] for i in range(count)]

    return batches


def to_device(batch: Any, device: torch.device) -> Any:
    """Tensors inside dicts, lists and tuples moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
