"""RIFT's training step: the reference objective through the TrainTask, accumulation, freezing, resume."""

from __future__ import annotations

import random

import pytest
import torch

from tests import parity
from timbrel.core.errors import ConfigError
from timbrel.models.rift.data import RIFTBatch, RIFTItem, UtteranceFeatures, collate, crop_start, make_item
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.training import FlowDraws, RIFTTrainSettings, RIFTTrainTask, shard_generator
from timbrel.nn.step_context import StepContext
from timbrel.weights.rift import load_rift_checkpoint


@pytest.fixture(scope="module")
def reference(fixtures):
    folder = fixtures / "rift" / "dit_small"
    return folder / "model-step=2.ckpt", torch.load(folder / "train_loss.pt", weights_only=True)


def test_objective_matches_reference(reference):
    path, data = reference
    inputs = data["inputs"]
    task = RIFTTrainTask(load_rift_checkpoint(path).model)
    batch = RIFTBatch(
        speaker=inputs["spk"],
        mel=data["mel"],
        rms=inputs["rms"],
        f0_hz=inputs["f0"],
        content=inputs["cvec"],
        frame_lengths=inputs["lens"],
    )
    assert torch.equal(batch.mask(), inputs["mask"])
    with torch.no_grad():
        loss, prediction = task.objective(batch, FlowDraws(data["x0_noise"], data["t"], data["drop_speaker"]))
    terms = parity.network_terms(task.model)
    parity.float32_close(prediction, data["pred"], terms=terms, what="velocity")
    # the masked mean of the squared error over every mel value
    parity.relative_close(loss, data["loss"], rel=parity.float32_tolerance(1.0, terms + prediction.numel()))


def tiny_items(count: int, n_frames: int, content_dim: int = 32, seed: int = 0) -> list[RIFTItem]:
    g = torch.Generator().manual_seed(seed)
    return [
        RIFTItem(
            speaker=i % 2,
            mel=torch.rand(n_frames - (i % 3), 128, generator=g) * 10 - 11,
            rms=torch.rand(n_frames - (i % 3), generator=g),
            f0_hz=200 + 100 * torch.rand(n_frames - (i % 3), generator=g),
            content=torch.randn(n_frames - (i % 3), content_dim, generator=g),
        )
        for i in range(count)
    ]


def tiny_model(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(DiTConfig.tiny())
    model.init_weights(torch.Generator().manual_seed(seed))
    # Zero-initialised adaLN and output layers would hide most paths from the gradient checks.
    with torch.no_grad():
        for block in model.transformer_blocks:
            block.attn_norm.proj.weight.normal_(0, 0.05)
        model.output.weight.normal_(0, 0.05)
    return model


def test_collate_pads_with_zeros_and_keeps_lengths():
    items = tiny_items(3, 20)
    batch = collate(items)
    assert batch.mel.shape == (3, 20, 128) and batch.content.shape == (3, 20, 32)
    assert batch.frame_lengths.tolist() == [20, 19, 18]
    assert batch.speaker.tolist() == [0, 1, 0]
    assert torch.all(batch.mel[2, 18:] == 0) and torch.all(batch.f0_hz[1, 19:] == 0)
    assert batch.mask().sum(1).tolist() == [20, 19, 18]


def test_crop_avoids_mostly_unvoiced_segments():
    f0 = torch.zeros(1000)
    f0[600:700] = 220.0
    starts = {crop_start(f0, 64, random.Random(k)) for k in range(50)}
    voiced = [s for s in starts if (f0[s : s + 64] == 0).float().mean() < 0.9]
    assert voiced and all(0 <= s <= 936 for s in starts)
    assert crop_start(f0, 64, None) == 0 and crop_start(f0[:50], 64, random.Random(0)) == 0
    draws = random.Random(3)
    last = [draws.randint(0, 236) for _ in range(10)][-1]
    assert crop_start(torch.zeros(300), 64, random.Random(3)) == last


def test_make_item_aligns_content_then_crops():
    n = 40
    content = torch.arange(2 * 30, dtype=torch.float32).unsqueeze(1).repeat(1, 4)
    features = UtteranceFeatures(torch.randn(1, 128, n), torch.rand(1, n), torch.full((n,), 300.0), content)
    whole = make_item(1, features, 100, None)
    assert whole.content.shape == (n, 4)
    assert whole.content[0, 0] == 0 and whole.content[-1, 0] == 59
    cropped = make_item(1, features, 16, random.Random(5))
    assert cropped.n_frames == 16
    start = int(torch.nonzero(whole.mel[:, 0] == cropped.mel[0, 0])[0])
    torch.testing.assert_close(cropped.content, whole.content[start : start + 16])


def test_accumulation_equals_one_big_batch():
    items = tiny_items(4, 24)
    items = [RIFTItem(i.speaker, i.mel[:18], i.rms[:18], i.f0_hz[:18], i.content[:18]) for i in items]
    halves = [collate(items[:2]), collate(items[2:])]
    whole = collate(items)
    big = RIFTTrainTask(tiny_model(), RIFTTrainSettings(learning_rate=1e-3))
    micro = RIFTTrainTask(
        tiny_model(), RIFTTrainSettings(learning_rate=1e-3), context=StepContext(accumulation_steps=2)
    )
    draws = [micro.draws(h, 0, i) for i, h in enumerate(halves)]
    joined = FlowDraws(*(torch.cat([getattr(d, f) for d in draws]) for f in ("x0", "t", "drop_speaker")))
    a = big.step(whole, 0, [joined])
    b = micro.step(halves, 0)
    assert a["train/loss"] == pytest.approx(b["train/loss"], rel=1e-5)
    assert a["train/grad_norm"] == pytest.approx(b["train/grad_norm"], rel=1e-4)
    for p, q in zip(big.model.parameters(), micro.model.parameters(), strict=True):
        # Adam divides by sqrt(v): float-rounding differences of near-zero gradients show at lr scale.
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-5)


