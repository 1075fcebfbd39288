"""Evaluation throughput (audio-seconds per wall-second) per metric group on CPU.

Corpus: synthetic singing (timbrel.audio.synthesis). A tenor recording with the same seed as an
alto one sings the same melody with the same timing, 7 semitones lower: the tenor take is the
ideal conversion of the alto source (key shift -7) and serves as its parallel reference; the
"converted" file is that take with white noise 30 dB down, a stand-in for conversion artefacts.
Other tenor recordings complete the target speaker's references. Every metric group
is timed inside one evaluate_folder run; the baseline in this run is the cheapest group
(loudness), printed as the ratio of each group's cost to it. The reference implementations
have no evaluation stage, so there is no reference figure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.core.audio import Audio
from timbrel.eval.evaluate import METRIC_GROUPS, EvalConfig, evaluate_folder
from timbrel.features.pitch.pm import PmExtractor

SAMPLE_RATE = 44100
KEY_SHIFT_SEMITONES = -7.0  # tenor base_midi 55 - alto base_midi 62
ARTEFACT_SNR_DB = 30.0


def make_conversion_corpus(root: Path, files: int, seconds: float) -> tuple[Path, Path, Path]:
    """-> (converted, sources, references) folders of 16-bit WAV at 44.1 kHz."""
    alto, tenor = SINGERS
    converted, sources, references = root / "converted", root / "sources", root / "references"
    rng = np.random.default_rng(0)
    for k in range(files):
        io.save(sources / f"take{k}.wav", sing_recording(alto, seconds, SAMPLE_RATE, seed=k))
        ideal = sing_recording(tenor, seconds, SAMPLE_RATE, seed=k)
        io.save(references / f"take{k}.wav", ideal)
        noise = rng.standard_normal(ideal.samples.shape).astype(np.float32)
        noise *= np.sqrt(np.mean(ideal.samples**2) / np.mean(noise**2)) * 10 ** (-ARTEFACT_SNR_DB / 20)
        io.save(converted / f"take{k}.wav", Audio(np.clip(ideal.samples + noise, -1, 1), SAMPLE_RATE))
        io.save(references / f"other{k}.wav", sing_recording(tenor, seconds, SAMPLE_RATE, seed=1000 + k))
    return converted, sources, references


def run(quick: bool = False) -> dict:
    files, seconds = (2, 10.0) if quick else (6, 20.0)
    root = Path(tempfile.mkdtemp(prefix="timbrel-bench-eval-"))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the speaker LSTM is latency-bound; see the results' note
        converted, sources, references = make_conversion_corpus(root, files, seconds)
        config = EvalConfig(key_shift_semitones=KEY_SHIFT_SEMITONES)
        start = time.perf_counter()
        report = evaluate_folder(converted, sources, references, config, pitch_extractor=PmExtractor())
        total_s = time.perf_counter() - start
        audio_s = report.audio_s
        results: dict = {"audio_s": audio_s, "total_audio_s_per_s": audio_s / total_s}
        print(f"corpus: {len(report.files)} files, {audio_s:.0f} s of converted audio at 44.1 kHz")
        baseline = report.seconds_per_metric["loudness"]
        for group in METRIC_GROUPS:
            spent = report.seconds_per_metric[group]
            results[f"{group}_audio_s_per_s"] = audio_s / spent
            print(f"{group:9s} {audio_s / spent:8.1f} audio-s/s ({spent / baseline:6.1f}x loudness's cost)")
        print(f"all       {audio_s / total_s:8.1f} audio-s/s (with decoding, resampling, loading models and")
        print(f"          embedding {report.reference_count} reference clips once)")
        results["summary"] = report.summary
        return results
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(root, ignore_errors=True)
