"""The fixture README's formula for the discriminator weights of train/train_step.pt."""

from __future__ import annotations

import math
import zlib

import torch

from timbrel.models.rvc.discriminator import DiscriminatorConfig, MultiPeriodDiscriminator


def formula_weights(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """value[i] = 0.02 sin(0.7071 i + c), c = (crc32(key) % 10007) / 1000, float64 -> float32;
    keys ending in weight_g get 0.5 + 10 |value|."""
    out = {}
    for key, shape in shapes.items():
        n = math.prod(shape)
        c = (zlib.crc32(key.encode("utf-8")) % 10007) / 1000
        value = 0.02 * torch.sin(0.7071 * torch.arange(n, dtype=torch.float64) + c)
        if key.endswith("weight_g"):
            value = 0.5 + 10 * value.abs()
        out[key] = value.to(torch.float32).reshape(shape)
    return out


def formula_state(config: DiscriminatorConfig) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in MultiPeriodDiscriminator(config).state_dict().items()}
    return formula_weights(shapes)


def discriminator_from(
    config: DiscriminatorConfig, state: dict[str, torch.Tensor]
) -> MultiPeriodDiscriminator:
    with torch.device("meta"):
        model = MultiPeriodDiscriminator(config)
    model.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True, assign=True)
    return model
