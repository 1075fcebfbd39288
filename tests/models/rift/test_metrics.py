"""RIFT validation metrics against the reference's metrics.py."""

from __future__ import annotations

import pytest
import torch

from timbrel.models.rift.metrics import METRICS


@pytest.fixture(scope="module")
def reference(fixtures):
    return torch.load(fixtures / "rift" / "features" / "metrics.pt", weights_only=True)


def pairs(reference):
    return zip(reference["est"], reference["tgt"], strict=True)


@pytest.mark.parametrize("name", ["mcd", "psnr", "si_snr"])
def test_per_item_metrics_match(reference, name):
    values = torch.stack([METRICS[name](e, t) for e, t in pairs(reference)])
    torch.testing.assert_close(values.float(), reference[name], atol=1e-4, rtol=1e-5)


def test_mse_matches(reference):
    values = torch.stack([METRICS["mse"](e, t) for e, t in pairs(reference)])
    torch.testing.assert_close(values.mean().float(), reference["mse"], atol=1e-6, rtol=1e-6)


def test_identical_arrays():
    x = torch.linspace(-12, 2, 60).reshape(5, 12)
    assert METRICS["mcd"](x, x) == 0 and METRICS["mse"](x, x) == 0
    assert METRICS["si_snr"](x, x) > 80
