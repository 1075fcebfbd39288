"""RIFT against RIFT-SVC itself, side by side in the same run (see benchmarks/reference.py).

Full-size random networks (seeded) are written in the real file formats by Timbrel's own writers (the DiT
as a RIFT-SVC Lightning .ckpt, NSF-HiFiGAN, RMVPE and ContentVec as infer.py's ``pretrained/`` folder);
Timbrel loads them with its loaders and the reference with its own. Both sides get the same inputs and
the same random draws (the sampler's initial noise, the vocoder's source phases and noise, the training
noise and times), so every row also reports the largest output difference. fp32 on the CPU.

Rows: one DiT evaluation (with the fraction of the fp32 matmul peak measured in this run), a whole
one-segment conversion without and with every guidance (split: features, sampling, vocoder) and one
training step of dit-512-8 (split: forward, backward, optimizer; the output compared is the loss).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from benchmarks.reference import (
    Reference,
    ReferenceWorker,
    Row,
    flop_counter,
    in_fresh_process,
    print_row,
    side_by_side,
)
from benchmarks.rift import dit_gflop, matmul_peak_gflops
from benchmarks.rift_train import FRAMES, make_batch, make_model
from timbrel import api
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.models.rift import flow
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.pipeline import RIFTConvertOptions, RIFTNoise, RIFTVoice
from timbrel.models.rift.training import FlowDraws, RIFTTrainSettings, RIFTTrainTask
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig
from timbrel.weights.release_export import save_contentvec_folder, save_nsf_hifigan_release, save_rmvpe
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rift_export import (
    lightning_checkpoint,
    reference_training_cfg,
    save_lightning_checkpoint,
)

SAMPLE_RATE = 44100
HOP_LENGTH = 512
# config/finetune.yaml's training keys that shape a step; train.py's warm-up is int(max_steps·warmup_ratio).
TRAINING = {
    "optimizer_type": "adamwsf",
    "learning_rate": 1e-4,
    "betas": (0.9, 0.95),
    "weight_decay": 0.01,
    "max_steps": 10000,
    "warmup_ratio": 0.05,
    "time_schedule": "lognorm",
    "drop_spk_prob": 0.0,
    "eval_sample_steps": 32,
    "log_media_per_steps": 1000,
}
CFG = {"seed": 2025, "dataset": {"max_frame_len": 256}, "training": reference_training_cfg(TRAINING)}
SETTINGS = RIFTTrainSettings(warmup_steps=int(TRAINING["max_steps"] * TRAINING["warmup_ratio"]))
NO_CFG = {"ds_cfg_strength": 0.0, "spk_cfg_strength": 0.0, "skip_cfg_strength": 0.0, "cfg_skip_layers": None}
# infer.py's defaults for ds, speaker and rescale; skip guidance (off by default there) on layer 3
ALL_CFG = {"ds_cfg_strength": 0.2, "spk_cfg_strength": 0.8, "skip_cfg_strength": 0.3, "cfg_skip_layers": 3}
RESCALE = 0.7


@contextlib.contextmanager
def reference_worker(
    reference: Reference | None, workload: str, **params
) -> Iterator[ReferenceWorker | None]:
    if reference is None or reference.rift is None:
        yield None
        return
    worker = ReferenceWorker(reference, "rift", workload, **params)
    try:
        yield worker
    finally:
        worker.close()


def timed(
    split: dict[str, float], stage: str, function: Callable, meter: Callable[[], float] = time.perf_counter
) -> Callable:
    """`function`, adding its wall time (or what else ``meter`` reads) to split[stage]."""

    def run(*args, **kwargs):
        start = meter()
        result = function(*args, **kwargs)
        split[stage] = split.get(stage, 0.0) + meter() - start
        return result

    return run


def write_dit(model: DiT, path: Path, speakers: dict[str, int]) -> Path:
    return save_lightning_checkpoint(path, lightning_checkpoint(model, speakers, CFG, global_step=0))


def dit_row(preset: str, seconds: float, folder: Path, reference: Reference | None, rounds: int) -> Row:
    torch.manual_seed(0)
    config = DiTConfig.preset(preset, num_speakers=1)
    checkpoint = write_dit(DiT(config), folder / f"{preset}.ckpt", {"singer": 0})
    dit = load_rift_checkpoint(checkpoint).model
    n = int(seconds * SAMPLE_RATE) // HOP_LENGTH
    g = torch.Generator().manual_seed(1)
    x = {
        "x": torch.randn(1, n, config.n_mels, generator=g),
        "t": torch.tensor([0.5]),
        "f0": 200 + 100 * torch.rand(1, n, generator=g),
        "rms": 0.1 * torch.rand(1, n, generator=g),
        "cvec": torch.randn(1, n, config.content_dim, generator=g),
        "speaker": torch.zeros(1, dtype=torch.long),
    }
    torch.save(x, folder / "dit_inputs.pt")

    @torch.inference_mode()
    def evaluate() -> torch.Tensor:
        return dit(x["x"], x["speaker"], x["f0"], x["rms"], x["cvec"], x["t"])

    evaluate()  # warm-up

    def ours(output: Path) -> dict[str, float]:
        start = time.perf_counter()
        out = evaluate()
        seconds = time.perf_counter() - start
        np.save(output, out.numpy())
        return {"evaluation": seconds}

    name = f"DiT {preset.removeprefix('dit-')}, one evaluation, {seconds:.0f} s"
    params = {"checkpoint": str(checkpoint), "inputs": str(folder / "dit_inputs.pt")}
    with reference_worker(reference, "dit_evaluation", **params) as worker:
        return side_by_side(name, ours, worker, rounds, flop={"evaluation": dit_gflop(config, n)})


def write_voice(preset: str, folder: Path) -> Path:
    """A full-size random voice as infer.py finds it: folder/model.ckpt and folder/pretrained/..."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    write_dit(DiT(DiTConfig.preset(preset, num_speakers=1)), folder / "model.ckpt", {"singer": 0})
    pretrained = folder / "pretrained"
    save_nsf_hifigan_release(
        NsfHifiGan(NsfHifiGanConfig()), pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02"
    )
    save_rmvpe(E2E(E2EConfig()), pretrained / "rmvpe" / "model.pt")
    save_contentvec_folder(HubertModel(HubertConfig.base()), pretrained / "content-vec-best")
    return folder


