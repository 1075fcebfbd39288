"""RIFT training step time: dit-512-8, batch 8 of 2 s segments (172 frames, some shorter and padded), CPU
fp32, in one process (2 threads) and in 2-process DDP over gloo (1 thread each, batch 4 per process).

Baseline measured in this run: the straightforward formulation, with the attention mask materialised
as (b, heads, n, n), the loss gathered with a boolean index, and schedule-free AdamW's per-tensor
Python loop (foreach=False). Both start from the same weights and data, and their first losses are
compared. RIFT-SVC's own training step is measured side by side with Timbrel's in the group versus_rift;
no reference figure from elsewhere is printed here.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmarks.reference import NOT_MEASURED
from timbrel.models.rift import flow
from timbrel.models.rift.data import RIFTBatch
from timbrel.models.rift.dit import DiT, DiTConfig, SegmentConditioning
from timbrel.models.rift.training import RIFTTrainSettings, RIFTTrainTask
from timbrel.nn.step_context import StepContext

FRAMES = 172  # 2 s at 44.1 kHz, hop 512
BATCH = 8


def make_batch(batch: int, seed: int = 0) -> RIFTBatch:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([FRAMES - 12 * (i % 3) for i in range(batch)])
    mask = flow.lens_to_mask(lengths, FRAMES)
    mel = (torch.rand(batch, FRAMES, 128, generator=g) * 12 - 11) * mask.unsqueeze(-1)
    return RIFTBatch(
        speaker=torch.arange(batch) % 2,
        mel=mel,
        rms=torch.rand(batch, FRAMES, generator=g) * mask,
        f0_hz=(150 + 300 * torch.rand(batch, FRAMES, generator=g)) * mask,
        content=torch.randn(batch, FRAMES, 768, generator=g) * mask.unsqueeze(-1),
        frame_lengths=lengths,
    )


def make_model(seed: int = 0) -> DiT:
    model = DiT(DiTConfig.preset("dit-512-8", num_speakers=2))
    model.init_weights(torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-zero adaLN and output so that every path carries gradient
        for block in model.transformer_blocks:
            block.attn_norm.proj.weight.normal_(0, 0.02, generator=torch.Generator().manual_seed(seed + 1))
        model.output.weight.normal_(0, 0.02, generator=torch.Generator().manual_seed(seed + 2))
    return model


class MaterialisedMaskDiT(DiT):
    """The reference's formulation: a full (b, heads, n, n) boolean attention mask."""

    def condition(self, f0_hz, rms, content, mask=None) -> SegmentConditioning:
        cond = super().condition(f0_hz, rms, content, None)
        if mask is None:
            return cond
        b, n = mask.shape
        full = mask[:, None, None, :].expand(b, self.config.heads, n, n).contiguous()
        return SegmentConditioning(cond.features, cond.cos, cond.sin, mask, full)


class BaselineTask(RIFTTrainTask):
    def objective(self, batch, draws, network=None):
        network = self.network if network is None else network
        mask = batch.mask()
        x1 = flow.normalize_mel(batch.mel)
        x_t = flow.interpolate(draws.x0, x1, draws.t)
        prediction = network(
            x_t, batch.speaker, batch.f0_hz, batch.rms, batch.content, draws.t, draws.drop_speaker, mask
        )
        return flow.flow_matching_loss(prediction, flow.target_velocity(draws.x0, x1), mask), prediction


def time_steps(task: RIFTTrainTask, batch: RIFTBatch, steps: int) -> tuple[float, float]:
    """-> (fastest step in seconds, first step's loss)"""
    first_loss = None
    best = float("inf")
    for step in range(steps):
        start = time.perf_counter()
        figures = task.step(batch, step)
        best = min(best, time.perf_counter() - start)
        first_loss = figures["train/loss"] if first_loss is None else first_loss
    return best, first_loss


def _ddp_worker(rank: int, port: int, steps: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        context = StepContext(world_size=2, rank=rank)
        task = RIFTTrainTask(make_model(), RIFTTrainSettings(), context=context)
        batch = make_batch(BATCH)
        half = BATCH // 2
        mine = RIFTBatch(**{k: v[rank * half : (rank + 1) * half] for k, v in vars(batch).items()})
        seconds, _ = time_steps(task, mine, steps)
        if rank == 0:
            Path(out).write_text(str(seconds))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(quick: bool = False) -> dict:
    steps = 2 if quick else 4
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    batch = make_batch(BATCH)
    try:
        model = MaterialisedMaskDiT(DiTConfig.preset("dit-512-8", num_speakers=2))
        model.load_state_dict(make_model().state_dict())
        baseline = BaselineTask(model, RIFTTrainSettings(foreach=False))
        base_s, base_loss = time_steps(baseline, batch, steps)
        print(f"baseline (materialised mask, per-tensor optimizer): {base_s:.2f} s/step", flush=True)
        ours = RIFTTrainTask(make_model(), RIFTTrainSettings())
        ours_s, ours_loss = time_steps(ours, batch, steps)
        print(
            f"timbrel: {ours_s:.2f} s/step ({base_s / ours_s:.2f}x the baseline; "
            f"{NOT_MEASURED} (see versus_rift)); first loss {ours_loss:.6f} vs baseline {base_loss:.6f}",
            flush=True,
        )
    finally:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "ddp.txt"
        mp.spawn(_ddp_worker, args=(_free_port(), steps, str(out)), nprocs=2, join=True)
        ddp_s = float(out.read_text())
    print(f"2-process DDP (gloo, batch 4 each): {ddp_s:.2f} s/step ({ours_s / ddp_s:.2f}x one process)")
    return {
        "baseline_step_s": base_s,
        "step_s": ours_s,
        "speedup_vs_baseline": base_s / ours_s,
        "ddp2_step_s": ddp_s,
        "first_loss": ours_loss,
        "baseline_first_loss": base_loss,
    }
