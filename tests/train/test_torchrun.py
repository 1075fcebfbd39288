"""`torchrun --standalone --nproc-per-node 2 -m timbrel train rvc` on the CPU (gloo) equals one
process of `timbrel train rvc` on the same global batches."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.train.experiment import extracted_version, make_experiment
from timbrel.models.rvc.discriminator import DiscriminatorConfig
from timbrel.train.rvc import RVCCheckpointFormat, RVCTrainConfig
from timbrel.weights.rvc import read_training_checkpoint


def _equal_length_experiment(fixtures: Path, folder: Path, pieces: int) -> Path:
    """A prepared experiment that keeps ``pieces`` pieces of one length: RVC's KL term is a mean
    over every valid frame of the batch, which splits into equal per-process shares only when the
    items have as many frames."""
    experiment = make_experiment(fixtures, folder, seconds=30.0)
    wavs = sorted((experiment / "0_gt_wavs").glob("*.wav"))
    common = Counter(p.stat().st_size for p in wavs).most_common(1)[0][0]
    same = [p for p in wavs if p.stat().st_size == common]
    assert len(same) >= pieces
    for wav in wavs:
        if wav not in same[:pieces]:
            wav.unlink()
    return experiment


def _train(launcher: list[str], experiment: Path, batch_size: int) -> subprocess.CompletedProcess:
    arguments = [
        "train", "rvc", "-e", experiment.name, "--logs-dir", experiment.parent, "--stage", "train",
        "--sample-rate", "32000", "--f0-method", "pm", "--batch-size", str(batch_size), "--epochs", "1",
        "--save-every-epoch", "1", "--device", "cpu", "--version", extracted_version(experiment),
        "--set", "model_size=tiny", "--set", "validation_items=0", "--set", "tensorboard=false",
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*launcher, *map(str, arguments)], capture_output=True, text=True, env=environment, timeout=600
    )


def _torchrun() -> list[str]:
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow  # two training runs in fresh processes: about 40 s on a loaded 2-core machine
def test_torchrun_two_gloo_processes_equal_one_process(fixtures, tmp_path):
    experiment = _equal_length_experiment(fixtures, tmp_path / "made", pieces=4)
    single = shutil.copytree(experiment, tmp_path / "single" / "exp")
    double = shutil.copytree(experiment, tmp_path / "double" / "exp")

    one = _train([sys.executable, "-m", "timbrel"], single, batch_size=2)
    assert one.returncode == 0, one.stderr
    two = _train(
        [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "timbrel"], double, batch_size=1
    )
    assert two.returncode == 0, two.stderr

    # Two global batches of 2 pieces: both runs write G_2/D_2 after their one epoch, under the names
    # the trainer gives the tiny preset (its discriminator is not RVC's shape: D_2.timbrel.pt).
    steps = 2
    tiny = RVCTrainConfig(model_size="tiny", version=extracted_version(experiment), sample_rate=32000)
    rvc_discriminator = tiny.discriminator_config() == DiscriminatorConfig.for_version(tiny.version)
    names = RVCCheckpointFormat(tiny.optim.learning_rate, rvc_discriminator).names
    for name in ("G", "D"):
        a = read_training_checkpoint(single / names[name].format(steps))
        b = read_training_checkpoint(double / names[name].format(steps))
        # The gradients agree through AdamW's running average of them (rounding aside); the
        # weights within the size of AdamW's steps (about ±lr each, whatever the gradient).
        moments_a = [s["exp_avg"] for s in a.optimizer["state"].values()]
        moments_b = [s["exp_avg"] for s in b.optimizer["state"].values()]
        scale = max(m.abs().max().item() for m in moments_a)
        worst = max((x - y).abs().max().item() for x, y in zip(moments_a, moments_b, strict=True))
        assert worst <= 1e-3 * scale, (name, worst, scale)
        bound = 2 * RVCTrainConfig().optim.learning_rate * steps
        for key, value in a.model.items():
            assert (b.model[key] - value).abs().max() <= bound, (name, key)
