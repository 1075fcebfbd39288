"""`timbrel eval` through the real entry point: a conversion that is the source itself scores as such."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import require_module
from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, sing_recording


def test_eval_command_writes_reports(tmp_path):
    require_module("matplotlib", "plots need the [eval] extra (matplotlib)")
    sources, converted = tmp_path / "src", tmp_path / "conv"
    for k in range(2):
        take = sing_recording(SINGERS[k], 4.0, 22050, seed=k)
        io.save(sources / f"take{k}.wav", take)
        io.save(converted / f"take{k}.flac", io.conform(take, 32000))
    result = subprocess.run(
        [sys.executable, "-m", "timbrel", "eval", str(converted), str(sources),
         "--report", str(tmp_path / "r"), "--set", 'metrics=["f0", "loudness"]'],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert len(report["files"]) == 2
    assert report["summary"]["f0_rmse_cents"] < 5
    assert abs(report["summary"]["loudness_difference_lu"]) < 0.1
    assert (tmp_path / "r" / "report.html").stat().st_size > 1000
