"""Running one function over many files: worker processes, a progress bar, per-file errors, resume.

A bad file never stops the others: its error becomes a one-line reason in its outcome. Work
that finished is recorded in a ledger (one small JSON file per item, written atomically after
the item's outputs), so a re-run with the same settings skips it and a killed run redoes only
the items it had not finished.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from timbrel.core.errors import TimbrelError
from timbrel.core.files import write_text_atomic

# Starting worker processes costs seconds (a fresh interpreter importing numpy, scipy and
# pyloudnorm); fewer items than this per worker run faster in this process.
MIN_ITEMS_PER_WORKER = 8


@dataclass(frozen=True)
class Outcome:
    """What became of one item. outputs: the files it wrote (relative to the job's output folder)."""

    item: str
    status: str  # "done", "skipped" (already done with the same settings) or "failed"
    reason: str | None = None
    outputs: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def settings_digest(settings: Any) -> str:
    """A stable digest of JSON-ready settings."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def source_signature(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class Ledger:
    """Records finished items under ``folder``; an entry matches only for the same source and settings."""

    def __init__(self, folder: Path, settings: Any):
        self.folder = Path(folder)
        self.digest = settings_digest(settings)

    def _entry_path(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha1(key.encode('utf-8')).hexdigest()}.json"

    def lookup(self, key: str, source: Path) -> dict[str, Any] | None:
        """The recorded entry if ``key`` was finished from this very source with these settings."""
        path = self._entry_path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        try:
            signature = source_signature(source)
        except OSError:
            return None
        if entry.get("settings") != self.digest or entry.get("source") != signature:
            return None
        return entry

    def previous_outputs(self, key: str) -> list[str]:
        """Outputs recorded for ``key`` by any earlier run, whatever its settings."""
        try:
            return list(json.loads(self._entry_path(key).read_text(encoding="utf-8")).get("outputs", []))
        except (FileNotFoundError, json.JSONDecodeError):
            return []

    def record(self, key: str, source: Path, outcome: Outcome) -> None:
        entry = {
            "key": key,
            "settings": self.digest,
            "source": source_signature(source),
            "outputs": list(outcome.outputs),
            "details": outcome.details,
        }
        write_text_atomic(self._entry_path(key), json.dumps(entry, indent=1, default=str))


def _guarded(function: Callable[[Any], Any], item: Any, name: str) -> Any:
    try:
        return function(item)
    except TimbrelError as error:
        return Outcome(name, "failed", str(error))
    except Exception as error:  # a bug or an odd file must not take the other files down
        return Outcome(name, "failed", f"{name}: unexpected {type(error).__name__}: {error}")


@contextlib.contextmanager
def progress_bar(description: str, total: int, show: bool = True) -> Iterator[Callable[[int], None]]:
    """A progress bar with elapsed time and ETA on stderr; yields ``advance(n_done)``."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=not show, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.advance(task, done)


def run_jobs(
    function: Callable[[Any], Any],
    items: Sequence[Any],
    names: Sequence[str],
    workers: int = 1,
    description: str = "working",
    show_progress: bool = True,
) -> list[Any]:
    """Apply ``function`` to each item, in worker processes when ``workers`` > 1.

    ``function`` must be picklable (module-level, or a functools.partial of one). Results come
    back in the order of ``items``; an item whose call raised becomes a failed ``Outcome``.
    """
    outcomes: list[Any] = [None] * len(items)
    with progress_bar(description, len(items), show_progress) as advance:
        if workers <= 1 or len(items) < MIN_ITEMS_PER_WORKER * workers:
            for index, (item, name) in enumerate(zip(items, names, strict=True)):
                outcomes[index] = _guarded(function, item, name)
                advance(1)
        else:
            # forkserver: workers fork from a clean server process (safe whatever threads the
            # parent holds: torch, OpenMP) that has imported the job's module once
            context = multiprocessing.get_context("forkserver")
            target = function.func if isinstance(function, functools.partial) else function
            context.set_forkserver_preload([target.__module__])
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {
                    pool.submit(_guarded, function, item, name): index
                    for index, (item, name) in enumerate(zip(items, names, strict=True))
                }
                for future in as_completed(futures):
                    outcomes[futures[future]] = future.result()
                    advance(1)
    return outcomes
