"""Multi-head self-attention with windowed relative-position embeddings (the VITS text encoder's).

Every head adds ``q_i · emb_rel_k[j - i + w]`` to the score of key j and ``Σ_j p_ij ·
emb_rel_v[j - i + w]`` to its output, for offsets |j - i| <= w (w = ``window_size``); outside
the window the relative terms are zero. The reference builds (t, 2t - 1) tables that are zero
except for 2w + 1 diagonals and moves them between relative and absolute positions by pad and
reshape. Only those 2w + 1 diagonals are computed here, so the relative terms cost O(t·w·d)
instead of O(t²·d); the numbers are the same. (The content scores q·k still cover every key.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

MASKED_SCORE = -1e4  # the reference's fill value; exp() of it underflows to exactly 0 in float32
QUERY_BLOCK_ROWS = 512


class RelativeSelfAttention(nn.Module):
    """Parameters keep the reference names: conv_q/k/v/o (1x1), emb_rel_k/v (1, 2w + 1, head_dim)."""

    def __init__(self, channels: int, n_heads: int, window_size: int = 10):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        scale = self.head_dim**-0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.head_dim) * scale)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.head_dim) * scale)
        nn.init.xavier_uniform_(self.conv_q.weight)
        nn.init.xavier_uniform_(self.conv_k.weight)
        nn.init.xavier_uniform_(self.conv_v.weight)

    def forward(self, x: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """x: (b, channels, t), key_mask: (b, t) bool (False = padding) or None -> (b, channels, t).

        Outputs at padded query positions are not meaningful; callers mask them.
        """
        b, channels, t = x.shape
        q = self._heads(self.conv_q(x))
        k = self._heads(self.conv_k(x))
        v = self._heads(self.conv_v(x))
        q = q / math.sqrt(self.head_dim)
        w = min(self.window_size, t - 1)
        table_k = self.emb_rel_k[0, self.window_size - w : self.window_size + w + 1]
        table_v = self.emb_rel_v[0, self.window_size - w : self.window_size + w + 1]
        rel_k = torch.matmul(q, table_k.transpose(0, 1))  # (b, h, t, 2w + 1): q_i · emb_k[offset]
        if torch.onnx.is_in_onnx_export():
            # Graph exporters cannot write through diagonal views; there the band goes through
            # the pad-and-reshape form (same numbers, O(t²) memory).
            scores = torch.matmul(q, k.transpose(-2, -1)) + band_to_absolute(rel_k, w)
            if key_mask is not None:
                scores.masked_fill_(~key_mask[:, None, None, :], MASKED_SCORE)
            p = torch.softmax(scores, dim=-1)
            out = torch.matmul(p, v) + torch.matmul(absolute_to_band(p, w), table_v)
        else:
            # Query rows are independent: a long chunk's (t, t) scores and probabilities are
            # made QUERY_BLOCK_ROWS rows at a time (at 44 s, 2 x 155 MB at once otherwise).
            out = q.new_empty(b, self.n_heads, t, self.head_dim)
            for start in range(0, t, QUERY_BLOCK_ROWS):
                stop = min(start + QUERY_BLOCK_ROWS, t)
                out[:, :, start:stop] = self._attend_rows(
                    q[:, :, start:stop], k, v, rel_k[:, :, start:stop], table_v, key_mask, start, w
                )
        out = out.transpose(2, 3).reshape(b, channels, t)
        return self.conv_o(out)

    def _attend_rows(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        rel_k: Tensor,
        table_v: Tensor,
        key_mask: Tensor | None,
        first_row: int,
        w: int,
    ) -> Tensor:
        """Attention of the query rows first_row.. (q and rel_k: (b, h, rows, ...)) over all t keys
        -> (b, h, rows, head_dim). Row i's key at offset o sits on diagonal o + first_row."""
        rows, t = q.shape[2], k.shape[2]
        scores = torch.matmul(q, k.transpose(-2, -1))
        for column, offset in enumerate(range(-w, w + 1)):
            band_rows = _diagonal_rows(offset + first_row, rows, t)
            scores.diagonal(offset + first_row, dim1=-2, dim2=-1).add_(rel_k[..., band_rows, column])
        if key_mask is not None:
            scores.masked_fill_(~key_mask[:, None, None, :], MASKED_SCORE)
        p = torch.softmax(scores, dim=-1)
        del scores
        p_band = p.new_zeros(*p.shape[:3], 2 * w + 1)
        for column, offset in enumerate(range(-w, w + 1)):
            band_rows = _diagonal_rows(offset + first_row, rows, t)
            p_band[..., band_rows, column] = p.diagonal(offset + first_row, dim1=-2, dim2=-1)
        return torch.matmul(p, v) + torch.matmul(p_band, table_v)

    def _heads(self, x: Tensor) -> Tensor:
        """(b, channels, t) -> (b, heads, t, head_dim)."""
        b, _, t = x.shape
        return x.view(b, self.n_heads, self.head_dim, t).transpose(2, 3)


def _diagonal_rows(offset: int, rows: int, t: int) -> slice:
    """Of ``rows`` query rows over ``t`` keys, the rows i for which key i + offset exists."""
    return slice(max(0, -offset), max(0, min(rows, t - offset)))


def band_to_absolute(band: Tensor, w: int) -> Tensor:
    """band: (..., t, 2w + 1), column c = key offset c - w -> (..., t, t) with band[i, c] at
    [i, i + c - w] and zeros off the band. Row i of the zero-padded band, read back with rows one
    element shorter, lands i columns further right."""
    *lead, t, width = band.shape
    padded = torch.nn.functional.pad(band, (0, t))  # rows of t + 2w + 1
    skewed = padded.flatten(-2)[..., : t * (t + width - 1)].reshape(*lead, t, t + width - 1)
    return skewed[..., w : w + t]


def absolute_to_band(scores: Tensor, w: int) -> Tensor:
    """scores: (..., t, t) -> (..., t, 2w + 1) with [i, c] = scores[i, i + c - w] (0 off the
    matrix): the inverse reading of band_to_absolute, rows one element longer."""
    *lead, t, _ = scores.shape
    padded = torch.nn.functional.pad(scores, (w, w))  # column j + w holds key j
    flat = torch.nn.functional.pad(padded.flatten(-2), (0, t))
    return flat.reshape(*lead, t, t + 2 * w + 1)[..., : 2 * w + 1]
