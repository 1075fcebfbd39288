"""Conversion and extraction on a device (a GPU; the CPU when there is none): real-time factor,
throughput and peak device memory for each family and size at the default settings, every
precision the device runs (fp32 against fp16/bf16) in the same run.

    .venv/bin/python -m benchmarks devices --device cuda [--quick]

Full-size networks with random weights (their speed does not depend on the values), synthetic
singing as input. Peak memory is torch.cuda.max_memory_allocated over each workload (models
included); off CUDA it is not measured. The CPU figures of the other groups stay as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.core import device as devices
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.content.rvc import rvc_content
from timbrel.features.pitch import registry
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.pipeline import RIFTConvertOptions, RIFTNoise, RIFTVoice
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.nn.legacy_weight_norm import remove_weight_norm
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig

PIECE_S = 3.7  # RVC preparation's piece length
RIFT_SIZES = ("dit-512-8", "dit-768-12", "dit-1024-16")


def _timed(device: torch.device, function: Callable[[], object], repeats: int, warm_up: bool) -> float:
    """Fastest of ``repeats`` calls (after one warm-up: lazy initialisation, cuDNN's algorithm
    search), in seconds, kernels waited for."""
    if warm_up:
        function()
    best = float("inf")
    for _ in range(repeats):
        devices.synchronize(device)
        start = time.perf_counter()
        function()
        devices.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def _measure(
    device: torch.device, build: Callable[[], Callable[[], object]], repeats: int, warm_up: bool
) -> tuple[float, int | None]:
    """(seconds, peak device bytes) of the workload ``build`` returns, models built inside the window."""
    devices.release_memory(device)
    devices.reset_peak_memory(device)
    with device:  # parameters are created where they run (random initialisation is slow on a CPU)
        workload = build()
    seconds = _timed(device, workload, repeats, warm_up)
    peak = devices.peak_memory_bytes(device)
    del workload
    devices.release_memory(device)
    return seconds, peak


def _rvc_conversion(device: torch.device, audio_16k: np.ndarray, precision: str):
    def build():
        torch.manual_seed(0)
        synthesizer = Synthesizer(SynthesizerConfig.preset("v2", 40000, True), with_posterior=False).eval()
        remove_weight_norm(synthesizer)
        rmvpe = registry.create("rmvpe", network=E2E(E2EConfig()).eval().to(device))
        voice = RVCVoice(
            synthesizer.to(device), HubertModel(HubertConfig.base()).eval().to(device), lambda method: rmvpe
        )
        options = RVCConvertOptions(f0_method="rmvpe", index_rate=0.0, precision=precision)
        return lambda: voice.convert_16k(audio_16k, options)

    return build


def _rift_conversion(device: torch.device, audio, preset: str, precision: str, quick: bool):
    def build():
        torch.manual_seed(0)
        voice = RIFTVoice(
            DiT(DiTConfig.preset(preset, num_speakers=1)).eval().to(device),
            {"singer": 0},
            NsfHifiGan(NsfHifiGanConfig()).eval().to(device),
            HubertModel(HubertConfig.base()).eval().to(device),
            RmvpeExtractor(E2E(E2EConfig()).to(device), RmvpeConfig.rift()),
        )
        options = RIFTConvertOptions(precision=precision, infer_steps=2 if quick else 32)
        return lambda: voice.convert(audio, options, RIFTNoise(generator=torch.Generator().manual_seed(0)))

    return build


def _hubert_extraction(device: torch.device, pieces: torch.Tensor, precision: str):
    def build():
        model = HubertModel(HubertConfig.base()).eval().to(device)
        batch = pieces.to(device)

        @torch.inference_mode()
        def extract():
            with devices.autocast(device, precision):
                return rvc_content(model, batch, "v2").float().cpu()

        return extract

    return build


def _rmvpe_extraction(device: torch.device, pieces: torch.Tensor, precision: str):
    def build():
        extractor = RmvpeExtractor(E2E(E2EConfig()).eval().to(device))
        batch = pieces.numpy()

        def extract():
            with devices.autocast(device, precision):
                return extractor.extract_batch(batch)

        return extract

    return build


def run(quick: bool = False, device: str = "auto") -> dict:
    placement = devices.resolve(device, "fp32", say=print)
    on = placement.device
    precisions = devices.allowed_precisions(on)
    # --quick (the CPU dry run) checks that every workload runs, not how fast: one short pass each
    seconds = 1.5 if quick else 10.0
    repeats = 1 if quick else 2
    print(f"device: {devices.describe_device(on)}; {devices.what_torch_sees()}", flush=True)
    song = sing_recording(SINGERS[0], seconds, 44100, seed=3)
    song_16k = sing_recording(SINGERS[0], seconds, 16000, seed=3).mono
    n_pieces = 2 if quick else 16
    piece = int(PIECE_S * 16000)
    corpus = sing_recording(SINGERS[1], PIECE_S * n_pieces, 16000, seed=5).mono[: n_pieces * piece]
    pieces = torch.from_numpy(np.ascontiguousarray(corpus, dtype=np.float32)).reshape(n_pieces, piece)
    corpus_s = n_pieces * PIECE_S

    workloads: list[tuple[str, str, float, Callable]] = []
    for precision in precisions:
        workloads.append(
            ("RVC v2-40k conversion, rmvpe", precision, seconds, _rvc_conversion(on, song_16k, precision))
        )
    for preset in RIFT_SIZES[:1] if quick else RIFT_SIZES:
        for precision in precisions:
            workloads.append(
                (
                    f"RIFT {preset} conversion, defaults",
                    precision,
                    seconds,
                    _rift_conversion(on, song, preset, precision, quick),
                )
            )
    for precision in precisions:
        workloads.append(
            (
                f"HuBERT features, batch {n_pieces}",
                precision,
                corpus_s,
                _hubert_extraction(on, pieces, precision),
            )
        )
        workloads.append(
            (f"RMVPE f0, batch {n_pieces}", precision, corpus_s, _rmvpe_extraction(on, pieces, precision))
        )

    rows = []
    fp32_seconds: dict[str, float] = {}
    for name, precision, audio_s, build in workloads:
        elapsed, peak = _measure(on, build, repeats, warm_up=not quick)
        if precision == "fp32":
            fp32_seconds[name] = elapsed
        rows.append(
            {
                "workload": name,
                "precision": precision,
                "audio_s": audio_s,
                "seconds": elapsed,
                "rtf": elapsed / audio_s,
                "audio_s_per_s": audio_s / elapsed,
                "speedup_vs_fp32": fp32_seconds[name] / elapsed,
                "peak_device_mb": None if peak is None else peak / 2**20,
            }
        )
        print(_format_row(rows[-1]), flush=True)
    if quick:
        print("--quick: one cold pass of each, short inputs: the figures show that it runs, not its speed")
    print("\n" + table(rows), flush=True)
    return {"device": devices.describe_device(on), "rows": rows}


def _format_row(row: dict) -> str:
    peak = "not measured" if row["peak_device_mb"] is None else f"{row['peak_device_mb']:.0f} MB"
    return (
        f"{row['workload']} [{row['precision']}]: RTF {row['rtf']:.3f}, "
        f"{row['audio_s_per_s']:.1f} audio-s/s, {row['speedup_vs_fp32']:.2f}x fp32, peak device memory {peak}"
    )


def table(rows: list[dict]) -> str:
    """The rows as one Markdown table."""
    lines = [
        "| workload | precision | RTF | audio-s/s | vs fp32 | peak device MB |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        peak = "—" if row["peak_device_mb"] is None else f"{row['peak_device_mb']:.0f}"
        lines.append(
            f"| {row['workload']} | {row['precision']} | {row['rtf']:.3f} | {row['audio_s_per_s']:.1f} "
            f"| {row['speedup_vs_fp32']:.2f}x | {peak} |"
        )
    return "\n".join(lines)
