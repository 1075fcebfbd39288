"""The saver after a kill: the resumed run calls it again for its checkpoint, and the files come
out as if nothing had happened."""

from __future__ import annotations

import json

import pytest

from timbrel.train.checkpoint import Position
from timbrel.train.loggers import NullLogger
from timbrel.train.saver import BestRule, SaveCadence, Saver


class Killed(BaseException):
    """What SIGKILL does to the rest of the call."""


class Hooks:
    def __init__(self, metrics_by_step: dict[int, float], kill_at_best: int | None = None):
        self.metrics_by_step, self.kill_at_best = metrics_by_step, kill_at_best
        self.step = 0
        self.exports: list[int] = []
        self.best_exports: list[int] = []

    def export(self, position: Position) -> None:
        self.step = position.step
        self.exports.append(position.step)

    def validate(self) -> dict[str, float]:
        return {"mcd_db": self.metrics_by_step[self.step]}

    def export_best(self, position: Position, metrics: dict[str, float]) -> None:
        if position.step == self.kill_at_best:
            raise Killed
        self.best_exports.append(position.step)


def saver(hooks: Hooks, folder) -> Saver:
    rule = BestRule("mcd_db", lower_is_better=True, history_file=folder / "validation.json")
    return Saver(hooks, SaveCadence(), rule, NullLogger(), "validation")


@pytest.mark.parametrize("kill_at", [2, 3])
def test_a_kill_between_the_records_and_the_best_export_is_made_good_on_resume(tmp_path, kill_at):
    metrics = {1: 9.0, 2: 7.0, 3: 5.0, 4: 6.0}
    uninterrupted = Hooks(metrics)
    reference = saver(uninterrupted, tmp_path / "a")
    for step in metrics:
        reference(Position(step))

    (tmp_path / "b").mkdir()
    killed = Hooks(metrics, kill_at_best=kill_at)
    first = saver(killed, tmp_path / "b")
    with pytest.raises(Killed):
        for step in metrics:
            first(Position(step))
    resumed_hooks = Hooks(metrics)
    resumed = saver(resumed_hooks, tmp_path / "b")
    for step in range(kill_at, max(metrics) + 1):  # fit calls it again for the checkpoint's step
        resumed(Position(step))

    history = json.loads((tmp_path / "b" / "validation.json").read_text())
    assert history == json.loads((tmp_path / "a" / "validation.json").read_text())
    assert [row["step"] for row in history] == sorted(metrics)
    assert killed.best_exports + resumed_hooks.best_exports == uninterrupted.best_exports
    assert resumed.best == reference.best == (5.0, 3)
