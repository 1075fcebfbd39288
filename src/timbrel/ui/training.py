"""Training from the page: the run goes on in a thread while the page polls its figures.

The training functions take a logger (the Logger protocol of timbrel.train: scalars, image,
audio, close); LossRecorder is one that keeps the scalars in memory for the page's live plot.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from matplotlib.figure import Figure


class LossRecorder:
    """A training logger that keeps every logged scalar; safe to read while training writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: list[tuple[int, dict[str, float]]] = []

    def scalars(self, values: dict[str, float], step: int) -> None:
        with self._lock:
            self._history.append((step, {name: float(v) for name, v in values.items()}))

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        """Images and audio are not shown on the page."""

    def audio(self, name: str, samples: np.ndarray, sample_rate: int, step: int) -> None:
        """Images and audio are not shown on the page."""

    def close(self) -> None:
        """Nothing to flush."""

    def history(self) -> list[tuple[int, dict[str, float]]]:
        with self._lock:
            return list(self._history)


class TrainingJob:
    """``train(logger)`` running in a daemon thread; ``result`` or ``error`` once it ends."""

    def __init__(self, train: Callable[[LossRecorder], Any]):
        self.recorder = LossRecorder()
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(train,), daemon=True, name="timbrel-train")
        self._thread.start()

    def _run(self, train: Callable[[LossRecorder], Any]) -> None:
        try:
            self.result = train(self.recorder)
        except BaseException as error:  # handed to the page, which shows it
            self.error = error

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s``; True once the run has ended."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


MAX_CURVES = 8


def loss_names(history: list[tuple[int, dict[str, float]]]) -> list[str]:
    """The logged scalars worth plotting, in the order they first appear: the losses (else
    everything), without per-part breakdowns such as ``loss_disc_r/3``, at most MAX_CURVES."""
    names: list[str] = []
    for _, values in history:
        names += [name for name in values if name not in names]
    names = [n for n in names if "loss" in n.lower()] or names
    return [n for n in names if not n.rsplit("/", 1)[-1].isdigit()][:MAX_CURVES]


def loss_figure(history: list[tuple[int, dict[str, float]]]) -> Figure:
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    axes = figure.add_subplot()
    names = loss_names(history)
    for name in names:
        points = [(step, values[name]) for step, values in history if name in values]
        steps, losses = zip(*points, strict=True)
        axes.plot(steps, losses, label=name, linewidth=1.2)
    values = [v for _, logged in history for n, v in logged.items() if n in names]
    if values and min(values) > 0 and max(values) / min(values) > 100:
        axes.set_yscale("log")  # GAN terms and the mel loss differ by orders of magnitude
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if history:
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        axes.set_title("waiting for the first logged step")
    return figure


def training_call(train: Callable[..., Any], available: dict[str, Any]) -> Callable[..., Any]:
    """``train`` with those of ``available`` (logger, standard weights) its signature takes."""
    taken = inspect.signature(train).parameters
    given = {name: value for name, value in available.items() if name in taken}
    return functools.partial(train, **given)


def progress_text(history: list[tuple[int, dict[str, float]]], elapsed_s: float) -> str:
    if not history:
        return f"Training... {elapsed_s:.0f} s, no step logged yet."
    step, values = history[-1]
    shown = ", ".join(f"{name} {value:.4g}" for name, value in values.items())
    return f"Training... {elapsed_s:.0f} s, step {step}: {shown}"


def follow(job: TrainingJob, poll_s: float = 2.0) -> Iterator[tuple[str, Figure]]:
    """(status, loss figure) every ``poll_s`` while ``job`` runs; its error is raised at the end."""
    start = time.monotonic()
    while not job.wait(poll_s):
        history = job.recorder.history()
        yield progress_text(history, time.monotonic() - start), loss_figure(history)
    if job.error is not None:
        raise job.error
    history = job.recorder.history()
    yield f"Done in {time.monotonic() - start:.0f} s.", loss_figure(history)
