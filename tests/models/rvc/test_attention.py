"""The banded relative attention equals the reference's full-table formulation (VITS skew trick)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from timbrel.models.rvc.attention import RelativeSelfAttention


def _relative_table(emb: torch.Tensor, length: int, window: int) -> torch.Tensor:
    """The (1, 2·length - 1, d) table: the 2w + 1 entries zero-padded and sliced to the length."""
    pad = max(length - (window + 1), 0)
    start = max((window + 1) - length, 0)
    padded = F.pad(emb, (0, 0, pad, pad)) if pad > 0 else emb
    return padded[:, start : start + 2 * length - 1]


def _relative_to_absolute(x: torch.Tensor) -> torch.Tensor:
    """(b, h, l, 2l - 1) indexed by offset -> (b, h, l, l) indexed by key, via pad and reshape."""
    b, h, length, _ = x.shape
    x = F.pad(x, (0, 1)).view(b, h, length * 2 * length)
    x = F.pad(x, (0, length - 1))
    return x.view(b, h, length + 1, 2 * length - 1)[:, :, :length, length - 1 :]


def _absolute_to_relative(x: torch.Tensor) -> torch.Tensor:
    """(b, h, l, l) indexed by key -> (b, h, l, 2l - 1) indexed by offset, via pad and reshape."""
    b, h, length, _ = x.shape
    x = F.pad(x, (0, length - 1)).view(b, h, length * length + length * (length - 1))
    x = F.pad(x, (length, 0))
    return x.view(b, h, length, 2 * length)[:, :, :, 1:]


def reference_attention(attn: RelativeSelfAttention, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
    """The reference formulation: full (t, 2t - 1) relative tables and a materialised (t, t) mask."""
    b, c, t = x.shape
    h, d, w = attn.n_heads, attn.head_dim, attn.window_size

    def heads(y):
        return y.view(b, h, d, t).transpose(2, 3)

    q, k, v = heads(attn.conv_q(x)), heads(attn.conv_k(x)), heads(attn.conv_v(x))
    q = q / math.sqrt(d)
    scores = torch.matmul(q, k.transpose(-2, -1))
    rel_logits = torch.matmul(q, _relative_table(attn.emb_rel_k, t, w).unsqueeze(0).transpose(-2, -1))
    scores = scores + _relative_to_absolute(rel_logits)
    mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
    scores = scores.masked_fill(mask == 0, -1e4)
    p = torch.softmax(scores, dim=-1)
    out = torch.matmul(p, v)
    out = out + torch.matmul(_absolute_to_relative(p), _relative_table(attn.emb_rel_v, t, w).unsqueeze(0))
    return attn.conv_o(out.transpose(2, 3).reshape(b, c, t))


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
    ref = reference_attention(attn, x, x_mask) * x_mask
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
