"""RVC training step time: v2-40k with pitch, batch 4, full-size generator and discriminator
(random weights), CPU fp32; one process, then two gloo DDP processes of batch 2 each.

Baseline in this run: the straightforward formulation of the same step, as the reference
writes it — real and generated audio through the discriminator in separate calls, and the
generator's backward also computing the discriminator's weight gradients (which the next
discriminator step throws away). Timbrel: one batched call, generator backward to the
generator's parameters only. Both use 2-D (k, 1) convolutions for the period discriminators
(the 1-D folded form measured slower on this CPU build). The
reference's own step is measured beside Timbrel's by the versus_rvc group, not here.
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp
from torch import nn
from torch.nn import functional as F

from benchmarks.reference import NOT_MEASURED
from timbrel.features.spectrogram import TrainSpectrogram
from timbrel.models.rvc.discriminator import DiscriminatorOutput, MultiPeriodDiscriminator
from timbrel.models.rvc.training import RVCTrainTask
from timbrel.nn.step_context import StepContext
from timbrel.train.context import RunConfig, finish_run, start_run
from timbrel.train.rvc import RVCTrainConfig, build_models

BATCH = 4
FRAMES = 370  # a 3.7 s piece at 100 frames/s


def make_batch(config: RVCTrainConfig, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random features of FRAMES frames and a random waveform, as the data loader yields them."""
    g = torch.Generator().manual_seed(seed)
    model = config.synthesizer_config()
    spectrogram = TrainSpectrogram(config.spectrogram_config())
    hop = config.spectrogram_config().hop_length
    wave = 0.3 * torch.randn((batch, FRAMES * hop), generator=g)
    spec = spectrogram.linear(wave)
    lengths = torch.full((batch,), FRAMES)
    return {
        "phone": torch.randn((batch, FRAMES, model.content_dim), generator=g),
        "phone_lengths": lengths,
        "pitch": torch.randint(1, 256, (batch, FRAMES), generator=g),
        "pitchf": 100 + 300 * torch.rand((batch, FRAMES), generator=g),
        "spec": spec,
        "spec_lengths": lengths,
        "wave": wave[:, None],
        "wave_lengths": lengths * hop,
        "sid": torch.zeros(batch, dtype=torch.long),
        "slice_rand": torch.rand((batch,), generator=g),
        "noise_posterior": torch.randn((batch, model.inter_channels, FRAMES), generator=g),
        "noise_nsf": torch.randn((batch, model.segment_frames * model.upsample_factor), generator=g),
    }


def period_reference(discriminator, x):
    """DiscriminatorP as the reference writes it: Conv2d with (k, 1) kernels on (b, c, t/p, p),
    weight norm recomputed on every call."""
    b, c, t = x.shape
    p = discriminator.period
    if t % p:
        x = F.pad(x, (0, p - t % p), "reflect")
        t = x.shape[-1]
    x = x.view(b, c, t // p, p)
    fmap = []
    for conv in [*discriminator.convs, discriminator.conv_post]:
        weight = torch._weight_norm(conv.weight_v, conv.weight_g, 0)
        x = F.conv2d(x, weight, conv.bias, (conv.stride, 1), (conv.padding, 0))
        if conv is not discriminator.conv_post:
            x = F.leaky_relu(x, 0.1)
        fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


class SeparateCalls2d(nn.Module):
    """The reference's formulation over the same parameters: one call for real, one for fake."""

    def __init__(self, discriminator: MultiPeriodDiscriminator):
        super().__init__()
        self.inner = discriminator

    def _one(self, x):
        scores, fmaps = [], []
        for i, d in enumerate(self.inner.discriminators):
            score, fmap = d(x) if i == 0 else period_reference(d, x)
            scores.append(score)
            fmaps.append(fmap)
        return scores, fmaps

    def forward(self, real, fake, record_real: bool = True) -> DiscriminatorOutput:
        del record_real  # the reference records both for the generator's loss
        real_scores, real_fmaps = self._one(real)
        fake_scores, fake_fmaps = self._one(fake)
        return DiscriminatorOutput(real_scores, fake_scores, real_fmaps, fake_fmaps)


class FullBackward(StepContext):
    """Computes every gradient in each backward, as the reference does."""

    def backward(self, loss, inputs=None):
        super().backward(loss, None)


def step_times(task: RVCTrainTask, batch: dict, steps: int) -> list[float]:
    task.step(batch, 0)  # warm-up: allocations, optimizer state
    times = []
    for step in range(steps):
        start = time.perf_counter()
        task.step(batch, step + 1)
        times.append(time.perf_counter() - start)
    return times


def _ddp_worker(rank: int, port: int, steps: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(max(1, torch.get_num_threads() // 2))
    config = RVCTrainConfig()
    context = start_run(RunConfig(device="cpu"))
    try:
        generator, discriminator = build_models(config)
        task = RVCTrainTask(generator, discriminator, config.spectrogram_config(), context, config.optim)
        batch = make_batch(config, BATCH // 2, seed=rank)
        times = step_times(task, batch, steps)
        if rank == 0:
            Path(out).write_text(" ".join(map(str, times)))
    finally:
        finish_run(context)


def run(quick: bool = False) -> dict:
    steps = 1 if quick else 3
    threads = torch.get_num_threads()
    config = RVCTrainConfig()
    batch = make_batch(config, BATCH)
    results = {}
    for name, make_d, context in (
        ("baseline", SeparateCalls2d, FullBackward()),
        ("timbrel", lambda d: d, StepContext()),
    ):
        generator, discriminator = build_models(config)
        task = RVCTrainTask(
            generator, make_d(discriminator), config.spectrogram_config(), context, config.optim
        )
        results[f"{name}_step_s"] = statistics.median(step_times(task, batch, steps))
        print(f"{name}: {results[f'{name}_step_s']:.1f} s per step ({threads} threads)", flush=True)
        del task, generator, discriminator
    ratio = results["baseline_step_s"] / results["timbrel_step_s"]
    results["speedup_vs_baseline"] = ratio
    print(
        f"one process: {ratio:.2f}x faster than the straightforward formulation; {NOT_MEASURED} "
        "(see versus_rvc)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as folder, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        out = str(Path(folder) / "ddp.txt")
        mp.spawn(_ddp_worker, args=(port, steps, out), nprocs=2, join=True)
        results["ddp_2proc_step_s"] = statistics.median(float(t) for t in Path(out).read_text().split())
    print(f"2 gloo processes, batch 2 each: {results['ddp_2proc_step_s']:.1f} s per step", flush=True)
    return results
