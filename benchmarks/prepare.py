"""Dataset preparation throughput (audio-seconds per wall-second), both styles, 1 and 2 workers.

Baseline in this run: the same preparation with one worker. The reference's preparation is not
measured here.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import soundfile

from benchmarks.reference import NOT_MEASURED
from timbrel import api
from timbrel.audio.synthesis import make_corpus
from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig
from timbrel.dataset.rvc import RVCPrepareConfig


def run(quick: bool = False) -> dict:
    minutes = 2.0 if quick else 10.0
    root = Path(tempfile.mkdtemp(prefix="timbrel-bench-prepare-"))
    try:
        corpus = root / "corpus"
        make_corpus(corpus, seconds_per_singer=minutes * 30.0, sample_rate=44100, recording_s=30.0)
        audio_s = sum(soundfile.info(str(p)).duration for p in corpus.rglob("*.wav"))
        flat = root / "flat"
        flat.mkdir()
        for path in corpus.rglob("*.wav"):
            shutil.copy(path, flat / path.name)
        results = {"audio_s": audio_s}
        print(f"corpus: {audio_s:.0f} s of synthetic singing at 44.1 kHz")
        for style in ("rvc", "rift"):
            for workers in (1, 2):
                out = root / f"{style}-{workers}"
                start = time.perf_counter()
                if style == "rvc":
                    api.prepare_rvc(flat, out, RVCPrepareConfig(), workers)
                else:
                    api.prepare_rift(corpus, out, RIFTPrepareConfig(), SplitConfig(num_test=2), workers)
                seconds = time.perf_counter() - start
                results[f"{style}_{workers}w_audio_s_per_s"] = audio_s / seconds
            one, two = results[f"{style}_1w_audio_s_per_s"], results[f"{style}_2w_audio_s_per_s"]
            line = f"{style}: 1 worker {one:.0f} audio-s/s, 2 workers {two:.0f} audio-s/s ({two / one:.2f}x)"
            if style == "rvc":
                line += f"; {NOT_MEASURED}"
            print(line, flush=True)
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)
