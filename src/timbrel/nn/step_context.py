"""What a training task needs to know about the run it is part of: device, precision, gradient
accumulation and data parallelism.

The generic training loop (timbrel.train) builds one StepContext and hands it to a family's
TrainTask, which owns its networks and optimizers: the task runs its forward passes inside
``autocast()``, calls ``backward`` and ``optimizer_step`` through the context (GradScaler for
fp16, no-sync for DDP micro-steps) and so never needs to know how the run is set up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from timbrel.core import device as devices


@dataclass
class StepContext:
    """device: where the networks and batches live. precision: fp32, or fp16 (GradScaler) / bf16
    autocast. accumulation_steps: micro-batches per optimizer step; ``micro_step`` (0-based,
    set by the loop) is the current one. world_size/rank: data-parallel processes (1/0 without DDP).
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: devices.Precision = "fp32"
    accumulation_steps: int = 1
    world_size: int = 1
    rank: int = 0
    micro_step: int = 0
    closes_window: bool = True
    scaler: torch.amp.GradScaler | None = None

    def __post_init__(self) -> None:
        if self.precision not in devices.PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {', '.join(devices.PRECISIONS)}")
        if self.accumulation_steps < 1:
            raise ValueError(f"accumulation_steps must be at least 1, got {self.accumulation_steps}")
        if self.precision == "fp16" and self.scaler is None:
            self.scaler = torch.amp.GradScaler(self.device.type)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that saves and logs."""
        return self.rank == 0

    @property
    def first_micro_step(self) -> bool:
        return self.micro_step == 0

    @property
    def last_micro_step(self) -> bool:
        """True when this micro-batch completes an optimizer step (the last of its window, or
        the last of the epoch, which closes a shorter window)."""
        return self.closes_window

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes (a no-op in fp32)."""
        return devices.autocast(self.device, self.precision)

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module on this device, inside DistributedDataParallel when the run has several processes.

        Use the returned module for passes whose gradients must be averaged across processes;
        the module itself stays available for passes that need no synchronisation.
        """
        module.to(self.device)
        if not self.distributed:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)

    def sync(self, wrapped: nn.Module) -> contextlib.AbstractContextManager:
        """Around a backward pass of ``wrapped``: skips DDP's gradient averaging on every micro-step
        but the last of an accumulation window (the gradients accumulate locally until then)."""
        if self.distributed and not self.last_micro_step and hasattr(wrapped, "no_sync"):
            return wrapped.no_sync()
        return contextlib.nullcontext()

    def backward(self, loss: Tensor, inputs: list[Tensor] | None = None) -> None:
        """Backward of ``loss`` divided over the accumulation window, scaled for fp16.

        inputs: only these tensors receive gradients (the others' are not even computed).
        """
        loss = loss / self.accumulation_steps
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward(inputs=inputs)

    def optimizer_step(self, optimizer: torch.optim.Optimizer, parameters: list[Tensor]) -> float:
        """Unscale (fp16), measure the total gradient norm of ``parameters``, step -> that norm.

        The norm is the reference's ``clip_grad_value_(params, None)`` figure: the 2-norm over
        every parameter that has a gradient, accumulated in double precision; nothing is clipped.
        """
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        norm = gradient_norm(parameters)
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()
        return norm

    def update(self) -> None:
        """After every optimizer of a step has stepped: adjust the fp16 loss scale."""
        if self.scaler is not None:
            self.scaler.update()

    @contextlib.contextmanager
    def at_micro_step(self, micro_step: int, closes_window: bool) -> Iterator[StepContext]:
        """Set by the loop around each micro-batch's ``task.step``."""
        self.micro_step, self.closes_window = micro_step, closes_window
        try:
            yield self
        finally:
            self.micro_step, self.closes_window = 0, True


def gradient_norm(parameters: list[Tensor]) -> float:
    """√(Σ ‖grad‖²) over the parameters with gradients, summed as Python floats."""
    total = 0.0
    for p in parameters:
        if p.grad is not None:
            total += p.grad.detach().norm(2).item() ** 2
    return total**0.5
