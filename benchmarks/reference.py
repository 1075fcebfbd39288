"""The reference implementations, measured in the same run as Timbrel.

The reference code runs in its own Python (``--reference-python``, made by
``benchmarks/reference_env.sh``) as a worker process, ``python -m benchmarks.reference_side``, that
imports it from the given work trees at run time. One worker serves one row: it loads the files
Timbrel wrote with its own writers, then answers one timed round per request, alternating with
Timbrel's rounds. Both sides save their outputs, so every row is a full-size parity check as well.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

NOT_MEASURED = "reference not measured in this run"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Reference:
    """Where the reference trees and their Python are; a family without a tree is not measured."""

    python: Path
    rvc: Path | None = None
    rift: Path | None = None

    def tree(self, family: str) -> Path | None:
        return {"rvc": self.rvc, "rift": self.rift}[family]


def reference_from_args(python: Path | None, rvc: Path | None, rift: Path | None) -> Reference | None:
    if python is None and rvc is None and rift is None:
        return None
    if python is None or (rvc is None and rift is None):
        raise SystemExit("--reference-python needs --reference-rvc and/or --reference-rift, and they need it")
    for tree in (rvc, rift):
        if tree is not None and not tree.is_dir():
            raise SystemExit(
                f"{tree}: no such reference work tree (make one with benchmarks/reference_env.sh)"
            )
    return Reference(python=python, rvc=rvc, rift=rift)


class ReferenceError(RuntimeError):
    """The reference worker failed; the message carries its own error text."""


class ReferenceWorker:
    """One reference workload in a worker process: ``setup`` once, then ``round`` as often as wanted."""

    def __init__(self, reference: Reference, family: str, workload: str, **params):
        tree = reference.tree(family)
        assert tree is not None, family
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [
                str(reference.python),
                "-m",
                "benchmarks.reference_side",
                "--family",
                family,
                "--tree",
                str(tree),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.workload = workload
        self._ask({"op": "setup", "workload": workload, "params": params})

    def _ask(self, request: dict) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise ReferenceError(f"reference worker for {self.workload} exited ({self.process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise ReferenceError(f"reference {self.workload}: {reply['error']}")
        return reply

    def round(self, output: Path) -> dict:
        """-> {"seconds", "split" (seconds by stage), "peak_rss_mb"}; the output is saved as .npy."""
        return self._ask({"op": "round", "output": str(output)})

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=60)


class PeakRss:
    """Highest resident memory of this process while the block runs (sampled every 5 ms), in MB."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()

    @staticmethod
    def current_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, self.current_mb())

    @contextmanager
    def watching(self) -> Iterator[PeakRss]:
        self.peak_mb = self.current_mb()
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self._stop.clear()
            self.peak_mb = max(self.peak_mb, self.current_mb())


@dataclass
class Side:
    """One side's figures for a row: the fastest round and its split."""

    seconds: float = float("inf")
    split: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0

    def add(self, seconds: float, split: dict[str, float], peak_rss_mb: float) -> None:
        if seconds < self.seconds:
            self.seconds, self.split = seconds, dict(split)
        self.peak_rss_mb = max(self.peak_rss_mb, peak_rss_mb)


@dataclass
class Row:
    name: str
    ours: Side
    theirs: Side | None = None
    max_abs_diff: float | None = None
    reference_max_abs: float | None = None
    flop: dict[str, float] = field(default_factory=dict)  # GFLOP by stage, where countable

    @property
    def ratio(self) -> float | None:
        return None if self.theirs is None else self.theirs.seconds / self.ours.seconds


