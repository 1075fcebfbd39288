"""Feature extraction throughput (audio-seconds per wall-second) on a generated corpus, CPU.

Pitch methods (pm, harvest, dio, rmvpe, crepe-tiny, fcpe) and content encoders (HuBERT base and
RVC's v1 projection, random full-size weights) on 16 kHz pieces of 3.7 s as preparation writes
them. Baseline in the same run: the reference's way of running the networks, one piece at a time
(batch 1); ours batches equal-length pieces. The reference's own extraction is measured beside
Timbrel's by the versus_rvc group, not here.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.reference import NOT_MEASURED
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.content.rvc import rvc_content
from timbrel.features.pitch import registry
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.weights.crepe import crepe_extractor
from timbrel.weights.fcpe import fcpe_extractor

PIECE_SAMPLES = int(3.7 * 16000)


def _pieces(total_s: float) -> np.ndarray:
    """(n, PIECE_SAMPLES) float32 pieces of synthetic singing."""
    audio = np.concatenate(
        [sing_recording(s, total_s / 2, 16000, seed=i).mono for i, s in enumerate(SINGERS)]
    )
    count = len(audio) // PIECE_SAMPLES
    return audio[: count * PIECE_SAMPLES].reshape(count, PIECE_SAMPLES)


def _rate(pieces: np.ndarray, seconds: float) -> float:
    return pieces.size / 16000 / seconds


def run(quick: bool = False) -> dict:
    torch.set_num_threads(2)
    pieces = _pieces(60.0 if quick else 300.0)
    results: dict = {"audio_s": pieces.size / 16000}
    print(f"corpus: {pieces.size / 16000:.0f} s in {len(pieces)} pieces of 3.7 s at 16 kHz", flush=True)

    rmvpe = registry.create("rmvpe", network=E2E(E2EConfig()).eval())
    extractors = {
        "pm": registry.create("pm"),
        "harvest": registry.create("harvest"),
        "dio": registry.create("dio"),
        "rmvpe": rmvpe,
        "crepe-tiny": crepe_extractor("tiny"),
        "fcpe": fcpe_extractor(),
    }
    subset = pieces[: max(2, len(pieces) // 4)] if quick else pieces
    for name, extractor in extractors.items():
        chosen = subset[:4] if name in ("harvest", "crepe-tiny") else subset
        start = time.perf_counter()
        for piece in chosen:
            extractor.extract(piece)
        results[f"f0_{name}"] = _rate(chosen, time.perf_counter() - start)
        print(f"f0 {name}: {results[f'f0_{name}']:.1f} audio-s/s", flush=True)
    start = time.perf_counter()
    for index in range(0, len(subset), 8):
        rmvpe.extract_batch(subset[index : index + 8])
    results["f0_rmvpe_batched"] = _rate(subset, time.perf_counter() - start)
    print(f"f0 rmvpe, batches of 8: {results['f0_rmvpe_batched']:.1f} audio-s/s", flush=True)

    hubert = HubertModel(HubertConfig.base()).eval()
    for version in ("v1", "v2"):
        with torch.inference_mode():
            start = time.perf_counter()
            for piece in subset:
                rvc_content(hubert, torch.from_numpy(piece)[None], version)
            one_at_a_time = _rate(subset, time.perf_counter() - start)
            start = time.perf_counter()
            for index in range(0, len(subset), 8):
                rvc_content(hubert, torch.from_numpy(subset[index : index + 8]), version)
            batched = _rate(subset, time.perf_counter() - start)
        results[f"hubert_{version}"] = {"batch_1": one_at_a_time, "batch_8": batched}
        print(
            f"HuBERT {version}: batch 1 {one_at_a_time:.1f} audio-s/s, batch 8 {batched:.1f} audio-s/s "
            f"({batched / one_at_a_time:.2f}x); {NOT_MEASURED} (see versus_rvc)",
            flush=True,
        )
    return results
