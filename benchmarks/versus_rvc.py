"""Timbrel against the RVC WebUI itself, side by side in the same run, on the same files and input.

Timbrel builds full-size random models (seeded) and writes them in the real formats with its own
writers: the voice model .pth, the faiss index, the Transformers HuBERT folder, G/D training
checkpoints. The reference (benchmarks/reference_side/rvc.py, in its own Python) loads them with
its own loaders; rounds alternate and each side keeps its fastest. Noise is zero on both sides
(enc_p's sample, the NSF source, the training slice and posterior draws), so the outputs must agree.

Rows: conversion of 10 s (pm, index 0.5, the WebUI's protect and RMS mix), split into content,
pitch, text encoder, flow and decoder; HuBERT feature extraction of an experiment folder of 3.7 s
pieces, model load included; one training step of v2-40k with pitch at batch 4, split into G
forward, D forward+backward+step, G loss through D, G backward+step. Decoder and discriminator
convolution GFLOP give the fraction of the fp32 matmul peak measured in this run. --quick: 4 s
of audio, a 15 s corpus, batch 1, at most two rounds.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
import torch

from benchmarks.extract import _pieces
from benchmarks.reference import (
    Reference,
    ReferenceWorker,
    Row,
    flop_counter,
    in_fresh_process,
    print_row,
    side_by_side,
)
from benchmarks.reference_side.clock import StageClock
from benchmarks.rift import matmul_peak_gflops
from benchmarks.rvc_train import BATCH, make_batch
from timbrel import api
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.dataset.rvc import RVCExperiment
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.extract_rvc import LEDGER_FOLDER, RVCExtractConfig
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.models.rvc.retrieval import build_index
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.models.rvc.training import RVCTrainTask
from timbrel.nn.step_context import StepContext
from timbrel.train.rvc import RVCTrainConfig, build_models
from timbrel.weights.hubert_folder import write_hubert_folder
from timbrel.weights.rvc import TrainingCheckpoint, write_training_checkpoint, write_voice_model
from timbrel.weights.rvc_index import write_index

CONVERSION = "RVC v2-40k conversion, {:g} s, pm, index 0.5"
EXTRACTION = "HuBERT features as `timbrel extract` runs them on a folder, model load included"
TRAINING = "RVC training step, v2-40k f0, batch {}"
QUICK_ROUNDS = 2
LOSS_NAMES = ("loss_disc", "loss_gen", "loss_fm", "loss_mel", "loss_kl", "loss_gen_all")
# The reference trains v2 at 40 kHz with its v1 config file (v2 has none for 40k).
REFERENCE_TRAIN_CONFIG = "configs/v1/40k.json"


def run(quick: bool = False, reference: Reference | None = None, rounds: int = 3) -> list[Row]:
    measured = reference is not None and reference.rvc is not None
    rounds = min(rounds, QUICK_ROUNDS) if quick else rounds
    peak = matmul_peak_gflops()
    print(f"fp32 matmul peak in this run: {peak:.0f} GFLOP/s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="timbrel-versus-rvc-") as folder:
        hubert = write_hubert_folder(
            Path(folder) / "hubert_base", _seeded(HubertModel, HubertConfig.base(), 1)
        )
        for make_row in (_conversion_row, _extraction_row, _training_row):
            row = in_fresh_process(
                make_row, Path(folder), hubert, quick, reference if measured else None, rounds
            )
            print_row(row, peak)
            rows.append(row)
    return rows


def _seeded(cls, config, seed: int):
    torch.manual_seed(seed)
    return cls(config).eval()


def _worker(reference: Reference | None, workload: str, **params) -> ReferenceWorker | None:
    return None if reference is None else ReferenceWorker(reference, "rvc", workload, **params)


def _measure(name: str, ours, worker: ReferenceWorker | None, rounds: int, flop=None) -> Row:
    try:
        return side_by_side(name, ours, worker, rounds, flop)
    finally:
        if worker is not None:
            worker.close()


def counted_gflop(module: torch.nn.Module, run: Callable[[], object]) -> float:
    """GFLOP of ``module``'s forward calls (all of them) while ``run`` runs."""
    counter = flop_counter()

    def enter(*_) -> None:
        counter.__enter__()

    def leave(*_) -> None:
        counter.__exit__(None, None, None)

    hooks = [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return counter.get_total_flops() / 1e9


# Conversion ---------------------------------------------------------------------------------


def _conversion_row(folder: Path, hubert: Path, quick: bool, reference: Reference | None, rounds: int) -> Row:
    config = SynthesizerConfig.preset("v2", 40000, True)
    model = folder / "voice.pth"
    write_voice_model(model, config, _seeded(Synthesizer, config, 0).state_dict())
    features = np.random.default_rng(0).standard_normal((2000 if quick else 20000, 768)).astype(np.float32)
    index = folder / "added_voice.index"
    write_index(index, build_index(features)[1])
    seconds = 4.0 if quick else 10.0
    audio = sing_recording(SINGERS[0], seconds, 16000, seed=3).mono.astype(np.float32)
    np.save(folder / "input.npy", audio)
    options = RVCConvertOptions(f0_method="pm", index_rate=0.5)

    voice = api.load(model, index=index, hubert=hubert)
    assert isinstance(voice, RVCVoice)
    clock = StageClock()
    clock.time_module("content", voice.content_model)
    synthesizer = voice.synthesizer
    for stage, module in (("text encoder", synthesizer.enc_p), ("flow", synthesizer.flow)):
        clock.time_module(stage, module)
    # FlopCounterMode's module tracker cannot follow parameters that require grad in inference mode.
    synthesizer.requires_grad_(False)
    decoder_gflop = counted_gflop(synthesizer.dec, lambda: voice.convert_16k(audio, options))
    synthesizer.requires_grad_(True)
    clock.time_module("decoder", synthesizer.dec)
    pitch = voice.pitch_extractor
    assert pitch is not None

    def timed_pitch(method: str):
        extractor = pitch(method)
        return _Timed(extractor, clock)

    voice.pitch_extractor = timed_pitch

    def ours(output: Path) -> dict[str, float]:
        clock.restart()
        np.save(output, voice.convert_16k(audio, options))
        return dict(clock.seconds)

    worker = _worker(
        reference,
        "conversion",
        model=str(model),
        hubert=str(hubert),
        index=str(index),
        audio=str(folder / "input.npy"),
        f0_method=options.f0_method,
        index_rate=options.index_rate,
        protect=options.protect,
        rms_mix_rate=options.rms_mix_rate,
    )
    return _measure(CONVERSION.format(seconds), ours, worker, rounds, {"decoder": decoder_gflop})


class _Timed:
    """A pitch extractor whose extract() time goes to the clock's "pitch" stage."""

    def __init__(self, extractor, clock: StageClock):
        self.extractor, self.clock = extractor, clock

    def extract(self, audio):
        self.clock.begin()
        result = self.extractor.extract(audio)
        self.clock.close("pitch")
        return result


# Feature extraction -------------------------------------------------------------------------


def _extraction_row(folder: Path, hubert: Path, quick: bool, reference: Reference | None, rounds: int) -> Row:
    experiment = RVCExperiment(folder / "experiment")
    experiment.wavs_16k.mkdir(parents=True)
    for i, piece in enumerate(_pieces(15.0 if quick else 60.0)):
        soundfile.write(experiment.wavs_16k / f"0_{i}.wav", piece, 16000, subtype="FLOAT")
    features = experiment.features("v2")

    def ours(output: Path) -> dict[str, float]:
        shutil.rmtree(features, ignore_errors=True)
        shutil.rmtree(experiment.root / LEDGER_FOLDER, ignore_errors=True)
        api.extract_rvc(experiment.root, RVCExtractConfig(version="v2", f0_method=None), hubert=hubert)
        np.save(output, np.concatenate([np.load(p) for p in sorted(features.glob("*.npy"))]))
        return {}

    worker = _worker(reference, "extract", experiment=str(experiment.root), hubert=str(hubert))
    return _measure(EXTRACTION, ours, worker, rounds)


# Training -----------------------------------------------------------------------------------


def _training_row(folder: Path, hubert: Path, quick: bool, reference: Reference | None, rounds: int) -> Row:
    del hubert
    size = 1 if quick else BATCH
    fresh = RVCTrainConfig()
    generator, discriminator = build_models(fresh)
    paths = {"G": folder / "G_1.pth", "D": folder / "D_1.pth"}
    for name, model in (("G", generator), ("D", discriminator)):
        state = {key: value.detach() for key, value in model.state_dict().items()}
        write_training_checkpoint(paths[name], TrainingCheckpoint(state, 1, None, fresh.optim.learning_rate))
    del generator, discriminator
    draws = ("slice_rand", "noise_posterior", "noise_nsf")  # without them the step draws nothing
    batch = {key: value for key, value in make_batch(fresh, size).items() if key not in draws}
    torch.save(batch, folder / "batch.pt")

    config = RVCTrainConfig(pretrained_g=paths["G"], pretrained_d=paths["D"])
    flop = _step_gflop(config, batch)
    generator, discriminator = build_models(config)
    task = RVCTrainTask(generator, discriminator, config.spectrogram_config(), StepContext(), config.optim)
    clock = StageClock()
    clock.time_training_step(discriminator, task.optimizer_d, task.optimizer_g)
    first_losses: list[np.ndarray] = []

    def ours(output: Path) -> dict[str, float]:
        clock.restart()
        figures = task.step(batch, len(first_losses))
        if not first_losses:  # later rounds start from stepped weights: the first step is compared
            first_losses.append(np.array([figures[name] for name in LOSS_NAMES]))
        np.save(output, first_losses[0])
        return dict(clock.seconds)

    worker = _worker(
        reference,
        "training_step",
        config=REFERENCE_TRAIN_CONFIG,
        generator=str(paths["G"]),
        discriminator=str(paths["D"]),
        batch=str(folder / "batch.pt"),
    )
    return _measure(TRAINING.format(size), ours, worker, rounds, flop)


def _step_gflop(config: RVCTrainConfig, batch: dict) -> dict[str, float]:
    """Matmul and convolution GFLOP of one training step by stage (forward and backward, as
    PyTorch's FLOP counter counts them), on a copy of the models so that the timed step is the
    first."""
    generator, discriminator = build_models(config)
    task = RVCTrainTask(generator, discriminator, config.spectrogram_config(), StepContext(), config.optim)
    with flop_counter() as counter:
        clock = StageClock(meter=lambda: counter.get_total_flops() / 1e9)
        clock.time_training_step(discriminator, task.optimizer_d, task.optimizer_g)
        task.step(batch, 0)
    return {stage: gflop for stage, gflop in clock.seconds.items() if gflop > 0}
