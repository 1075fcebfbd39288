"""--device, --precision and --shard through the real entry point (on the CPU)."""

from __future__ import annotations

import pytest
import soundfile
import torch

from tests.cli.test_convert import run_cli, rvc_arguments


@pytest.mark.slow  # two conversions through the CLI: about 25 s on a loaded 2-core machine
def test_auto_says_what_it_picked_and_shards_split_a_folder(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    source, rate = soundfile.read(str(root / "input_short.wav"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("c.wav", "a.wav", "b.wav"):
        soundfile.write(str(inputs / name), source[: rate // 2], rate)
    out = tmp_path / "out"
    first = run_cli("convert", inputs, "-o", out, *rvc_arguments(root), "--device", "auto", "--shard", "1/2")
    assert first.returncode == 0, first.stderr
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert f"using {expected}" in first.stderr and "(auto;" in first.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "c.wav"]
    second = run_cli("convert", inputs, "-o", out, *rvc_arguments(root), "--device", "cpu", "--shard", "2/2")
    assert second.returncode == 0, second.stderr
    assert "(auto;" not in second.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "b.wav", "c.wav"]


def test_impossible_settings_are_refused_in_one_line(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    given = [root / "input_short.wav", "-o", tmp_path / "x.wav", *rvc_arguments(root)]
    fp16 = run_cli("convert", *given, "--device", "cpu", "--precision", "fp16")
    assert fp16.returncode == 2
    assert "precision fp16 does not run on cpu; allowed there: fp32, bf16" in fp16.stderr
    assert "Traceback" not in fp16.stderr
    shard = run_cli("convert", *given, "--shard", "3/2")
    assert shard.returncode == 2 and "shard 3/2" in shard.stderr
    if not torch.cuda.is_available():
        cuda = run_cli("convert", *given, "--device", "cuda")
        assert cuda.returncode == 2 and "sees no GPU" in cuda.stderr and "Traceback" not in cuda.stderr
    assert not (tmp_path / "x.wav").exists()
