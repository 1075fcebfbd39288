"""Fixtures for the eval tests: the pm pitch extractor and the shipped weight files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require, require_module
from timbrel.features.pitch import registry
from timbrel.features.pitch.base import PitchExtractor
from timbrel.weights.cache import MissingWeightError


@pytest.fixture(scope="session")
def pm_pitch() -> PitchExtractor:
    """The product's pm (Praat) extractor, by name, the default of timbrel eval (--pitch-method pm)."""
    return registry.create("pm")


@pytest.fixture(scope="session")
def reference_data() -> dict[str, np.ndarray]:
    """Outputs of the real Resemblyzer and speechmos; see scripts/make_eval_reference.py."""
    with np.load(Path(__file__).parent / "data" / "eval_reference.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def voice_encoder():
    from timbrel.eval.speaker import ResemblyzerEncoder

    try:
        return ResemblyzerEncoder.load()
    except MissingWeightError as error:
        require(False, str(error))


@pytest.fixture(scope="session")
def dnsmos_session():
    require_module("onnxruntime", "DNSMOS needs the [eval] extra")
    from timbrel.weights.dnsmos import load_dnsmos

    try:
        return load_dnsmos(threads=1)
    except MissingWeightError as error:
        require(False, str(error))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The small LSTM gains nothing from a second thread, and on a loaded 2-core machine torch's
    thread pool spins: one thread runs these tests about 50x faster there."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