def conversion_rows(
    preset: str, seconds: float, steps: int, folder: Path, reference: Reference | None, rounds: int
) -> list[Row]:
    """One segment of synthetic singing through RIFTVoice.iter_batches and infer.py's process_segment."""
    write_voice(preset, folder)
    pretrained = folder / "pretrained"
    voice = api.load(
        folder / "model.ckpt",
        contentvec=pretrained / "content-vec-best",
        rmvpe=pretrained / "rmvpe" / "model.pt",
        vocoder=pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02",
    )
    assert isinstance(voice, RIFTVoice)
    samples = np.ascontiguousarray(sing_recording(SINGERS[1], seconds, SAMPLE_RATE, seed=2).mono)
    np.save(folder / "audio.npy", samples)
    split: dict[str, float] = {}
    for method, stage in (("segment_features", "features"), ("sample", "sampling"), ("vocode", "vocoder")):
        setattr(voice, method, timed(split, stage, getattr(voice, method)))
    n = voice.segment_features(samples, RIFTConvertOptions(**NO_CFG)).n_frames
    split.clear()
    initial = torch.randn(1, n, voice.dit.config.n_mels, generator=torch.Generator().manual_seed(3))
    source_seed = 4
    # Exactly the draws RIFTVoice.vocode makes from a generator seeded so.
    source = voice.vocoder.source_draws(
        torch.zeros(1, n), generator=torch.Generator().manual_seed(source_seed)
    )
    draws = {"initial": initial, "phase": source.initial_phase, "source": source.noise}
    torch.save(draws, folder / "draws.pt")
    gflop = dit_gflop(voice.dit.config, n) * (steps - 1)
    rows = []
    for label, guidance in (("no CFG", NO_CFG), ("all CFG", ALL_CFG)):
        options = RIFTConvertOptions(infer_steps=steps, cfg_rescale=RESCALE, precision="fp32", **guidance)

        def ours(output: Path, options: RIFTConvertOptions = options) -> dict[str, float]:
            split.clear()
            noise = RIFTNoise(initial_noise=[initial], generator=torch.Generator().manual_seed(source_seed))
            (batch,) = voice.iter_batches([samples], 0, options, noise)
            np.save(output, batch.waves[0])
            return dict(split)

        params = {
            "folder": str(folder),
            "audio": str(folder / "audio.npy"),
            "draws": str(folder / "draws.pt"),
            "guidance": {**guidance, "cfg_rescale": RESCALE},
            "steps": steps,
        }
        name = f"RIFT conversion, {seconds:.0f} s, {steps} steps, {label}"
        with reference_worker(reference, "conversion", **params) as worker:
            flop = {"sampling": gflop} if guidance is NO_CFG else None
            rows.append(side_by_side(name, ours, worker, rounds, flop=flop))
    return rows


