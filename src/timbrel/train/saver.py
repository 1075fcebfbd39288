"""What happens after each checkpoint, for both families (rank 0): export the voice model at export
steps, validate at validation steps, log the figures, and export the best model when its metric
improves. A family supplies the exports and the validation (SaverHooks); the cadence, the best
tracking and its records, written atomically, are the same for both.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from timbrel.core.files import write_text_atomic
from timbrel.train.checkpoint import Position
from timbrel.train.loggers import Logger


class SaverHooks(Protocol):
    def export(self, position: Position) -> None:
        """The voice model of an export step."""
        ...

    def validate(self) -> dict[str, float] | None:
        """Held-out metrics of the current model; None when nothing is held out."""
        ...

    def export_best(self, position: Position, metrics: dict[str, float]) -> None:
        """The voice model that just beat the best metric."""
        ...


@dataclass(frozen=True)
class SaveCadence:
    """Export and validate at multiples of their step counts and at the final step (None: never
    a final step of its own)."""

    export_every_steps: int = 1
    validate_every_steps: int = 1
    final_step: int | None = None

    def exports(self, step: int) -> bool:
        return step % self.export_every_steps == 0 or self._final(step)

    def validates(self, step: int) -> bool:
        return step % self.validate_every_steps == 0 or self._final(step)

    def _final(self, step: int) -> bool:
        return self.final_step is not None and step >= self.final_step


@dataclass(frozen=True)
class BestRule:
    """Which metric picks the best model and which way is better. history_file: every validation
    row (``step``, ``epoch``, metrics), from which a resumed run recovers its best; best_file: the
    best alone (``metric``, ``value``, ``step``), recovered when it names the same metric."""

    metric: str
    lower_is_better: bool
    history_file: Path | None = None
    best_file: Path | None = None

    def beats(self, value: float, best: float | None) -> bool:
        """A NaN never wins."""
        if math.isnan(value):
            return False
        if best is None:
            return True
        return value < best if self.lower_is_better else value > best


class Saver:
    """The loop's ``on_save`` (train.loop.fit); calling it twice for a step writes the same files.
    history: the validation rows of the run, the resumed ones first; validations: (step, metrics)
    of this call's; best: (value, step) or None."""

    def __init__(
        self, hooks: SaverHooks, cadence: SaveCadence, rule: BestRule, logger: Logger, log_prefix: str
    ):
        self.hooks, self.cadence, self.rule = hooks, cadence, rule
        self.logger, self.log_prefix = logger, log_prefix
        self.history: list[dict[str, float]] = []
        self.validations: list[tuple[int, dict[str, float]]] = []
        self.best: tuple[float, int] | None = None
        if rule.history_file is not None and rule.history_file.is_file():
            self.history = json.loads(rule.history_file.read_text(encoding="utf-8"))
            for row in self.history:
                self._offer(row, int(row["step"]))
        if rule.best_file is not None and rule.best_file.is_file():
            recorded = json.loads(rule.best_file.read_text())
            if recorded.get("metric") == rule.metric:
                self.best = (recorded["value"], recorded["step"])

    def __call__(self, position: Position) -> None:
        step = position.step
        if self.cadence.exports(step):
            self.hooks.export(position)
        if not self.cadence.validates(step):
            return
        metrics = self.hooks.validate()
        if metrics is None:
            return
        self.validations.append((step, metrics))
        self.logger.scalars({f"{self.log_prefix}/{k}": v for k, v in metrics.items()}, step)
        # a resumed run calls again for its checkpoint's step: its row replaces the killed run's
        self.history = [row for row in self.history if row["step"] != step]
        self.history.append({"step": step, "epoch": position.last_epoch, **metrics})
        if self.rule.history_file is not None:
            write_text_atomic(self.rule.history_file, json.dumps(self.history, indent=1))
        if self._offer(metrics, step):
            self.hooks.export_best(position, metrics)
            if self.rule.best_file is not None:
                record = {"metric": self.rule.metric, "value": self.best[0], "step": step}
                write_text_atomic(self.rule.best_file, json.dumps(record))

    def _offer(self, metrics: dict[str, float], step: int) -> bool:
        """Whether the step's metrics are the best so far (also when the records already name
        this step: a killed run may have recorded it without exporting its model)."""
        value = metrics.get(self.rule.metric)
        if value is None:
            return False
        again = self.best is not None and self.best[1] == step and self.best[0] == value
        if not again and not self.rule.beats(value, self.best and self.best[0]):
            return False
        self.best = (value, step)
        return True
