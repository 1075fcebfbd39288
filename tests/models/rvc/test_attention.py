"""The banded relative attention equals the reference's full-table formulation (VITS skew trick)."""

from __future__ import annotations

import pytest
import torch
from benchmarks.rvc_convert import reference_attention

from timbrel.models.rvc import attention
from timbrel.models.rvc.attention import RelativeSelfAttention


@pytest.mark.parametrize("length", [1, 2, 7, 11, 12, 37])
def test_banded_equals_reference_formulation(length):
    torch.manual_seed(length)
    attn = RelativeSelfAttention(channels=16, n_heads=2, window_size=10)
    x = torch.randn(3, 16, length)
    lengths = torch.tensor([length, max(1, length - 3), max(1, length // 2)])
    valid = torch.arange(length)[None, :] < lengths[:, None]
    x_mask = valid[:, None, :].float()
    x = x * x_mask

    ours = attn(x, valid) * x_mask
    ours.pow(2).sum().backward()
    grads_ours = {n: p.grad.clone() for n, p in attn.named_parameters()}
    attn.zero_grad()
    ref = reference_attention(attn, x, valid) * x_mask
    ref.pow(2).sum().backward()

    assert (ours - ref).abs().max().item() <= 1e-5
    for name, param in attn.named_parameters():
        assert torch.allclose(grads_ours[name], param.grad, rtol=1e-4, atol=1e-5), name


def test_unpadded_batch_needs_no_mask():
    torch.manual_seed(0)
    attn = RelativeSelfAttention(channels=16, n_heads=2)
    x = torch.randn(2, 16, 25)
    full = torch.ones(2, 25, dtype=torch.bool)
    assert torch.equal(attn(x, None), attn(x, full))


def _attention_and_half_padded_batch(length: int):
    """A seeded attention and a batch of two: one whole, one padded after its first half."""
    torch.manual_seed(length)
    attn = RelativeSelfAttention(channels=16, n_heads=2, window_size=10)
    x = torch.randn(2, 16, length)
    valid = torch.ones(2, length, dtype=torch.bool)
    valid[1, length // 2 + 1 :] = False
    return attn, x, valid


@pytest.mark.parametrize("length", [1, 2, 11, 12, 40])
def test_the_exported_form_of_the_band_gives_the_same_numbers(length, monkeypatch):
    """Graph export takes the pad-and-reshape route (no writes through diagonal views)."""
    attn, x, valid = _attention_and_half_padded_batch(length)
    with torch.no_grad():
        diagonal = attn(x, valid)
        monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
        reshaped = attn(x, valid)
    assert torch.equal(diagonal, reshaped)


@pytest.mark.parametrize("length", [5, 12, 37])
def test_query_blocks_give_the_one_block_numbers(length, monkeypatch):
    """Long chunks attend a block of query rows at a time; blocks shorter than the window, and
    a last block within the window of the end, must give the same scores and band terms."""
    attn, x, valid = _attention_and_half_padded_batch(length)
    with torch.no_grad():
        whole = attn(x, valid)
        for rows in (1, 3, 8):
            monkeypatch.setattr(attention, "QUERY_BLOCK_ROWS", rows)
            assert torch.allclose(attn(x, valid), whole, rtol=0, atol=1e-6), rows
