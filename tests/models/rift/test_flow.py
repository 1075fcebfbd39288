"""Rectified-flow math: normalisation, time sampling, training objective and solvers."""

from __future__ import annotations

import math

import pytest
import torch

from tests import parity
from timbrel.core.errors import ConfigError
from timbrel.models.rift import flow
from timbrel.weights.rift import load_rift_checkpoint


@pytest.fixture(scope="module")
def train(fixtures):
    folder = fixtures / "rift" / "dit_small"
    return load_rift_checkpoint(folder / "model-step=2.ckpt").model, torch.load(
        folder / "train_loss.pt", weights_only=True
    )


def test_training_objective_matches_reference(train):
    model, data = train
    inputs = data["inputs"]
    mask = flow.lens_to_mask(inputs["lens"], data["mel"].shape[1])
    assert torch.equal(mask, inputs["mask"])
    parity.float32_close(flow.normalize_mel(data["mel"]), data["x1_norm"], terms=2, what="normalised mel")
    cond = model.condition(inputs["f0"], inputs["rms"], inputs["cvec"], mask)

    def velocity(t, x_t):
        return model.velocity(x_t, t, inputs["spk"], cond, drop_speaker=data["drop_speaker"])

    with torch.no_grad():
        loss, prediction = flow.training_loss(velocity, data["mel"], data["x0_noise"], data["t"], mask)
    terms = parity.network_terms(model)
    parity.float32_close(prediction, data["pred"], terms=terms, what="velocity")
    # the masked mean of the squared error over every mel value
    parity.relative_close(loss, data["loss"], rel=parity.float32_tolerance(1.0, terms + prediction.numel()))


def test_loss_ignores_padded_frames():
    prediction, target = torch.zeros(2, 4, 3), torch.zeros(2, 4, 3)
    target[1, 3] = 100.0
    target[0, 0, 0] = 1.0
    mask = flow.lens_to_mask(torch.tensor([4, 3]))
    assert flow.flow_matching_loss(prediction, target, mask).item() == pytest.approx(1 / (7 * 3))


def test_speaker_dropout_drops_an_exact_count():
    generator = torch.Generator().manual_seed(0)
    for batch, probability, count in [(8, 0.2, 1), (10, 0.2, 2), (64, 0.2, 12), (5, 0.0, 0), (3, 1.0, 3)]:
        drop = flow.speaker_dropout(batch, probability, generator)
        assert drop.shape == (batch,) and int(drop.sum()) == count
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        flow.speaker_dropout(4, 1.5)


def test_logit_normal_times_match_reference(train):
    _, data = train
    times = flow.logit_normal_times(data["lognorm_uniform_draws"])
    torch.testing.assert_close(times, data["lognorm_t"], atol=1e-6, rtol=1e-6)


def test_normalisation_round_trip_and_range():
    mel = torch.linspace(-20, 5, 101)
    torch.testing.assert_close(flow.denormalize_mel(flow.normalize_mel(mel)), mel, atol=1e-5, rtol=0)
    ends = flow.normalize_mel(torch.tensor([flow.MEL_MIN, flow.MEL_MAX]))
    torch.testing.assert_close(ends, torch.tensor([-1.0, 1.0]))


def test_time_grid_matches_reference(fixtures):
    data = torch.load(fixtures / "rift" / "dit_small" / "sample.pt", weights_only=True)
    assert torch.equal(flow.time_grid(data["steps"]), data["time_grid"])
    with pytest.raises(ConfigError, match="≥ 2"):
        flow.time_grid(1)


def test_interpolation_ends_and_velocity():
    x0, x1 = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.equal(flow.interpolate(x0, x1, torch.zeros(2)), x0)
    assert torch.equal(flow.interpolate(x0, x1, torch.ones(2)), x1)
    t = torch.tensor([0.25, 0.5])
    slope = (flow.interpolate(x0, x1, t + 1e-3) - flow.interpolate(x0, x1, t)) / 1e-3
    torch.testing.assert_close(slope, flow.target_velocity(x0, x1), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("solver", [flow.euler, flow.midpoint, flow.heun])
def test_solvers_follow_a_straight_path_exactly(solver):
    x0, x1 = torch.randn(1, 5, 3), torch.randn(1, 5, 3)
    trajectory = solver(lambda t, y: x1 - x0, x0, flow.time_grid(5))
    assert trajectory.shape == (5, 1, 5, 3)
    torch.testing.assert_close(trajectory[-1], x1, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("solver", "order"), [(flow.euler, 1), (flow.midpoint, 2), (flow.heun, 2)])
def test_solver_order_on_exponential_decay(solver, order):
    y0 = torch.ones(1, 1, 1, dtype=torch.float64)

    def error(steps):
        grid = flow.time_grid(steps).double()
        return abs(solver(lambda t, y: -y, y0, grid)[-1].item() - math.exp(-1))

    assert error(33) / error(65) == pytest.approx(2**order, rel=0.1)


def test_sample_keeps_source_at_padded_frames():
    mask = flow.lens_to_mask(torch.tensor([4, 2]))
    noise, src = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mel, trajectory = flow.sample(lambda t, y: -y, noise, src, mask, steps=3)
    assert torch.equal(mel[1, 2:], src[1, 2:])
    assert torch.equal(trajectory[0, 1, 2:], torch.zeros(2, 3))
    assert torch.equal(trajectory[0, 0], noise[0])
