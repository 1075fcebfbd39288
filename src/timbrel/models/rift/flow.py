"""Rectified-flow math for RIFT (spec 3.5, 4.1, 4.2, 4.4): mel normalisation, interpolation, velocity
target, time grids and fixed-grid ODE solvers.

Convention: time 0 is noise and time 1 is data; x_t = (1 − t)·x0 + t·x1 and the velocity is x1 − x0.
A solver is a function `(velocity, y0, grid) -> trajectory`; a new solver is a new function.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor

from timbrel.core.errors import ConfigError

MEL_MIN = -12.0
MEL_MAX = 2.0

VelocityFn = Callable[[Tensor, Tensor], Tensor]
"""(t: () time, y: (b, n, n_mels)) -> velocity (b, n, n_mels)"""

Solver = Callable[[VelocityFn, Tensor, Tensor], Tensor]
"""(velocity, y0: (b, n, n_mels), grid: (steps,)) -> trajectory (steps, b, n, n_mels), y0 included"""


def normalize_mel(mel: Tensor) -> Tensor:
    """Natural-log mel -> model space: [MEL_MIN, MEL_MAX] maps to [−1, 1] (values outside are not clipped)."""
    return (mel - MEL_MIN) / (MEL_MAX - MEL_MIN) * 2 - 1


def denormalize_mel(y: Tensor) -> Tensor:
    """Model space -> natural-log mel; the inverse of `normalize_mel`."""
    return (y + 1) / 2 * (MEL_MAX - MEL_MIN) + MEL_MIN


def interpolate(x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """x0 (noise), x1 (data): (b, n, m), t: (b,) -> x_t (b, n, m)"""
    t = t.reshape(-1, *([1] * (x1.dim() - 1)))
    return (1 - t) * x0 + t * x1


def target_velocity(x0: Tensor, x1: Tensor) -> Tensor:
    """The straight-line velocity d x_t / d t = x1 − x0."""
    return x1 - x0


def lens_to_mask(frame_lengths: Tensor, n_frames: int | None = None) -> Tensor:
    """frame_lengths: (b,) -> mask (b, n_frames) bool, True = valid; n_frames defaults to the longest."""
    n_frames = int(frame_lengths.max()) if n_frames is None else n_frames
    return torch.arange(n_frames, device=frame_lengths.device) < frame_lengths.unsqueeze(1)


def logit_normal_times(uniforms: Tensor) -> Tensor:
    """Stratified logit-normal(0, 1) times: b uniform draws in [0, 1): (b,) -> t (b,), one per stratum."""
    b = uniforms.shape[0]
    u = (torch.arange(b, dtype=uniforms.dtype, device=uniforms.device) + uniforms) / b
    return torch.sigmoid(torch.erfinv(2 * u - 1) * 2**0.5)


def flow_matching_loss(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error over valid frames × all bins, one mean over the whole batch.
    prediction, target: (b, n, m), mask: (b, n) bool or None -> scalar."""
    error = (prediction - target).square()
    if mask is None:
        return error.mean()
    return error[mask].mean()


def speaker_dropout(batch: int, probability: float, generator: torch.Generator | None = None) -> Tensor:
    """Training-time speaker dropout (spec 4.3): exactly int(batch·probability) items, chosen by a random
    permutation (not a draw per item), get the null speaker. -> (batch,) bool"""
    if not 0.0 <= probability <= 1.0:
        raise ConfigError(f"speaker dropout probability must be in [0, 1], got {probability!r}")
    drop = torch.zeros(batch, dtype=torch.bool)
    drop[torch.randperm(batch, generator=generator)[: int(batch * probability)]] = True
    return drop


def training_loss(
    velocity: VelocityFn, mel: Tensor, x0: Tensor, t: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The rectified-flow objective (spec 4.1). mel: (b, n, n_mels) natural-log mel (the data, time 1),
    x0: (b, n, n_mels) standard normal noise (time 0), t: (b,) times, mask: (b, n) bool or None; velocity is
    called as velocity(t, x_t) -> (loss scalar, prediction (b, n, n_mels))."""
    x1 = normalize_mel(mel)
    prediction = velocity(t, interpolate(x0, x1, t))
    return flow_matching_loss(prediction, target_velocity(x0, x1), mask), prediction


def time_grid(steps: int) -> Tensor:
    """`steps` evenly spaced times from 0 to 1 (float32); they give steps − 1 solver updates."""
    if not isinstance(steps, int) or steps < 2:
        raise ConfigError(
            f"sampling steps must be an integer ≥ 2 (grid points, 0 and 1 included), got {steps!r}"
        )
    return torch.linspace(0, 1, steps)


def euler(velocity: VelocityFn, y0: Tensor, grid: Tensor) -> Tensor:
    """y_{k+1} = y_k + (t_{k+1} − t_k)·v(t_k, y_k)."""
    ys = [y0]
    for t0, t1 in itertools.pairwise(grid):
        ys.append(ys[-1] + (t1 - t0) * velocity(t0, ys[-1]))
    return torch.stack(ys)


def midpoint(velocity: VelocityFn, y0: Tensor, grid: Tensor) -> Tensor:
    """Explicit midpoint: two velocity evaluations per step."""
    ys = [y0]
    for t0, t1 in itertools.pairwise(grid):
        half = 0.5 * (t1 - t0)
        y = ys[-1]
        y_mid = y + half * velocity(t0, y)
        ys.append(y + (t1 - t0) * velocity(t0 + half, y_mid))
    return torch.stack(ys)


def heun(velocity: VelocityFn, y0: Tensor, grid: Tensor) -> Tensor:
    """Heun (explicit trapezoid): two velocity evaluations per step."""
    ys = [y0]
    for t0, t1 in itertools.pairwise(grid):
        dt = t1 - t0
        y = ys[-1]
        k1 = velocity(t0, y)
        k2 = velocity(t1, y + dt * k1)
        ys.append(y + 0.5 * dt * (k1 + k2))
    return torch.stack(ys)


def sample(
    velocity: VelocityFn,
    noise: Tensor,
    src_mel: Tensor,
    mask: Tensor | None = None,
    steps: int = 32,
    solver: Solver = euler,
) -> tuple[Tensor, Tensor]:
    """Integrate from noise (t = 0) to mel (t = 1).

    noise: (b, n, n_mels) standard normal, zeroed here at padded frames; src_mel: (b, n, n_mels) log-mel
    copied into padded frames of the result; mask: (b, n) bool or None (all valid).
    -> (mel (b, n, n_mels) natural-log mel, trajectory (steps, b, n, n_mels) in model space, y0 included).
    Padded frames are not re-masked while integrating, as in the reference.
    """
    y0 = noise if mask is None else noise.masked_fill(~mask.unsqueeze(-1), 0.0)
    trajectory = solver(velocity, y0, time_grid(steps).to(noise.device))
    mel = denormalize_mel(trajectory[-1])
    if mask is not None:
        mel = torch.where(mask.unsqueeze(-1), mel, src_mel)
    return mel, trajectory
