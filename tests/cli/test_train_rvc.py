"""`timbrel train rvc` options: a config file, and flags that override it."""

from __future__ import annotations

import json
from types import SimpleNamespace

from typer.testing import CliRunner

from timbrel import api
from timbrel.cli import app
from timbrel.train.rvc import RVCTrainConfig


def _config_given(monkeypatch, tmp_path, *args) -> RVCTrainConfig:
    """The config `timbrel train rvc` hands to api.train_rvc (which is not run here)."""
    seen = {}

    def train_rvc(experiment_dir, config, **kwargs):
        seen.update(config=config, **kwargs)
        return SimpleNamespace(position=SimpleNamespace(step=0), voice_model=None, best_voice_model=None)

    monkeypatch.setattr(api, "train_rvc", train_rvc)
    result = CliRunner().invoke(
        app, ["train", "rvc", "-e", "x", "--logs-dir", str(tmp_path), *map(str, args)]
    )
    assert result.exit_code == 0, result.output
    return seen["config"]


def test_flags_override_the_config_file(monkeypatch, tmp_path):
    written = {
        "version": "v1",
        "sample_rate": 32000,
        "batch_size": 8,
        "loop": {"epochs": 3, "save_every_epochs": 1},
    }
    config_file = tmp_path / "train.json"
    config_file.write_text(json.dumps(written))
    config = _config_given(monkeypatch, tmp_path, "--config", config_file, "--batch-size", 2, "--epochs", 7)
    assert (config.batch_size, config.loop.epochs) == (2, 7)  # given on the command line
    assert (config.version, config.sample_rate, config.loop.save_every_epochs) == (
        "v1",
        32000,
        1,
    )  # the file's
    pitchless = _config_given(monkeypatch, tmp_path, "--config", config_file, "--f0-method", "none")
    assert not pitchless.use_f0 and pitchless.batch_size == 8


def test_without_a_file_flags_override_the_defaults(monkeypatch, tmp_path):
    defaults = RVCTrainConfig()
    assert _config_given(monkeypatch, tmp_path) == defaults
    config = _config_given(
        monkeypatch, tmp_path, "--keep-latest-only", "--precision", "bf16", "--set", "seed=7"
    )
    assert config.loop.keep_latest_only and config.run.precision == "bf16" and config.seed == 7
    assert config.loop.epochs == defaults.loop.epochs
