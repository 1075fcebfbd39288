"""Legacy weight-norm layers: reference state-dict layout and exact folding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from timbrel.nn.legacy_weight_norm import WeightNormConv1d, WeightNormConvTranspose1d, remove_weight_norm


@pytest.mark.filterwarnings("ignore:.*weight_norm.*deprecated:FutureWarning")
def test_state_dict_layout_matches_torch_legacy_weight_norm():
    torch.manual_seed(0)
    ours = WeightNormConv1d(4, 6, 3, padding=1)
    legacy = nn.utils.weight_norm(nn.Conv1d(4, 6, 3, padding=1))
    assert list(ours.state_dict()) == list(legacy.state_dict()) == ["bias", "weight_g", "weight_v"]
    ours.load_state_dict(legacy.state_dict(), strict=True)
    x = torch.randn(2, 4, 9)
    assert torch.equal(ours(x), legacy(x))


@pytest.mark.filterwarnings("ignore:.*weight_norm.*deprecated:FutureWarning")
def test_transposed_norms_are_per_input_channel():
    torch.manual_seed(0)
    ours = WeightNormConvTranspose1d(8, 4, 16, 8, padding=4)
    legacy = nn.utils.weight_norm(nn.ConvTranspose1d(8, 4, 16, 8, padding=4))
    assert ours.weight_g.shape == legacy.weight_g.shape == (8, 1, 1)
    ours.load_state_dict(legacy.state_dict(), strict=True)
    x = torch.randn(1, 8, 5)
    assert torch.equal(ours(x), legacy(x))


def test_fold_keeps_outputs_and_replaces_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(
        WeightNormConv1d(3, 5, 3), nn.ReLU(), WeightNormConvTranspose1d(5, 2, 4, 2, padding=1)
    )
    with torch.no_grad():
        model[0].weight_g.mul_(1.7)
    x = torch.randn(2, 3, 11)
    before = model(x)
    remove_weight_norm(model)
    remove_weight_norm(model)  # folding twice is harmless
    assert torch.equal(model(x), before)
    assert sorted(model.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
