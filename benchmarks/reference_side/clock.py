"""Stage timing from outside a pipeline, used alike on both sides (no timbrel import here)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import torch


class StageClock:
    """Seconds by stage: each boundary event closes the stage that began at the previous one.
    ``meter`` replaces the wall clock, e.g. a FLOP counter's running total, to split that instead."""

    def __init__(self, meter: Callable[[], float] = time.perf_counter) -> None:
        self.meter = meter
        self.seconds: dict[str, float] = defaultdict(float)
        self.mark = meter()

    def restart(self) -> None:
        self.seconds.clear()
        self.mark = self.meter()

    def begin(self) -> None:
        """A stage starts now (the time since the last boundary goes to no stage)."""
        self.mark = self.meter()

    def close(self, stage: str) -> None:
        now = self.meter()
        self.seconds[stage] += now - self.mark
        self.mark = now

    def time_module(self, stage: str, module: torch.nn.Module) -> None:
        """Adds the module's forward time to ``stage`` (the time before it goes to no stage)."""
        module.register_forward_pre_hook(lambda *_: self.begin())
        module.register_forward_hook(lambda *_: self.close(stage))

    def time_training_step(
        self,
        discriminator: torch.nn.Module,
        optimizer_d: torch.optim.Optimizer,
        optimizer_g: torch.optim.Optimizer,
    ) -> list:
        """A GAN step in RVC's order: G forward | D forward, backward, step | D on the generated
        audio again for G's loss | G backward, step. The discriminator's odd calls start its step,
        its even calls are the generator's loss. Returns the hooks' handles."""
        calls = [0]

        def before(*_) -> None:
            calls[0] += 1
            if calls[0] % 2:
                self.close("G forward")

        def after(*_) -> None:
            if not calls[0] % 2:
                self.close("G loss through D")

        return [
            discriminator.register_forward_pre_hook(before),
            discriminator.register_forward_hook(after),
            optimizer_d.register_step_post_hook(lambda *_: self.close("D forward+backward+step")),
            optimizer_g.register_step_post_hook(lambda *_: self.close("G backward+step")),
        ]
