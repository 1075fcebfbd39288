"""RIFT's update rule (spec 4.1-4.3, 5.1): one rectified-flow loss, schedule-free AdamW.

`RIFTTrainTask` implements the TrainTask protocol of `timbrel.models.base`. Its randomness (noise, times,
dropped speakers) is drawn from a generator seeded by (seed, step, shard), where a shard is one
micro-batch of one process: a resumed run, a run split over processes and a run with gradient
accumulation all draw the same numbers for the same data, so they can be compared exactly. The draws
can also be injected (`FlowDraws`).

Schedule-free AdamW keeps two weight sequences; the parameters hold the training ("y") sequence in train
mode and the averaged ("x") sequence in eval mode. As the reference, checkpoints hold the train-mode
weights (they are saved between steps, before validation), and validation runs in eval mode
(`evaluation()`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from timbrel.core.errors import ConfigError
from timbrel.models.rift import flow
from timbrel.models.rift.data import RIFTBatch
from timbrel.models.rift.dit import DiT
from timbrel.models.rift.optim import schedule_free_adamw

TimeSchedule = Literal["lognorm", "uniform"]
Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class RIFTTrainSettings:
    """The update rule's settings (the reference's `training` keys that shape a step).

    warmup_steps: the schedule-free warm-up, int(max_steps·warmup_ratio) in the reference.
    max_grad_norm: 0 means no clipping. foreach: the optimizer's multi-tensor kernels (False is the
    per-tensor Python loop; same numbers). precision: bf16 autocast (the reference on GPUs) or fp32.
    """

    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 0
    time_schedule: TimeSchedule = "lognorm"
    drop_speaker_probability: float = 0.0
    max_grad_norm: float = 0.0
    freeze_adaln_and_time_embedding: bool = False
    precision: Precision = "fp32"
    foreach: bool = True

    def __post_init__(self) -> None:
        if self.time_schedule not in ("lognorm", "uniform"):
            raise ConfigError(f"time_schedule {self.time_schedule!r}; allowed: ['lognorm', 'uniform']")
        if not 0.0 <= self.drop_speaker_probability <= 1.0:
            raise ConfigError(
                f"drop_speaker_probability must be in [0, 1], got {self.drop_speaker_probability}"
            )
        if self.max_grad_norm < 0:
            raise ConfigError(f"max_grad_norm must be ≥ 0 (0: no clipping), got {self.max_grad_norm}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision {self.precision!r}; allowed: ['fp32', 'bf16']")


@dataclass(frozen=True)
class FlowDraws:
    """The randomness of one training batch: x0: (b, n, n_mels) noise (time 0), t: (b,) times,
    drop_speaker: (b,) bool."""

    x0: Tensor
    t: Tensor
    drop_speaker: Tensor


def sample_times(batch: int, schedule: TimeSchedule, generator: torch.Generator | None = None) -> Tensor:
    """(batch,) training times on the CPU: stratified logit-normal or uniform (spec 4.2)."""
    uniforms = torch.rand(batch, generator=generator)
    return flow.logit_normal_times(uniforms) if schedule == "lognorm" else uniforms


def shard_generator(seed: int, step: int, shard: int) -> torch.Generator:
    """A CPU generator for one micro-batch, a pure function of (seed, step, shard)."""
    digest = hashlib.blake2b(f"rift/{seed}/{step}/{shard}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def draw(batch: RIFTBatch, settings: RIFTTrainSettings, generator: torch.Generator) -> FlowDraws:
    """Times, then noise, then dropped speakers, drawn on the CPU (the same numbers on every device)."""
    b, n, n_mels = batch.mel.shape
    t = sample_times(b, settings.time_schedule, generator)
    x0 = torch.randn(b, n, n_mels, generator=generator)
    drop = flow.speaker_dropout(b, settings.drop_speaker_probability, generator)
    device = batch.mel.device
    return FlowDraws(x0.to(device), t.to(device), drop.to(device))


def masked_mse(prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """flow.flow_matching_loss without gathering the valid frames: the squared error weighted by the
    (b, n) mask, summed, over the number of valid elements."""
    error = (prediction - target).square().sum(-1)
    return (error * mask).sum() / (mask.sum() * prediction.shape[-1])


class RIFTTrainTask:
    """The RIFT TrainTask: model (a DiT, trained in place), its schedule-free optimizer and the loss.

    network: what the forward pass goes through (the DiT, or a DistributedDataParallel wrapping it).
    shard_offset: this process's first shard number (rank · micro-batches per step under DDP).
    """

    def __init__(
        self,
        model: DiT,
        settings: RIFTTrainSettings = RIFTTrainSettings(),
        seed: int = 0,
        network: nn.Module | None = None,
        shard_offset: int = 0,
    ):
        self.model = model
        self.settings = settings
        self.seed = seed
        self.network = model if network is None else network
        self.shard_offset = shard_offset
        if settings.freeze_adaln_and_time_embedding:
            model.freeze_adaln_and_time_embedding()
        model.train()
        self.optimizer = schedule_free_adamw(
            model,
            settings.learning_rate,
            settings.weight_decay,
            settings.betas,
            settings.warmup_steps,
            settings.foreach,
        )

    def draws(self, batch: RIFTBatch, step: int, shard: int = 0) -> FlowDraws:
        return draw(batch, self.settings, shard_generator(self.seed, step, self.shard_offset + shard))

    def objective(
        self, batch: RIFTBatch, draws: FlowDraws, network: nn.Module | None = None
    ) -> tuple[Tensor, Tensor]:
        """-> (loss scalar over valid frames × bins, prediction (b, n, n_mels)) (spec 4.1). network: what
        to run instead of `self.network` (validation runs the bare model)."""
        network = self.network if network is None else network
        mask = batch.mask()
        x1 = flow.normalize_mel(batch.mel)
        x_t = flow.interpolate(draws.x0, x1, draws.t)
        with torch.autocast(
            batch.mel.device.type, dtype=torch.bfloat16, enabled=self.settings.precision == "bf16"
        ):
            prediction = network(
                x_t,
                batch.speaker,
                batch.f0_hz,
                batch.rms,
                batch.content,
                draws.t,
                draws.drop_speaker,
                mask,
            )
        prediction = prediction.float()
        return masked_mse(prediction, flow.target_velocity(draws.x0, x1), mask), prediction

    def step(
        self,
        batch: RIFTBatch | Sequence[RIFTBatch],
        step: int,
        draws: Sequence[FlowDraws] | None = None,
    ) -> dict[str, float]:
        """One optimizer step over one batch or several micro-batches (gradient accumulation: each
        micro-batch's loss counts 1/k, as Lightning's accumulate_grad_batches) -> {"loss", "grad_norm"}.
        `step` is the optimizer step about to be taken (0 for the first)."""
        batches = [batch] if isinstance(batch, RIFTBatch) else list(batch)
        if not batches:
            raise ValueError("step needs at least one batch")
        self.optimizer.zero_grad(set_to_none=True)
        losses = []
        for index, micro in enumerate(batches):
            sync = index == len(batches) - 1 or not hasattr(self.network, "no_sync")
            context = contextlib.nullcontext() if sync else self.network.no_sync()
            with context:
                micro_draws = self.draws(micro, step, index) if draws is None else draws[index]
                loss, _ = self.objective(micro, micro_draws)
                (loss / len(batches)).backward()
            losses.append(loss.detach())
        grad_norm = self._grad_norm()
        self.optimizer.step()
        return {"loss": float(torch.stack(losses).mean()), "grad_norm": float(grad_norm)}

    def _grad_norm(self) -> Tensor:
        """L2 norm over all gradients before the step; clips them when max_grad_norm > 0."""
        grads = [p for p in self.model.parameters() if p.grad is not None]
        if self.settings.max_grad_norm > 0:
            return torch.nn.utils.clip_grad_norm_(grads, self.settings.max_grad_norm)
        if not grads:
            return torch.zeros(())
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.grad for p in grads])))

    @contextlib.contextmanager
    def evaluation(self) -> Iterator[DiT]:
        """The model with the schedule-free averaged weights, in eval mode; train mode is restored after."""
        self.optimizer.eval()
        self.model.eval()
        try:
            yield self.model
        finally:
            self.model.train()
            self.optimizer.train()

    def state_dict(self) -> dict[str, Any]:
        """Train-mode weights and the optimizer state; the draws need no state (see the module doc)."""
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        # A state saved in eval mode holds the averaged weights: back to the training sequence.
        self.optimizer.train()
