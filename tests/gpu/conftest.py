"""The device the `gpu` tests run on: the first CUDA GPU.

Without one they skip with what torch sees (and fail under CI=true, where nothing may skip
silently). TIMBREL_GPU_TESTS_DEVICE=cpu runs them through the same code on the CPU instead: the
dry run of scripts/gpu-check.sh, which checks that they are sound before a GPU session spends
its time on them (fp16 cases skip there: the CPU has no fp16 autocast worth the name).
"""

from __future__ import annotations

import os

import pytest
import torch

from timbrel.core import device as devices

DEVICE_VARIABLE = "TIMBREL_GPU_TESTS_DEVICE"


@pytest.fixture(scope="session")
def device() -> torch.device:
    name = os.environ.get(DEVICE_VARIABLE, "cuda")
    if name == "cuda" and not devices.cuda_available():
        message = f"needs a CUDA GPU: {devices.what_torch_sees()} (or set {DEVICE_VARIABLE}=cpu)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return devices.resolve(name, "fp32").device


@pytest.fixture
def placement_for(device):
    """precision -> that precision on the test device, skipping (with the reason) where it cannot run."""

    def placement(precision: str) -> devices.Placement:
        allowed = devices.allowed_precisions(device)
        if precision not in allowed:
            pytest.skip(f"{precision} does not run on {device} (allowed: {', '.join(allowed)})")
        return devices.Placement(device, precision)

    return placement
