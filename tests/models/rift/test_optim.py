"""RIFT optimizer groups against RIFT-SVC's recorded table, for every released size."""

from __future__ import annotations

import json

import pytest
import torch

from timbrel.core.errors import ConfigError
from timbrel.models.rift.dit import PRESETS, DiT, DiTConfig
from timbrel.models.rift.optim import group_specs, parameter_groups, schedule_free_adamw


@pytest.fixture(scope="module")
def manifest(fixtures):
    return json.loads((fixtures / "rift" / "manifest_dit_full.json").read_text())


def recorded_table(specs, weight_decay):
    return {
        name: {"group": index, "lr_factor": spec.lr_factor, "weight_decay": spec.weight_decay}
        for index, spec in enumerate(specs)
        for name in spec.names
    }


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("freeze", [False, True])
def test_groups_match_the_reference_record(manifest, preset, freeze):
    record = manifest[preset]
    expected = record["optimizer_param_groups_with_freeze" if freeze else "optimizer_param_groups_lr_factor"]
    weight_decay = max(v["weight_decay"] for v in expected.values())
    with torch.device("meta"):
        model = DiT(DiTConfig.preset(preset))
    if freeze:
        model.freeze_adaln_and_time_embedding()
        frozen = sorted(f"transformer.{n}" for n, p in model.named_parameters() if not p.requires_grad)
        assert frozen == sorted(record["frozen_by_freeze_adaln_and_tembed"])
    table = recorded_table(group_specs(model, weight_decay), weight_decay)
    assert list(table) == list(expected)
    assert table == expected


def test_optimizer_groups_carry_the_spectral_learning_rates():
    model = DiT(DiTConfig.tiny())
    optimizer = schedule_free_adamw(model, 1e-3, 0.01, (0.9, 0.95), warmup_steps=5)
    specs = group_specs(model, 0.01)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3 * s.lr_factor for s in specs])
    assert [g["warmup_steps"] for g in optimizer.param_groups] == [5] * len(specs)
    assert all(g["train_mode"] for g in optimizer.param_groups)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    named = dict(model.named_parameters())
    for group in parameter_groups(model, 1.0, 0.01):
        assert all(
            p is named[n.removeprefix("transformer.")]
            for p, n in zip(group["params"], group["names"], strict=True)
        )


def test_bad_settings_are_clear_errors():
    model = DiT(DiTConfig.tiny())
    with pytest.raises(ConfigError, match="learning rate"):
        schedule_free_adamw(model, 0.0, 0.01, (0.9, 0.95), 0)
    with pytest.raises(ConfigError, match="weight decay"):
        schedule_free_adamw(model, 1e-4, -1.0, (0.9, 0.95), 0)


def test_foreach_and_per_tensor_updates_agree():
    models = [DiT(DiTConfig.tiny()) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    optimizers = [
        schedule_free_adamw(m, 1e-3, 0.01, (0.9, 0.95), warmup_steps=2, foreach=f)
        for m, f in zip(models, (True, False), strict=True)
    ]
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        grads = [torch.randn(p.shape, generator=generator) for p in models[0].parameters()]
        for model, optimizer in zip(models, optimizers, strict=True):
            for p, g in zip(model.parameters(), grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6)
