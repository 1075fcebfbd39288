"""Setting up a run: the process group under torchrun, the device, the precision, the seed."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist

from timbrel.core.errors import ConfigError
from timbrel.nn.step_context import StepContext


@dataclass(frozen=True)
class RunConfig:
    """device: "auto" (the process's GPU when there is one, else CPU), "cpu", "cuda" or "cuda:N".
    precision: fp32; on GPU also fp16 (with a GradScaler) or bf16. seed: torch, numpy and
    Python's generators start from it (as the reference's torch.manual_seed(1234))."""

    device: str = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    accumulation_steps: int = 1
    seed: int = 1234


def start_run(config: RunConfig = RunConfig()) -> StepContext:
    """The context of this process. Under torchrun (WORLD_SIZE > 1) it joins the process group:
    nccl on GPU, gloo on CPU; each process takes the GPU of its LOCAL_RANK."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(config.device, local_rank)
    if config.precision != "fp32" and device.type != "cuda":
        raise ConfigError(f"precision {config.precision!r} needs a GPU; on {device.type} train in fp32")
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    return StepContext(
        device=device,
        precision=config.precision,
        accumulation_steps=config.accumulation_steps,
        world_size=world_size,
        rank=rank,
    )


def finish_run(context: StepContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: StepContext) -> None:
    if context.distributed:
        dist.barrier()


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: this torch build sees no GPU")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
