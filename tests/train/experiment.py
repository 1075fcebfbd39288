"""A small prepared and extracted RVC experiment for training tests: a generated corpus,
prepared at 32 kHz (the tiny model's rate), pm f0 and the end-to-end fixture's tiny HuBERT (768-d)."""

from __future__ import annotations

from pathlib import Path

from timbrel import api
from timbrel.audio.synthesis import SINGERS, make_corpus
from timbrel.dataset.rvc import RVCPrepareConfig
from timbrel.features.extract_rvc import RVCExtractConfig


def make_experiment(fixtures: Path, folder: Path, seconds: float) -> Path:
    corpus = make_corpus(
        folder / "corpus", seconds_per_singer=seconds, sample_rate=32000, singers=SINGERS[:1]
    )
    experiment = folder / "exp"
    api.prepare_rvc(corpus[0].parent, experiment, RVCPrepareConfig(sample_rate=32000, piece_s=3.0), workers=1)
    api.extract_rvc(experiment, RVCExtractConfig("v2", "pm"), hubert=fixtures / "rvc" / "e2e" / "hubert")
    return experiment
