"""A small prepared and extracted RVC experiment for training tests: a generated corpus,
prepared at 32 kHz (the tiny model's rate), pm f0 and the end-to-end fixture's tiny HuBERT, with the
features of the end-to-end voice model's version (the public set's: v2, 768-d)."""

from __future__ import annotations

from pathlib import Path

from tests.models.rvc.test_pipeline import e2e_version
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
    config = RVCExtractConfig(e2e_version(fixtures / "rvc" / "e2e"), "pm")
    api.extract_rvc(experiment, config, hubert=fixtures / "rvc" / "e2e" / "hubert")
    return experiment


def extracted_version(experiment: Path) -> str:
    """The version whose features ``make_experiment`` extracted (v1: 3_feature256, v2: 3_feature768)."""
    return "v1" if (experiment / "3_feature256").is_dir() else "v2"
