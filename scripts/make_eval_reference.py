"""Write tests/eval/data/eval_reference.npz: outputs of the real Resemblyzer and speechmos packages.

Run once by hand in an environment that has them (they need librosa, and Resemblyzer imports
webrtcvad at import time although embed_utterance never uses it, so a stub module stands in):

    pip install --no-deps resemblyzer==0.1.4 speechmos==0.0.1.1 && pip install librosa onnxruntime
    PYTHONPATH=.:src python scripts/make_eval_reference.py

Stored: ``samples_int16`` (a 4.6 s speech-like clip at 16 kHz from tests/eval/signals.py, as
int16 so the tests read exactly the samples the packages saw, /32768), Resemblyzer's
``embed_utterance`` of it (no preprocessing), and speechmos ``dnsmos.run`` SIG/BAK/OVRL of the
clip and of the clip repeated three times (several scoring windows).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
from tests.eval.signals import vowel

OUT = Path(__file__).resolve().parents[1] / "tests" / "eval" / "data" / "eval_reference.npz"


def main() -> None:
    sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))
    import resemblyzer
    from speechmos import dnsmos

    samples_int16 = np.round(vowel(4.6, 16000) * 32768).astype(np.int16)
    samples = samples_int16.astype(np.float32) / 32768
    embedding = resemblyzer.VoiceEncoder(device="cpu", verbose=False).embed_utterance(samples)
    scores = []
    for clip in (samples, np.tile(samples, 3)):
        result = dnsmos.run(clip, 16000)
        scores.append([result["sig_mos"], result["bak_mos"], result["ovrl_mos"]])
    np.savez(
        OUT,
        samples_int16=samples_int16,
        resemblyzer_embedding=embedding.astype(np.float32),
        dnsmos_sig_bak_ovrl=np.array(scores, dtype=np.float64),
        dnsmos_clip_repeats=np.array([1, 3]),
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
