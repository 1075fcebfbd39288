"""Consonant protection mix."""

from __future__ import annotations

import pytest
import torch

from timbrel.models.rvc.protect import protect_unvoiced


def test_unvoiced_frames_mix_toward_unretrieved_features():
    features = torch.ones(1, 4, 3)
    unretrieved = torch.zeros(1, 4, 3)
    f0_hz = torch.tensor([[0.0, 0.5, 1.0, 220.0]])
    out = protect_unvoiced(features, unretrieved, f0_hz, 0.33)
    assert torch.allclose(out[0, :, 0], torch.tensor([0.33, 0.33, 1.0, 1.0]))


def test_half_is_off_and_out_of_range_is_refused():
    features = torch.randn(1, 5, 2)
    assert protect_unvoiced(features, torch.zeros_like(features), torch.zeros(1, 5), 0.5) is features
    with pytest.raises(ValueError, match=r"0\.7"):
        protect_unvoiced(features, features, torch.zeros(1, 5), 0.7)
