"""The generic loop with a toy task: accumulation, RNG-exact resume, keep-latest, loggers."""

from __future__ import annotations

import torch
from torch import nn

from timbrel.nn.step_context import StepContext
from timbrel.train.checkpoint import CheckpointStore
from timbrel.train.data import TrainData, shuffled_batches
from timbrel.train.loggers import TensorBoardLogger
from timbrel.train.loop import LoopConfig, fit


class Toy:
    """Linear regression; with ``noisy`` each step adds a draw from torch's global generator."""

    def __init__(self, context: StepContext, noisy: bool):
        torch.manual_seed(0)
        self.context, self.noisy = context, noisy
        self.model = nn.Linear(3, 1)
        self.wrapped = context.wrap(self.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=0.05)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, 0.5)

    def step(self, batch, step):
        ctx = self.context
        if ctx.first_micro_step:
            self.optimizer.zero_grad()
        noise = torch.randn(()) if self.noisy else 0.0
        loss = ((self.wrapped(batch["x"])[:, 0] - batch["y"] + noise) ** 2).mean()
        with ctx.sync(self.wrapped):
            ctx.backward(loss)
        if ctx.last_micro_step:
            ctx.optimizer_step(self.optimizer, list(self.model.parameters()))
        return {"loss": loss.item()}

    def end_epoch(self, epoch):
        self.scheduler.step()

    def state_dict(self):
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


class Recorder:
    def __init__(self):
        self.figures = {}

    def scalars(self, values, step):
        self.figures[step] = values

    def image(self, name, image, step):
        pass

    def audio(self, name, samples, sample_rate, step):
        pass

    def close(self):
        pass


def _data(batch_size: int) -> TrainData:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    items = [{"x": x[i], "y": y[i]} for i in range(12)]
    return TrainData(items, shuffled_batches(12, batch_size, seed=3), torch.utils.data.default_collate)


def _loop(**changes) -> LoopConfig:
    return LoopConfig(
        **{"epochs": 3, "save_every_epochs": None, "log_every_steps": 1, "show_progress": False, **changes}
    )


def test_accumulating_two_micro_batches_equals_one_batch_of_both():
    whole = Toy(StepContext(), noisy=False)
    fit(whole, _data(batch_size=4), whole.context, _loop())
    accumulated = Toy(StepContext(accumulation_steps=2), noisy=False)
    position = fit(accumulated, _data(batch_size=2), accumulated.context, _loop())
    assert position.step == 9  # 3 epochs of 3 windows of 2 micro-batches
    for a, b in zip(whole.model.parameters(), accumulated.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_resume_restores_the_random_generators_and_keeps_only_the_latest(tmp_path):
    uninterrupted = Recorder()
    toy = Toy(StepContext(), noisy=True)
    fit(toy, _data(4), toy.context, _loop(), CheckpointStore(tmp_path / "a"), uninterrupted)

    first, second = Recorder(), Recorder()
    store = CheckpointStore(tmp_path / "b", keep_latest_only=True)
    toy = Toy(StepContext(), noisy=True)
    fit(toy, _data(4), toy.context, _loop(max_steps=4, save_every_steps=2), store, first)
    assert store.steps() == [4]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["task_4.pt", "train_state_4.pt"]
    toy = Toy(StepContext(), noisy=True)
    torch.manual_seed(123)  # whatever the new process's generators hold, the checkpoint's win
    fit(toy, _data(4), toy.context, _loop(), store, second)
    assert {**first.figures, **second.figures} == uninterrupted.figures
    assert store.steps() == [9]


def test_tensorboard_logger_writes_scalars_images_and_audio(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    logger.scalars({"loss": 1.0}, 1)
    logger.image("mel", torch.rand(8, 5).numpy(), 1)
    logger.audio("audio", torch.rand(100).numpy() - 0.5, 16000, 1)
    logger.close()
    assert list(tmp_path.glob("events.out.tfevents.*"))
