"""Convolutions with the legacy ``torch.nn.utils.weight_norm`` parameters (``weight_g``, ``weight_v``).

Files from VITS-family models store weight-normed layers as the pair ``weight_g`` (the norms,
shape ``(out, 1, 1)``; for a transposed convolution ``(in, 1, 1)``) and ``weight_v`` (the
direction), with ``weight = g * v / ||v||`` and the norm taken over every dimension except 0.
These layers keep exactly that state-dict layout so such files load with ``strict=True``, and
``remove_weight_norm`` folds the pair into a plain ``weight`` once, after loading, instead of
recomputing it on every call.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _LegacyWeightNorm:
    """Mixin for a conv module: replaces ``weight`` by ``weight_g``/``weight_v`` (dim 0)."""

    def _split_weight(self) -> None:
        weight = self.weight.detach()
        del self.weight
        # Registered after ``bias`` as torch's legacy hook does, so the state-dict order matches.
        self.weight_g = nn.Parameter(torch.norm_except_dim(weight, 2, 0))
        self.weight_v = nn.Parameter(weight.clone())

    def folded_weight(self) -> Tensor:
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def current_weight(self) -> Tensor:
        return self.weight if self.is_folded else self.folded_weight()

    @property
    def is_folded(self) -> bool:
        return "weight_v" not in self._parameters

    def fold(self) -> None:
        """Replace ``weight_g``/``weight_v`` by the ``weight`` they define (same numbers, once)."""
        if self.is_folded:
            return
        weight = self.folded_weight().detach()
        del self.weight_g
        del self.weight_v
        self.weight = nn.Parameter(weight)


class WeightNormConv1d(_LegacyWeightNorm, nn.Conv1d):
    """``nn.Conv1d`` whose weight is stored as ``weight_g`` (out, 1, 1) and ``weight_v``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.current_weight(), self.bias)


class WeightNormConvTranspose1d(_LegacyWeightNorm, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` whose weight is stored as ``weight_g`` (in, 1, 1) and ``weight_v``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        output_padding = self._output_padding(
            x, output_size, self.stride, self.padding, self.kernel_size, 1, self.dilation
        )
        return nn.functional.conv_transpose1d(
            x,
            self.current_weight(),
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


def remove_weight_norm(module: nn.Module) -> nn.Module:
    """Fold every legacy weight-normed layer inside ``module`` into a plain weight; returns ``module``.

    The outputs do not change; the state dict then holds ``weight`` instead of
    ``weight_g``/``weight_v``. Layers already folded are left alone.
    """
    for layer in module.modules():
        if isinstance(layer, _LegacyWeightNorm):
            layer.fold()
    return module
