"""Checkpoints: the family's files for the task state, and beside them the loop's resume state.

A checkpoint at optimizer step S is complete once ``train_state_S.pt`` exists: it is written
last, after the family's files, each file atomically. It holds the position (epoch, batches
done in it), the RNG states of Python, numpy and torch, the GradScaler and whatever part of the
task state the family's files do not hold (its schedulers, for RVC).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from timbrel.core import device as devices
from timbrel.core.files import write_text_atomic
from timbrel.nn.step_context import StepContext
from timbrel.weights.train_state import read_state, write_state

_LOOP_FILE = re.compile(r"^train_state_(\d+)\.pt$")


class TaskStateFormat(Protocol):
    """How a family stores its task's state."""

    def save(self, folder: Path, step: int, epoch: int, state: dict[str, Any]) -> dict[str, Any]:
        """Write the files of step ``step`` -> the part of ``state`` they do not hold."""
        ...

    def load(self, folder: Path, step: int, rest: dict[str, Any]) -> dict[str, Any]:
        """The whole task state of step ``step`` (``rest``: what ``save`` returned)."""
        ...

    def remove(self, folder: Path, step: int) -> None: ...


class WholeTaskState:
    """The default: the whole task state in ``task_<step>.pt``."""

    def save(self, folder: Path, step: int, epoch: int, state: dict[str, Any]) -> dict[str, Any]:
        write_state(folder / f"task_{step}.pt", state)
        return {}

    def load(self, folder: Path, step: int, rest: dict[str, Any]) -> dict[str, Any]:
        return {**read_state(folder / f"task_{step}.pt"), **rest}

    def remove(self, folder: Path, step: int) -> None:
        (folder / f"task_{step}.pt").unlink(missing_ok=True)


@dataclass
class Position:
    """step: optimizer steps done; epoch: the epoch to run (1-based); batch: its batches already done."""

    step: int = 0
    epoch: int = 1
    batch: int = 0

    @property
    def last_epoch(self) -> int:
        """The epoch the last step belonged to (0 before any)."""
        return self.epoch - 1 if self.batch == 0 else self.epoch


_FOLLOWED_UP_FILE = "followed_up.json"


class CheckpointStore:
    def __init__(
        self, folder: str | Path, format: TaskStateFormat | None = None, keep_latest_only: bool = False
    ):
        self.folder = Path(folder)
        self.format = format or WholeTaskState()
        self.keep_latest_only = keep_latest_only

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints in the folder, oldest first."""
        if not self.folder.is_dir():
            return []
        found = (_LOOP_FILE.match(p.name) for p in self.folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def followed_up(self, step: int) -> bool:
        """Whether what follows the checkpoint of ``step`` (the loop's on_save) finished."""
        marker = self.folder / _FOLLOWED_UP_FILE
        return marker.is_file() and json.loads(marker.read_text()).get("step") == step

    def mark_followed_up(self, step: int) -> None:
        write_text_atomic(self.folder / _FOLLOWED_UP_FILE, json.dumps({"step": step}))

    def save(self, task: Any, position: Position, context: StepContext) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        rest = self.format.save(self.folder, position.step, position.last_epoch, task.state_dict())
        state = {
            "step": position.step,
            "epoch": position.epoch,
            "batch": position.batch,
            "rng": capture_rng(),
            "scaler": context.scaler.state_dict() if context.scaler is not None else None,
            "task_rest": rest,
        }
        write_state(self.folder / f"train_state_{position.step}.pt", state)
        if self.keep_latest_only:
            for old in self.steps():
                if old != position.step:
                    self.format.remove(self.folder, old)
                    (self.folder / f"train_state_{old}.pt").unlink(missing_ok=True)

    def resume(self, task: Any, context: StepContext) -> Position | None:
        """Load the newest complete checkpoint into ``task`` and the RNGs -> its position, or None."""
        steps = self.steps()
        if not steps:
            return None
        state = read_state(self.folder / f"train_state_{steps[-1]}.pt")
        task.load_state_dict(self.format.load(self.folder, state["step"], state["task_rest"]))
        if context.scaler is not None and state["scaler"] is not None:
            context.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        return Position(state["step"], state["epoch"], state["batch"])


def capture_rng() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if devices.cuda_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and devices.cuda_available():
        torch.cuda.set_rng_state_all(state["cuda"])