def test_frozen_parameters_do_not_move_and_others_do():
    task = RIFTTrainTask(tiny_model(), RIFTTrainSettings(freeze_adaln_and_time_embedding=True))
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    for step in range(2):
        out = task.step(collate(tiny_items(2, 16, seed=step)), step)
        assert torch.isfinite(torch.tensor(out["train/loss"])) and out["train/grad_norm"] > 0
    after = task.model.state_dict()
    for key in before:
        frozen = key.startswith(("tembed.", "norm_out.")) or ".attn_norm." in key
        if frozen or key == "rotary_embed.inv_freq":
            assert torch.equal(before[key], after[key]), key
        elif key != "null_spk_embed.weight":
            assert not torch.equal(before[key], after[key]), key


def test_resume_from_state_continues_exactly():
    batches = [collate(tiny_items(2, 16, seed=s)) for s in range(4)]
    settings = RIFTTrainSettings(learning_rate=1e-3, warmup_steps=2, drop_speaker_probability=0.5)
    straight = RIFTTrainTask(tiny_model(), settings, seed=7)
    losses = [straight.step(b, i)["train/loss"] for i, b in enumerate(batches)]
    first = RIFTTrainTask(tiny_model(), settings, seed=7)
    for i in range(2):
        first.step(batches[i], i)
    with first.evaluation():
        pass
    first.optimizer.eval()  # a state saved in eval mode is brought back to the training weights
    state = first.state_dict()
    resumed = RIFTTrainTask(tiny_model(seed=99), settings, seed=7)
    resumed.load_state_dict(state)
    assert [resumed.step(b, i)["train/loss"] for i, b in enumerate(batches) if i >= 2] == losses[2:]


def test_evaluation_uses_the_averaged_weights_and_leaves_training_alone():
    task = RIFTTrainTask(tiny_model(), RIFTTrainSettings(learning_rate=1e-2))
    for i in range(3):
        task.step(collate(tiny_items(2, 12, seed=i)), i)
    train_weights = {k: v.clone() for k, v in task.model.state_dict().items()}
    with task.evaluation() as model:
        assert not model.training and not torch.equal(model.output.weight, train_weights["output.weight"])
        averaged = {k: v.clone() for k, v in model.state_dict().items()}
    assert task.model.training
    assert all(torch.equal(v, train_weights[k]) for k, v in task.model.state_dict().items())
    task.optimizer.eval()  # the library's own swap gives the same weights
    assert all(torch.equal(v, averaged[k]) for k, v in task.model.state_dict().items())


def test_draws_depend_only_on_seed_step_and_shard():
    a = shard_generator(3, 10, 1)
    b = shard_generator(3, 10, 1)
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))
    assert not torch.equal(torch.rand(4, generator=shard_generator(3, 10, 0)), torch.rand(4, generator=a))


def test_bad_settings():
    with pytest.raises(ConfigError, match="time_schedule"):
        RIFTTrainSettings(time_schedule="cosine")
    with pytest.raises(ConfigError, match="drop_speaker_probability"):
        RIFTTrainSettings(drop_speaker_probability=2.0)


def test_clipping_logs_the_gradient_norm_before_clipping():
    batch = collate(tiny_items(2, 16))
    free = RIFTTrainTask(tiny_model(), RIFTTrainSettings(learning_rate=1e-3))
    clipped = RIFTTrainTask(tiny_model(), RIFTTrainSettings(learning_rate=1e-3, max_grad_norm=1e-3))
    a, b = free.step(batch, 0), clipped.step(batch, 0)
    assert a["train/grad_norm"] == pytest.approx(b["train/grad_norm"], rel=1e-6)
    assert b["train/grad_norm"] > 1e-3
