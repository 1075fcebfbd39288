"""RVC's training losses (reference train/losses.py): least-squares GAN, feature matching, KL.

Every loss is computed in float32, as the reference casts to float before each one.
"""

from __future__ import annotations

import torch
from torch import Tensor


def discriminator_loss(
    real_scores: list[Tensor], fake_scores: list[Tensor]
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Σ_k mean((1 - D_k(real))²) + mean(D_k(fake)²) -> (total, per-k real terms, per-k fake terms)."""
    total = torch.zeros((), device=real_scores[0].device)
    real_terms, fake_terms = [], []
    for real, fake in zip(real_scores, fake_scores, strict=True):
        real_term = torch.mean((1 - real.float()) ** 2)
        fake_term = torch.mean(fake.float() ** 2)
        total = total + (real_term + fake_term)
        real_terms.append(real_term)
        fake_terms.append(fake_term)
    return total, real_terms, fake_terms


def generator_loss(fake_scores: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """Σ_k mean((1 - D_k(fake))²) -> (total, per-k terms)."""
    terms = [torch.mean((1 - fake.float()) ** 2) for fake in fake_scores]
    return _sequential_sum(terms), terms


def feature_loss(real_fmaps: list[list[Tensor]], fake_fmaps: list[list[Tensor]]) -> Tensor:
    """2 · Σ_k Σ_l mean|fmap_real - fmap_fake|, the real maps detached."""
    terms = [
        torch.mean(torch.abs(real.float().detach() - fake.float()))
        for reals, fakes in zip(real_fmaps, fake_fmaps, strict=True)
        for real, fake in zip(reals, fakes, strict=True)
    ]
    return _sequential_sum(terms) * 2


def kl_loss(z_p: Tensor, logs_q: Tensor, m_p: Tensor, logs_p: Tensor, z_mask: Tensor) -> Tensor:
    """z_p, logs_q: (b, inter, t); m_p, logs_p: (b, inter, t); z_mask: (b, 1, t) -> masked mean KL term."""
    z_p, logs_q, m_p, logs_p, z_mask = (x.float() for x in (z_p, logs_q, m_p, logs_p, z_mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * (z_p - m_p) ** 2 * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * z_mask) / torch.sum(z_mask)


def _sequential_sum(terms: list[Tensor]) -> Tensor:
    # Added one by one, in order, as the reference does: the float32 result is then identical.
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
