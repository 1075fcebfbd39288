"""The small interface every model family implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from timbrel.core.audio import Audio


@dataclass(frozen=True)
class MemoryFallback:
    """What to retry a conversion with after the device ran out of memory.

    options: the same conversion with a smaller chunk or batch, None when nothing smaller exists;
    change: what changed ("batch_size 8 -> 4"); setting: what the user lowers when even that fails.
    """

    options: Any | None
    change: str
    setting: str


@runtime_checkable
class VoiceModel(Protocol):
    """A loaded voice model ready to convert.

    family: "rvc" or "rift"; sample_rate: the rate of what ``convert`` returns;
    speakers: the names of the voices the model holds, in id order.
    """

    family: str
    sample_rate: int
    speakers: tuple[str, ...]

    def convert(self, audio: Audio, options: Any) -> Audio:
        """audio: any rate and channel count -> the converted voice, mono at ``sample_rate``."""
        ...

    def less_memory(self, options: Any) -> MemoryFallback:
        """The options to retry with after an out-of-memory error."""
        ...


class TrainTask(Protocol):
    """A family's update rule. It owns its networks' optimizers (RVC: alternating discriminator
    and generator steps; RIFT: one flow-matching loss); the generic loop in timbrel.train owns
    data, devices, precision, accumulation, checkpoints, logging and DDP.

    Optional: ``end_epoch(epoch)`` (per-epoch schedules) and ``media()`` (images and audio to log);
    the loop calls them when a task has them."""

    def step(self, batch: Any, step: int) -> dict[str, float]:
        """One optimisation step on ``batch`` -> the losses and figures to log."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
