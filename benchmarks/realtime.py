"""Realtime conversion: compute time per block / block time with a full-size v2-40k f0 model
(random weights), full-size HuBERT and RMVPE, for blocks of 0.1, 0.25 and 0.5 s with pm and
rmvpe (default settings otherwise: 50 ms crossfade, 2.5 s extra context), and with pm at 0.5 s of
extra context (what a CPU user lowers first: HuBERT reads the whole context every block). Below 1
keeps up.

Reports the median and 99th percentile ratio per configuration and, per f0 method, the smallest
block whose 99th percentile keeps up; on CUDA the same on the GPU. Timings on a shared machine
are not speed claims. --quick: 0.25 s blocks with pm only, a few blocks.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.rvc_convert import _models, _pitch
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.infer.streaming import StreamingConverter, StreamSettings
from timbrel.models.rvc.pipeline import RVCVoice

RATE = 40000


def _ratios(voice: RVCVoice, block_s: float, method: str, extra_s: float, n_blocks: int) -> list[float]:
    converter = StreamingConverter(voice, StreamSettings(block_s=block_s, f0_method=method, extra_s=extra_s))
    block = converter.geometry.block
    rng = np.random.default_rng(0)
    t = np.arange(block) / RATE
    converter.process_block(np.zeros(block, dtype=np.float32))  # one-off costs, as `live` does
    ratios = []
    for i in range(n_blocks):
        samples = 0.3 * np.sin(2 * np.pi * 220 * (t + i * block_s)) + 0.01 * rng.standard_normal(block)
        started = time.perf_counter()
        converter.process_block(samples.astype(np.float32))
        if voice.synthesizer.dec.conv_pre.weight.is_cuda:
            torch.cuda.synchronize()
        ratios.append((time.perf_counter() - started) / block_s)
    return ratios


def run(quick: bool = False) -> dict:
    synthesizer, content = _models(fold=True)
    rmvpe = E2E(E2EConfig()).eval()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    blocks = (0.25,) if quick else (0.1, 0.25, 0.5)
    default_extra = StreamSettings().extra_s
    methods = (
        (("pm", default_extra),) if quick else (("pm", default_extra), ("rmvpe", default_extra), ("pm", 0.5))
    )
    n_blocks = 3 if quick else 20
    results: dict = {}
    print("realtime (full-size v2-40k, random weights; timings under load are not speed claims)")
    print(f"{'device':6} {'f0':6} {'extra s':>8} {'block s':>8} {'median':>8} {'p99':>8}")
    for device in devices:
        voice = RVCVoice(synthesizer.to(device), content.to(device), _pitch(rmvpe.to(device)))
        for method, extra_s in methods:
            keeps_up = None
            for block_s in blocks:
                ratios = _ratios(voice, block_s, method, extra_s, n_blocks)
                median, p99 = float(np.median(ratios)), float(np.percentile(ratios, 99))
                results[f"{device}/{method}/{extra_s}/{block_s}"] = {"median": median, "p99": p99}
                print(
                    f"{device:6} {method:6} {extra_s:8.2f} {block_s:8.2f} {median:8.2f} {p99:8.2f}",
                    flush=True,
                )
                if keeps_up is None and p99 < 1:
                    keeps_up = block_s
            results[f"{device}/{method}/{extra_s}/smallest_block_keeping_up_s"] = keeps_up
            print(f"{device:6} {method:6} {extra_s:8.2f} smallest block keeping up (p99 < 1): {keeps_up}")
    return results
