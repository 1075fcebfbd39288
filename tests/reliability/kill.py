"""Kill safety: a stage of the real command line is SIGKILLed at seeded random moments, then run again
to completion; every output file must equal (sha256) the output of an uninterrupted run, no
temporary may remain, and the training losses logged after the resume must equal the uninterrupted
run's at the same steps.

Every run of a stage happens at the same path (the reference run's folder is moved aside), since
some reference formats (RVC's filelist.txt) store absolute paths. Logs that grow by appending
(metrics.jsonl) are compared by their last record of each step, not by bytes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from timbrel.core.files import is_temporary, sha256_of

LOGS = ("metrics.jsonl",)


@dataclass
class KillCount:
    stage: str
    kills: int = 0
    identical: int = 0
    differences: list[str] = field(default_factory=list)


def snapshot(folder: Path) -> tuple[dict[str, str], list[str], dict[int, dict]]:
    """-> ({relative file: sha256}, temporaries found, {step: last logged figures})."""
    digests, temporaries, losses = {}, [], {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            continue
        relative = str(path.relative_to(folder))
        if is_temporary(path):
            temporaries.append(relative)
        elif path.name in LOGS:
            for line in path.read_text().splitlines():
                record = json.loads(line)
                losses[record["step"]] = record
        else:
            digests[relative] = sha256_of(path)
    return digests, temporaries, losses


def _command(args: list[object]) -> list[str]:
    return [sys.executable, "-m", "timbrel", *map(str, args)]


# Every run of a stage uses the same thread count: float sums depend on how work is split.
_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_to_end(args: list[object]) -> float:
    start = time.perf_counter()
    result = subprocess.run(_command(args), capture_output=True, text=True, env=_ENV)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - start


def run_and_kill(args: list[object], after_s: float) -> None:
    process = subprocess.Popen(_command(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV)
    try:
        process.wait(timeout=after_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()


def kill_and_resume(
    stage: str,
    work: Path,
    restore: Callable[[], None],
    args: list[object],
    kills: int,
    seed: int,
) -> KillCount:
    """restore(): puts ``work`` back in the state the stage starts from. One uninterrupted run, then
    ``kills`` runs each killed at a seeded moment within the uninterrupted run's duration and
    resumed to the end."""
    restore()
    duration = run_to_end(args)
    expected, leftovers, expected_losses = snapshot(work)
    assert not leftovers, leftovers
    count = KillCount(stage)
    rng = random.Random(seed)
    for _ in range(kills):
        restore()
        run_and_kill(args, rng.uniform(0.0, duration))
        run_to_end(args)
        got, temporaries, losses = snapshot(work)
        count.kills += 1
        problems = [f"temporary left: {t}" for t in temporaries]
        problems += [
            f"differs: {name}"
            for name in sorted(set(got) | set(expected))
            if got.get(name) != expected.get(name)
        ]
        problems += [
            f"loss at step {step} differs: {losses.get(step)} != {figures}"
            for step, figures in expected_losses.items()
            if step in losses and losses[step] != figures
        ]
        if problems:
            count.differences += problems
        else:
            count.identical += 1
    return count


def copy_state(source: Path | None, work: Path) -> Callable[[], None]:
    """A restore() that makes ``work`` a fresh copy of ``source`` (or removes it when source is None)."""

    def restore() -> None:
        if work.exists():
            shutil.rmtree(work)
        if source is not None:
            shutil.copytree(source, work, symlinks=True)

    return restore
