"""RIFT's update rule (spec 4.1-4.3, 5.1): one rectified-flow loss, schedule-free AdamW.

`RIFTTrainTask` implements the TrainTask protocol of `timbrel.models.base`. Its randomness (noise, times,
dropped speakers) is drawn from a generator seeded by (seed, step, shard), where a shard is one
micro-batch of one process: a resumed run, a run split over processes and a run with gradient
accumulation all draw the same numbers for the same data, so they can be compared exactly. The draws
can also be injected (`FlowDraws`).

Schedule-free AdamW keeps two weight sequences; the parameters hold the training ("y") sequence in train
mode and the averaged ("x") sequence in eval mode. As the reference, checkpoints hold the train-mode
weights (they are saved between steps, before validation), and validation uses the averaged weights
(`evaluation()`).
"""

from __future__ import annotations

import contextlib
import copy
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
from timbrel.nn.step_context import StepContext, gradient_norm

TimeSchedule = Literal["lognorm", "uniform"]


@dataclass(frozen=True)
class RIFTTrainSettings:
    """The update rule's settings (the reference's `training` keys that shape a step).

    warmup_steps: the schedule-free warm-up, int(max_steps·warmup_ratio) in the reference.
    max_grad_norm: 0 means no clipping. foreach: the optimizer's multi-tensor kernels (False is the
    per-tensor Python loop; same numbers).
    """

    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 0
    time_schedule: TimeSchedule = "lognorm"
    drop_speaker_probability: float = 0.0
    max_grad_norm: float = 0.0
    freeze_adaln_and_time_embedding: bool = False
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

    context: the run's device, precision, accumulation and data parallelism (timbrel.nn.step_context);
    the forward passes go through `context.wrap(model)` (DistributedDataParallel under torchrun). The
    generic loop calls `step` once per micro-batch; shard = rank·accumulation + micro-step.
    """

    def __init__(
        self,
        model: DiT,
        settings: RIFTTrainSettings = RIFTTrainSettings(),
        seed: int = 0,
        context: StepContext | None = None,
    ):
        self.model = model
        self.settings = settings
        self.seed = seed
        self.context = StepContext() if context is None else context
        if settings.max_grad_norm > 0 and self.context.scaler is not None:
            raise ConfigError("gradient clipping with fp16 loss scaling is not supported; use bf16 or fp32")
        if settings.freeze_adaln_and_time_embedding:
            model.freeze_adaln_and_time_embedding()
        model.train()
        self.network = self.context.wrap(model)
        self.optimizer = schedule_free_adamw(
            model,
            settings.learning_rate,
            settings.weight_decay,
            settings.betas,
            settings.warmup_steps,
            settings.foreach,
        )
        self._window: list[Tensor] = []

    def draws(self, batch: RIFTBatch, step: int, shard: int) -> FlowDraws:
        return draw(batch, self.settings, shard_generator(self.seed, step, shard))

    def objective(
        self, batch: RIFTBatch, draws: FlowDraws, network: nn.Module | None = None
    ) -> tuple[Tensor, Tensor]:
        """-> (loss scalar over valid frames × bins, prediction (b, n, n_mels)) (spec 4.1). network: what
        to run instead of `self.network` (validation runs a bare model)."""
        network = self.network if network is None else network
        mask = batch.mask()
        x1 = flow.normalize_mel(batch.mel)
        x_t = flow.interpolate(draws.x0, x1, draws.t)
        with self.context.autocast():
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
        """One micro-batch as the context says (the loop's call), or a whole window of
        `context.accumulation_steps` micro-batches. `step`: the optimizer step being taken (0 first).
        -> {"train/loss"} after a micro-batch that does not close its window; with "train/grad_norm"
        and the window's mean loss after the optimizer step (of this process's micro-batches)."""
        if isinstance(batch, RIFTBatch):
            return self._micro_step(batch, step, None if draws is None else draws[0])
        batches = list(batch)
        if len(batches) != self.context.accumulation_steps:
            raise ValueError(
                f"a window takes {self.context.accumulation_steps} micro-batches, got {len(batches)}"
            )
        figures: dict[str, float] = {}
        for index, micro in enumerate(batches):
            with self.context.at_micro_step(index, index == len(batches) - 1):
                figures = self._micro_step(micro, step, None if draws is None else draws[index])
        return figures

    def _micro_step(self, batch: RIFTBatch, step: int, draws: FlowDraws | None) -> dict[str, float]:
        context = self.context
        if context.first_micro_step:
            self.optimizer.zero_grad(set_to_none=True)
            self._window = []
        if draws is None:
            shard = context.rank * context.accumulation_steps + context.micro_step
            draws = self.draws(batch, step, shard)
        with context.sync(self.network):
            loss, _ = self.objective(batch, draws)
            context.backward(loss)
        self._window.append(loss.detach())
        if not context.last_micro_step:
            return {"train/loss": float(loss.detach())}
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        if self.settings.max_grad_norm > 0:
            # Logged before clipping, as Lightning's on_before_optimizer_step sees it.
            grad_norm = gradient_norm(parameters)
            torch.nn.utils.clip_grad_norm_(parameters, self.settings.max_grad_norm)
            context.optimizer_step(self.optimizer, parameters)
        else:
            grad_norm = context.optimizer_step(self.optimizer, parameters)
        context.update()
        # This process's share; the loop logs the mean over processes.
        window_loss = torch.stack(self._window).mean()
        return {"train/loss": float(window_loss), "train/grad_norm": float(grad_norm)}

    def averaged_model(self) -> DiT:
        """A copy of the model holding the schedule-free averaged ("x") weights, which validation uses,
        computed as the optimizer's eval() would; the training weights are left untouched (an
        eval()/train() round trip would perturb them by rounding, differently on each process)."""
        model = copy.deepcopy(self.model)
        beta1 = self.settings.betas[0]
        with torch.no_grad():
            for own, averaged in zip(self.model.parameters(), model.parameters(), strict=True):
                state = self.optimizer.state.get(own, {})
                if "z" in state:
                    averaged.lerp_(state["z"], 1 - 1 / beta1)
        return model.eval()

    @contextlib.contextmanager
    def evaluation(self) -> Iterator[DiT]:
        """The averaged-weight model in eval mode (see `averaged_model`)."""
        yield self.averaged_model()

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
