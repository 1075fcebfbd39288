"""The generic loop with the RVC task: exact resume, and 2-process DDP equal to one process."""

from __future__ import annotations

import shutil
import socket
import sys
import types
from collections import Counter
from dataclasses import replace

import pytest
import torch
import torch.multiprocessing as mp

from tests.train.ddp_worker import Recorder, train
from tests.train.experiment import extracted_version, make_experiment
from timbrel.train.loop import LoopConfig
from timbrel.train.rvc import RVCTrainConfig, train_rvc
from timbrel.train.rvc_data import build_filelist


@pytest.fixture(scope="module")
def experiment(fixtures, tmp_path_factory):
    return make_experiment(fixtures, tmp_path_factory.mktemp("rvc-train"), seconds=40.0)


def _config(experiment, **loop) -> RVCTrainConfig:
    return RVCTrainConfig(
        model_size="tiny",
        version=extracted_version(experiment),
        sample_rate=32000,
        batch_size=2,
        validation_items=0,
        save_weights=False,
        tensorboard=False,
        loop=LoopConfig(epochs=2, save_every_epochs=None, log_every_steps=1, show_progress=False, **loop),
    )


def test_restarting_continues_exactly_where_the_run_stopped(experiment, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    for folder in (whole, split):
        shutil.copytree(experiment, folder)
    uninterrupted = Recorder()
    train_rvc(whole, _config(experiment), logger=uninterrupted)
    steps = max(uninterrupted.figures)
    assert steps >= 8  # two epochs of several batches: the stop below falls inside the first epoch

    first = Recorder()
    stopped = train_rvc(split, _config(experiment, max_steps=3), logger=first)
    assert (stopped.position.step, stopped.position.epoch, stopped.position.batch) == (3, 1, 3)
    assert (split / "G_3.pth").is_file() and (split / "D_3.timbrel.pt").is_file()
    assert not list(split.glob("D_*.pth"))  # the tiny discriminator is not RVC's shape
    second = Recorder()
    finished = train_rvc(split, _config(experiment), logger=second)
    assert finished.position.step == steps
    assert sorted(second.figures) == list(range(4, steps + 1))
    for step in range(1, steps + 1):
        resumed = first.figures.get(step) or second.figures[step]
        assert resumed == uninterrupted.figures[step], step


def test_rvc_training_sends_its_figures_to_wandb_when_asked(experiment, tmp_path, monkeypatch):
    runs = []

    class FakeRun:
        def __init__(self, **settings):
            self.settings, self.logged, self.finished = settings, [], False

        def log(self, values, step):
            self.logged.append((step, values))

        def finish(self):
            self.finished = True

    wandb = types.ModuleType("wandb")
    wandb.init = lambda **settings: runs.append(FakeRun(**settings)) or runs[-1]
    wandb.Image = lambda image: ("image", image.shape)
    wandb.Audio = lambda samples, sample_rate: ("audio", sample_rate)
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    folder = tmp_path / "exp"
    shutil.copytree(experiment, folder)
    train_rvc(folder, replace(_config(experiment, max_steps=2), wandb_project="timbrel-test"))
    (run,) = runs
    assert (run.settings["project"], run.settings["name"]) == ("timbrel-test", "exp")
    assert run.settings["config"]["wandb_project"] == "timbrel-test"
    assert [step for step, values in run.logged if "loss_mel" in values] == [1, 2]
    media = {name: value for _, values in run.logged for name, value in values.items()}
    assert (media["slice/mel_gen"][0], media["slice/audio_gen"]) == ("image", ("audio", 32000))
    assert run.finished


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one_process_on_the_same_global_batch(experiment, tmp_path):
    version = extracted_version(experiment)
    lines = build_filelist(experiment, version, use_f0=True)
    (tmp_path / "filelist.txt").write_text("\n".join(lines))
    sizes = [
        (experiment / "0_gt_wavs" / line.split("|")[0].rsplit("/", 1)[1]).stat().st_size for line in lines
    ]
    # Items of one length: the KL term is a mean over all valid frames of the batch, which only
    # splits into equal per-process shares when every item has as many frames.
    common = Counter(sizes).most_common(1)[0][0]
    same = [i for i, size in enumerate(sizes) if size == common]
    assert len(same) >= 4
    global_batches = [same[0:2], same[2:4]]
    single, double = tmp_path / "single.pt", tmp_path / "double.pt"
    train(0, 1, str(tmp_path), global_batches, str(single), _free_port(), version)
    arguments = (2, str(tmp_path), global_batches, str(double), _free_port(), version)
    mp.spawn(train, args=arguments, nprocs=2, join=True)
    one, two = torch.load(single, weights_only=True), torch.load(double, weights_only=True)
    assert sorted(one["figures"]) == sorted(two["figures"]) == [1, 2]
    for step, figures in one["figures"].items():
        for name, value in figures.items():
            assert two["figures"][step][name] == pytest.approx(value, rel=1e-4, abs=1e-6), (step, name)
    # The gradients agree (through AdamW's running average of them, rounding aside), and the
    # weights within the size of AdamW's steps (±lr each; the worker's eps keeps the steps of
    # rounding-noise gradients, e.g. the attention key biases', far smaller).
    for name in ("gradient_average_g", "gradient_average_d"):
        scale = max(m.abs().max().item() for m in one[name])
        worst = max((a - b).abs().max().item() for a, b in zip(one[name], two[name], strict=True))
        assert worst <= 1e-3 * scale, (name, worst, scale)
    bound = 2 * RVCTrainConfig().optim.learning_rate * len(global_batches)
    for part in ("generator", "discriminator"):
        for key, value in one[part].items():
            assert (two[part][key] - value).abs().max() <= bound, key
