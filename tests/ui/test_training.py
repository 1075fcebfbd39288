"""Training from the page: the recorder keeps what the loop logs, the job reports its end."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from timbrel.core.errors import ConfigError
from timbrel.ui.training import LossRecorder, TrainingJob, follow, loss_figure, loss_names, training_call


def test_recorder_keeps_scalars_and_ignores_media():
    recorder = LossRecorder()
    recorder.scalars({"train/loss_g": np.float32(2.5), "lr": 1e-4}, 1)
    recorder.image("mel", np.zeros((4, 4)), 1)
    recorder.audio("sample", np.zeros(8), 16000, 1)
    recorder.scalars({"train/loss_g": 2.0, "train/loss_d": 1.0}, 2)
    recorder.close()
    assert recorder.history() == [
        (1, {"train/loss_g": 2.5, "lr": 1e-4}),
        (2, {"train/loss_g": 2.0, "train/loss_d": 1.0}),
    ]
    assert loss_names(recorder.history()) == ["train/loss_g", "train/loss_d"]
    assert loss_names([(1, {"lr": 1.0})]) == ["lr"]
    per_part = {"loss_disc": 1.0, "loss_disc_r/0": 0.5, "loss_disc_r/1": 0.5, "loss_mel": 20.0}
    assert loss_names([(1, per_part)]) == ["loss_disc", "loss_mel"]


def test_job_runs_in_the_background_and_hands_back_the_result():
    release = threading.Event()

    def train(logger):
        for step in range(3):
            logger.scalars({"loss": 1.0 / (step + 1)}, step)
        release.wait(5)
        return "model.pth"

    job = TrainingJob(train)
    assert not job.wait(0.05)
    assert [step for step, _ in job.recorder.history()] == [0, 1, 2]
    release.set()
    assert job.wait(5)
    assert (job.result, job.error) == ("model.pth", None)


def test_job_keeps_the_error():
    def train(logger):
        raise ConfigError("batch_size must be positive")

    job = TrainingJob(train)
    assert job.wait(5)
    assert isinstance(job.error, ConfigError) and job.result is None


@pytest.mark.parametrize("history", [[], [(1, {"loss": 2.0}), (2, {"loss": 1.0, "loss_d": 3.0})]])
def test_loss_figure_renders(history, tmp_path):
    loss_figure(history).savefig(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_training_call_passes_only_what_the_function_takes():
    def train(folder, config, *, logger=None, hubert=None):
        return folder, config, logger, hubert

    call = training_call(train, {"logger": "L", "hubert": "H", "rmvpe": "R", "f0_method": "pm"})
    assert call("exp", "cfg") == ("exp", "cfg", "L", "H")
    assert training_call(lambda folder, config: (folder, config), {"logger": "L"})("a", "b") == ("a", "b")


def test_follow_reports_progress_then_the_end():
    release = threading.Event()

    def train(logger):
        logger.scalars({"loss": 2.0}, 1)
        release.wait(5)
        logger.scalars({"loss": 1.0}, 2)
        return "done"

    job = TrainingJob(train)
    updates = follow(job, poll_s=0.05)
    status, _ = next(updates)
    assert "step 1: loss 2" in status
    release.set()
    *_, (last, figure) = updates
    assert last.startswith("Done in") and job.result == "done"
    assert figure.axes[0].lines[0].get_xdata().tolist() == [1, 2]


def test_follow_raises_the_training_error():
    def train(logger):
        raise ConfigError("no batch of 4 pieces")

    with pytest.raises(ConfigError, match="no batch"):
        list(follow(TrainingJob(train), poll_s=0.05))
