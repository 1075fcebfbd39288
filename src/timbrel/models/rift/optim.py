"""RIFT's optimizer (spec 5.1): schedule-free AdamW over parameter groups with spectral learning rates.

Groups, in this order: matrices with weight decay; vectors (biases, LayerNorm affine) without; then one
group per spectral ratio, in order of first appearance. A matrix is spectral when its name ends in
`out.weight` or `proj.weight`; its learning rate is lr·fan_out/fan_in. Frozen tensors are left out.
Names are those of the reference's RF wrapper (`transformer.` + DiT name), so a group table can be
compared with RIFT-SVC's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from timbrel.core.errors import ConfigError

NAME_PREFIX = "transformer."
_SPECTRAL_SUFFIXES = ("out.weight", "proj.weight")


@dataclass(frozen=True)
class GroupSpec:
    """One optimizer group: the parameter names, their learning-rate factor and weight decay."""

    names: tuple[str, ...]
    lr_factor: float
    weight_decay: float


def group_specs(model: nn.Module, weight_decay: float, prefix: str = NAME_PREFIX) -> list[GroupSpec]:
    """The reference's grouping of `model`'s trainable parameters (no tensor is touched, so a model on
    the meta device works)."""
    decay: list[str] = []
    no_decay: list[str] = []
    spectral: dict[str, list[str]] = {}
    ratios: dict[str, float] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        full = prefix + name
        if parameter.dim() < 2:
            no_decay.append(full)
        elif full.endswith(_SPECTRAL_SUFFIXES):
            ratio = parameter.shape[0] / parameter.shape[1]
            key = f"{ratio:.2f}"
            spectral.setdefault(key, []).append(full)
            ratios.setdefault(key, ratio)
        else:
            decay.append(full)
    specs = [GroupSpec(tuple(decay), 1.0, weight_decay), GroupSpec(tuple(no_decay), 1.0, 0.0)]
    specs += [GroupSpec(tuple(names), ratios[key], weight_decay) for key, names in spectral.items()]
    return specs


def parameter_groups(
    model: nn.Module, learning_rate: float, weight_decay: float, prefix: str = NAME_PREFIX
) -> list[dict[str, Any]]:
    """Groups ready for a torch optimizer: {"params", "names", "lr", "weight_decay"}."""
    by_name: dict[str, Tensor] = {prefix + n: p for n, p in model.named_parameters()}
    return [
        {
            "params": [by_name[n] for n in spec.names],
            "names": list(spec.names),
            "lr": learning_rate * spec.lr_factor,
            "weight_decay": spec.weight_decay,
        }
        for spec in group_specs(model, weight_decay, prefix)
    ]


def schedule_free_adamw(
    model: nn.Module,
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float],
    warmup_steps: int,
    foreach: bool = True,
):
    """schedulefree.AdamWScheduleFree over the spectral groups, with the library's other defaults
    (eps 1e-8, r 0, weight_lr_power 2), in train mode. foreach=False is the per-tensor loop."""
    if learning_rate <= 0:
        raise ConfigError(f"learning rate must be positive, got {learning_rate!r}")
    if weight_decay < 0:
        raise ConfigError(f"weight decay must be ≥ 0, got {weight_decay!r}")
    if warmup_steps < 0:
        raise ConfigError(f"warmup steps must be ≥ 0, got {warmup_steps!r}")
    try:
        from schedulefree import AdamWScheduleFree
    except ImportError as error:
        raise ConfigError(
            "RIFT training needs the schedulefree package: pip install 'timbrel[train]'"
        ) from error
    optimizer = AdamWScheduleFree(
        parameter_groups(model, learning_rate, weight_decay),
        lr=learning_rate,
        betas=betas,
        warmup_steps=warmup_steps,
        foreach=foreach,
    )
    optimizer.train()
    return optimizer