def in_fresh_process(make_rows: Callable, *args):
    """``make_rows(*args)`` in a new interpreter, so that Timbrel's peak RSS in a row is that row's
    alone, as the reference's is (its worker is one process per row)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(make_rows, *args).result()


def output_difference(ours: Path, theirs: Path) -> tuple[float, float]:
    """-> (largest absolute difference, largest absolute reference value) of two saved outputs."""
    a, b = np.load(ours), np.load(theirs)
    if a.shape != b.shape:
        raise ReferenceError(f"outputs differ in shape: Timbrel {a.shape}, reference {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.max(np.abs(a64 - b64))), float(np.max(np.abs(b64)))


def side_by_side(
    name: str,
    ours: Callable[[Path], dict[str, float]],
    worker: ReferenceWorker | None,
    rounds: int,
    flop: dict[str, float] | None = None,
) -> Row:
    """Alternate Timbrel's rounds with the reference's (ours first) and keep the fastest of each.

    ``ours(output)`` runs one round, saves its output and returns its split (seconds by stage)."""
    row = Row(name, Side(), None if worker is None else Side(), flop=flop or {})
    with tempfile.TemporaryDirectory(prefix="timbrel-versus-") as folder:
        ours_out, theirs_out = Path(folder) / "ours.npy", Path(folder) / "theirs.npy"
        for _ in range(rounds):
            with PeakRss().watching() as rss:
                start = time.perf_counter()
                split = ours(ours_out)
                row.ours.add(time.perf_counter() - start, split, rss.peak_mb)
            if worker is not None and row.theirs is not None:
                reply = worker.round(theirs_out)
                row.theirs.add(reply["seconds"], reply["split"], reply["peak_rss_mb"])
        if worker is not None:
            row.max_abs_diff, row.reference_max_abs = output_difference(ours_out, theirs_out)
    return row


def format_split(split: dict[str, float]) -> str:
    return ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in split.items())


def print_row(row: Row, peak_gflops: float | None) -> None:
    print(f"{row.name}", flush=True)
    sides = [("Timbrel", row.ours)] + ([("reference", row.theirs)] if row.theirs is not None else [])
    for label, side in sides:
        split = format_split(side.split)
        print(f"  {label:9s} {side.seconds:8.2f} s  peak RSS {side.peak_rss_mb:6.0f} MB  [{split}]")
    if row.flop and peak_gflops:
        fractions = []
        for stage, gflop in row.flop.items():
            for label, side in sides:
                if side.split.get(stage):
                    fractions.append(f"{label} {stage} {100 * gflop / side.split[stage] / peak_gflops:.0f}%")
        print(f"  of the fp32 peak ({peak_gflops:.0f} GFLOP/s): {', '.join(fractions)}")
    if row.ratio is None:
        print(f"  {NOT_MEASURED}")
    else:
        print(
            f"  Timbrel faster by {row.ratio:.2f}x; largest output difference {row.max_abs_diff:.3g} "
            f"(reference values up to {row.reference_max_abs:.3g})",
            flush=True,
        )


def print_table(rows: list[Row]) -> None:
    print("| workload | reference | Timbrel | Timbrel faster by | largest output difference |")
    print("|---|---|---|---|---|")
    for row in rows:
        theirs = f"{row.theirs.seconds:.2f} s" if row.theirs else NOT_MEASURED
        ratio = f"{row.ratio:.2f}x" if row.ratio else "-"
        diff = (
            f"{row.max_abs_diff:.2g} of {row.reference_max_abs:.2g}" if row.max_abs_diff is not None else "-"
        )
        print(f"| {row.name} | {theirs} | {row.ours.seconds:.2f} s | {ratio} | {diff} |")


def flop_counter() -> FlopCounterMode:
    """PyTorch's FLOP counter, with grouped convolutions' backward counted right: its stock
    formula counts the weight gradient as if the convolution were dense (``groups`` times too
    many: 512x for the DiT's depthwise conv, up to 256x for the scale discriminators)."""
    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flop}
    return FlopCounterMode(display=False, custom_mapping=mapping)


def _conv_backward_flop(
    grad_out_shape,
    x_shape,
    w_shape,
    _bias,
    _stride,
    _padding,
    _dilation,
    transposed,
    _output_padding,
    _groups,
    output_mask,
    out_shape=None,
    **_,
) -> int:
    """The input gradient (a transposed convolution) and the weight gradient (a correlation of the
    input with the output gradient) each take the forward's multiply-adds, groups included."""
    del out_shape
    passes = int(output_mask[0]) + int(output_mask[1])
    return conv_flop_count(x_shape, w_shape, grad_out_shape, transposed) * passes