def training_row(batch_size: int, folder: Path, reference: Reference | None, rounds: int) -> Row:
    checkpoint = write_dit(make_model(), folder / "train.ckpt", {"ann": 0, "ben": 1})
    task = RIFTTrainTask(load_rift_checkpoint(checkpoint).model, SETTINGS)
    batch = make_batch(batch_size)
    g = torch.Generator().manual_seed(5)
    uniforms = torch.rand(batch_size, generator=g)
    x0 = torch.randn(batch.mel.shape, generator=g)
    draws = FlowDraws(x0, flow.logit_normal_times(uniforms), torch.zeros(batch_size, dtype=torch.bool))
    reference_batch = {
        "mel": batch.mel,
        "spk_id": batch.speaker,
        "f0": batch.f0_hz,
        "rms": batch.rms,
        "cvec": batch.content,
        "frame_len": batch.frame_lengths,
    }
    torch.save(reference_batch, folder / "train_batch.pt")
    torch.save({"x0": x0, "uniforms": uniforms}, folder / "train_draws.pt")
    flop = _step_gflop(checkpoint, batch, draws)
    split: dict[str, float] = {}
    _split_step(task, split, time.perf_counter)

    def ours(output: Path) -> dict[str, float]:
        split.clear()
        figures = task.step(batch, 0, draws=[draws])
        np.save(output, np.array([figures["train/loss"]]))
        return dict(split)

    name = f"RIFT training step, dit-512-8, batch {batch_size} x {FRAMES * HOP_LENGTH / SAMPLE_RATE:.0f} s"
    params = {
        "checkpoint": str(checkpoint),
        "batch": str(folder / "train_batch.pt"),
        "draws": str(folder / "train_draws.pt"),
    }
    with reference_worker(reference, "training_step", **params) as worker:
        return side_by_side(name, ours, worker, rounds, flop=flop)


def _split_step(task: RIFTTrainTask, split: dict[str, float], meter: Callable[[], float]) -> None:
    task.objective = timed(split, "forward", task.objective, meter)
    task.context.backward = timed(split, "backward", task.context.backward, meter)
    task.context.optimizer_step = timed(split, "optimizer", task.context.optimizer_step, meter)


def _step_gflop(checkpoint: Path, batch, draws: FlowDraws) -> dict[str, float]:
    """Matmul and convolution GFLOP of one training step by stage, as PyTorch's FLOP counter
    counts them, on a second copy of the model so that the timed step is the first."""
    task = RIFTTrainTask(load_rift_checkpoint(checkpoint).model, SETTINGS)
    split: dict[str, float] = {}
    with flop_counter() as counter:
        _split_step(task, split, lambda: counter.get_total_flops() / 1e9)
        task.step(batch, 0, draws=[draws])
    return {stage: gflop for stage, gflop in split.items() if gflop > 0}


def run(quick: bool, reference: Reference | None, rounds: int) -> list[Row]:
    print(f"torch threads: {torch.get_num_threads()}; fp32, CPU; fastest of {rounds} alternating rounds")
    peak = matmul_peak_gflops(repeats=2 if quick else 3)
    print(f"fp32 matmul peak (4096x4096), this run: {peak:.0f} GFLOP/s", flush=True)
    rows: list[Row] = []

    def add(row: Row) -> None:
        print_row(row, peak)
        rows.append(row)

    preset = "dit-512-8" if quick else "dit-768-12"
    with tempfile.TemporaryDirectory(prefix="timbrel-versus-rift-") as work:
        folder = Path(work)
        for seconds in (2.0,) if quick else (10.0, 30.0):
            add(in_fresh_process(dit_row, preset, seconds, folder, reference, rounds))
        for row in in_fresh_process(
            conversion_rows,
            preset,
            2.0 if quick else 10.0,
            2 if quick else 8,
            folder / "voice",
            reference,
            rounds,
        ):
            add(row)
        add(in_fresh_process(training_row, 2 if quick else 8, folder, reference, rounds))
    return rows
