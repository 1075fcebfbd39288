"""RVC's optimizers: AdamW for the generator and for the discriminator, each with a per-epoch
exponential learning-rate decay (the reference's configs/*.json ``train``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RVCOptimConfig:
    """The reference's training constants (configs/*.json ``train``)."""

    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.99)
    eps: float = 1e-9
    lr_decay: float = 0.999875
    c_mel: float = 45.0
    c_kl: float = 1.0


def adamw(module: torch.nn.Module, config: RVCOptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(module.parameters(), lr=config.learning_rate, betas=config.betas, eps=config.eps)


def exponential_lr(
    optimizer: torch.optim.Optimizer, config: RVCOptimConfig
) -> torch.optim.lr_scheduler.ExponentialLR:
    """Stepped once per epoch."""
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, config.lr_decay)
