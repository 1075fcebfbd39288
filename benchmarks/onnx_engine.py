"""RVC conversion through the ONNX engine (the synthesizer in onnxruntime) against the torch engine,
with a full-size v2-40k f0 model (random weights) on synthetic singing, in the same run.

Both engines share everything but the synthesizer (HuBERT, pm pitch, no index), so the whole
conversion and the synthesizer alone are timed; the engines take turns over the rounds and each
keeps its fastest, because the shared machine's load changes by the minute.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.rvc_convert import _models, _pitch, _wall_and_cpu
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.weights.onnx_graphs import OnnxSynthesizer, export_rvc_synthesizer, rvc_example_inputs

ROUNDS = 2


def _synthesizer_seconds(synthesizer, frames: int) -> float:
    inputs = rvc_example_inputs(synthesizer.config, frames, torch.Generator().manual_seed(0))
    start = time.perf_counter()
    with torch.inference_mode():
        synthesizer.infer(
            inputs["phone"], inputs["phone_lengths"], inputs["pitch"], inputs["pitchf"], inputs["ds"]
        )
    return time.perf_counter() - start


def run(quick: bool = False) -> dict:
    torch.set_num_threads(2)
    seconds = 5.0 if quick else 30.0
    audio = sing_recording(SINGERS[0], seconds, 16000, seed=3).mono
    synthesizer, content = _models(fold=True)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        graph = export_rvc_synthesizer(synthesizer, Path(folder) / "synthesizer.onnx", "benchmark")
        export_s = time.perf_counter() - start
        onnx_synthesizer = OnnxSynthesizer.open(graph)
    provider = onnx_synthesizer.session.get_providers()[0]
    print(
        f"export of the full-size synthesizer: {export_s:.1f} s; onnxruntime provider {provider}", flush=True
    )
    pitch = _pitch(E2E(E2EConfig()).eval())
    engines = {
        "torch": RVCVoice(synthesizer, content, pitch, None),
        "onnx": RVCVoice(onnx_synthesizer, content, pitch, None),
    }
    options = RVCConvertOptions(f0_method="pm", index_rate=0.0)
    frames = int(seconds * 100)
    best = {name: math.inf for name in engines}
    best_cpu = dict(best)
    best_synth = dict(best)
    for voice in engines.values():
        voice.convert_16k(audio[:16000], options)  # warm-up
    for _ in range(ROUNDS):
        for name, voice in engines.items():
            wall, cpu = _wall_and_cpu(voice, audio, options)
            best[name], best_cpu[name] = min(best[name], wall), min(best_cpu[name], cpu)
            best_synth[name] = min(best_synth[name], _synthesizer_seconds(voice.synthesizer, frames))
    results = {
        "audio_s": seconds,
        "export_s": export_s,
        "provider": provider,
        "conversion_s": best,
        "conversion_cpu_s": best_cpu,
        "synthesizer_s": best_synth,
        "onnx_speedup_conversion": best["torch"] / best["onnx"],
        "onnx_speedup_synthesizer": best_synth["torch"] / best_synth["onnx"],
    }
    print(
        f"conversion of {seconds:.0f} s (pm, no index), best of {ROUNDS} alternating rounds: torch "
        f"{best['torch']:.1f} s, onnx {best['onnx']:.1f} s -> onnx {results['onnx_speedup_conversion']:.2f}x "
        f"(CPU s: torch {best_cpu['torch']:.1f}, onnx {best_cpu['onnx']:.1f})",
        flush=True,
    )
    print(
        f"synthesizer alone, {frames} frames: torch {best_synth['torch']:.2f} s, onnx "
        f"{best_synth['onnx']:.2f} s -> onnx {results['onnx_speedup_synthesizer']:.2f}x",
        flush=True,
    )
    return results
