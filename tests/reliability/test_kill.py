"""SIGKILL at seeded random moments of prepare, extract and training through the real command line,
then resume: outputs byte-identical to an uninterrupted run, no temporary left, same losses.
CI kills each stage 3 times; `python -m benchmarks reliability` kills each 20 times."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import fixture_file
from tests.reliability.kill import copy_state, kill_and_resume
from tests.train.rift_corpus import CONTENT_DIM, build_corpus
from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, sing_recording

KILLS = 3
SEED = 18


def songs(folder: Path) -> Path:
    for k in range(3):
        io.save(folder / f"take {k}.wav", sing_recording(SINGERS[k % 2], 7.0, 32000, seed=k))
    return folder


def rvc_commands(logs: Path, songs_dir: Path, hubert: Path) -> dict[str, list[object]]:
    common = ["-e", "exp", "--logs-dir", logs]
    return {
        "prepare": [
            "prepare", "rvc", songs_dir, *common, "--sample-rate", 32000, "--piece-s", 3.0, "--workers", 1,
        ],
        "extract": ["extract", "rvc", *common, "--hubert", hubert, "--f0-method", "pm"],
        "train rvc": [
            "train", "rvc", *common, "--stage", "train", "--sample-rate", 32000, "--batch-size", 2,
            "--epochs", 2, "--save-every-epoch", 1, "--set", "model_size=tiny", "--set", "validation_items=1",
            "--set", "tensorboard=false",
        ],
    }  # fmt: skip


def assert_survived(count) -> None:
    assert count.kills == KILLS
    assert count.differences == [], (count.stage, count.differences)
    assert count.identical == KILLS


def test_prepare_and_extract_survive_kills(fixtures, tmp_path):
    logs = tmp_path / "logs"
    work = logs / "exp"
    commands = rvc_commands(
        logs, songs(tmp_path / "songs"), fixture_file(fixtures / "rvc" / "e2e" / "hubert")
    )
    assert_survived(
        kill_and_resume("prepare", work, copy_state(None, work), commands["prepare"], KILLS, SEED)
    )
    prepared = tmp_path / "prepared"
    shutil.copytree(work, prepared, symlinks=True)
    restore = copy_state(prepared, work)
    assert_survived(kill_and_resume("extract", work, restore, commands["extract"], KILLS, SEED + 1))


@pytest.mark.slow
def test_rvc_training_survives_kills(fixtures, tmp_path):
    logs = tmp_path / "logs"
    work = logs / "exp"
    commands = rvc_commands(
        logs, songs(tmp_path / "songs"), fixture_file(fixtures / "rvc" / "e2e" / "hubert")
    )
    kill_and_resume("prepare", work, copy_state(None, work), commands["prepare"], 0, SEED)
    kill_and_resume("extract", work, lambda: None, commands["extract"], 0, SEED)
    extracted = tmp_path / "extracted"
    shutil.copytree(work, extracted, symlinks=True)
    restore = copy_state(extracted, work)
    assert_survived(kill_and_resume("train rvc", work, restore, commands["train rvc"], KILLS, SEED + 2))


def rift_command(data: Path, runs: Path) -> list[object]:
    return [
        "train", "rift", data, "--model", "tiny", "--run-name", "r", "--output-dir", runs,
        "--batch-size", 2, "--save-every", 1, "--test-every", 2, "--logger", "none", "--max-steps", 4,
        "--learning-rate", 0.001, "--set", f"model.content_dim={CONTENT_DIM}",
        "--set", "dataset.max_frame_len=32", "--set", "training.eval_sample_steps=2",
    ]  # fmt: skip


@pytest.mark.slow
def test_rift_training_survives_kills(tmp_path):
    runs = tmp_path / "runs"
    command = rift_command(build_corpus(tmp_path / "corpus", seconds_per_singer=5.0), runs)
    assert_survived(kill_and_resume("train rift", runs, copy_state(None, runs), command, KILLS, SEED + 3))
