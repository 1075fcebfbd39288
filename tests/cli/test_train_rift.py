"""`timbrel train rift` through the real command (in process: a subprocess spends its time importing torch)
on a tiny model and a generated corpus."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.train.rift_corpus import CONTENT_DIM, build_corpus
from timbrel.cli import app


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("rift-cli"), seconds_per_singer=5.0)


def test_train_then_continue(corpus, tmp_path):
    common = [
        "train", "rift", corpus, "--model", "tiny", "--run-name", "r", "--output-dir", tmp_path,
        "--batch-size", 2, "--save-every", 1, "--test-every", 2, "--logger", "none",
        "--learning-rate", 0.001, "--freeze-adaln-and-tembed",
        "--set", f"model.content_dim={CONTENT_DIM}", "--set", "dataset.max_frame_len=32",
        "--set", "training.eval_sample_steps=2",
    ]  # fmt: skip
    first = run_cli(*common, "--max-steps", 2)
    assert first.exit_code == 0, first.output
    run = tmp_path / "r"
    assert (run / "model-step=2.safetensors").is_file() and (run / "model-step=2.ckpt").is_file()
    assert (run / "best.safetensors").is_file()
    config = json.loads((run / "model-step=2.json").read_text())["training"]
    assert config["training"]["freeze_adaln_and_tembed"] is True
    assert config["training"]["learning_rate"] == 0.001
    again = run_cli(*common, "--max-steps", 3)
    assert again.exit_code == 0, again.output
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps.count(3) >= 1 and steps.count(1) == 1


def test_bad_values_are_reported(corpus, tmp_path):
    result = run_cli("train", "rift", corpus, "--time-schedule", "cosine", "--output-dir", tmp_path)
    assert result.exit_code == 2 and "time_schedule" in result.output
    result = run_cli("train", "rift", tmp_path / "nothing", "--output-dir", tmp_path)
    assert result.exit_code == 2 and "meta_info.json" in result.output
