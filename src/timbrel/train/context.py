"""Setting up a run: the process group under torchrun, the device, the precision, the seed."""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from timbrel.core import device as devices
from timbrel.nn.step_context import StepContext


@dataclass(frozen=True)
class RunConfig:
    """device: "auto" (the process's GPU when there is one, then MPS, else CPU), "cpu", "cuda",
    "cuda:N" or "mps" (timbrel.core.device). precision: fp32; fp16 (with a GradScaler) on GPUs;
    bf16 where the device has it (CPUs too); "auto" as timbrel.core.device picks. seed: torch,
    numpy and Python's generators start from it (as the reference's torch.manual_seed(1234))."""

    device: str = "auto"
    precision: devices.PrecisionChoice = "fp32"
    accumulation_steps: int = 1
    seed: int = 1234


def start_run(config: RunConfig = RunConfig()) -> StepContext:
    """The context of this process. Under torchrun (WORLD_SIZE > 1) it joins the process group:
    nccl on GPU, gloo on CPU; each process takes the GPU of its LOCAL_RANK."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    placement = devices.resolve(
        config.device, config.precision, local_rank=local_rank, say=_to_stderr if rank == 0 else None
    )
    device = placement.device
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    return StepContext(
        device=device,
        precision=placement.precision,
        accumulation_steps=config.accumulation_steps,
        world_size=world_size,
        rank=rank,
    )


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def finish_run(context: StepContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: StepContext) -> None:
    if context.distributed:
        dist.barrier()
