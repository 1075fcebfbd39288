"""Converting long audio takes memory flat in its length: each length runs `timbrel convert` in a
fresh process on the end-to-end fixtures' tiny RVC or RIFT model, which reports its own peak RSS."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.reliability.harness import Models
from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, sing_recording

# timbrel convert in-process, then this process's peak resident memory in MB
PEAK_RSS = """
import resource, sys
from timbrel.cli import app
try:
    app(sys.argv[1:], prog_name="timbrel")
except SystemExit as end:
    assert not end.code, end.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_rss_mb(seconds: int, folder, model_arguments: list) -> float:
    song = folder / f"song{seconds}.wav"
    io.save(song, sing_recording(SINGERS[0], seconds, 44100, seed=4))
    command = ["convert", song, "-o", folder / "out", *model_arguments, "--device", "cpu"]
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *map(str, command)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_rvc_conversion_memory_grows_only_by_the_whole_length_arrays(fixtures, tmp_path):
    """One minute is two chunks of RVC's CPU chunking (38 s), five minutes eight. What a chunk
    needs is freed before the next; what stays is the whole-length audio, f0 and output arrays
    (measured 585 MB at 1 minute, 690 MB at 3 and 918 MB at 10, about 37 MB a minute; 110 MB a
    minute before chunks wrote into one output buffer and glibc's mmap threshold was fixed).
    Before oneDNN's primitive cache was bounded every chunk also left its primitives behind:
    1.05 GB at 1 minute, 5.2 GB at 10, about 460 MB a minute."""
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    model = ["--model", root / settings["model_file"], "--index", root / settings["index_file"]]
    arguments = [*model, "--hubert", root / "hubert", "--f0-method", "pm"]
    short, long = (peak_rss_mb(seconds, tmp_path, arguments) for seconds in (60, 300))
    assert (long - short) / 4 < 100, (short, long)


@pytest.mark.slow
def test_rift_conversion_memory_grows_only_by_the_whole_length_arrays(fixtures, tmp_path):
    """A minute of singing is about 15 slices, five minutes about 75, each of its own length: what a
    slice builds (its features, the native libraries' primitives for its shapes, the heap its
    tensors used) must not stay behind for the next."""
    models = Models.from_fixtures(fixtures)
    arguments = [
        "--model", models.rift_model, "--contentvec", models.contentvec, "--rmvpe", models.rmvpe,
        "--vocoder", models.vocoder, "--speaker", 0, "--infer-steps", 2,
    ]  # fmt: skip
    short, long = (peak_rss_mb(seconds, tmp_path, arguments) for seconds in (60, 300))
    assert (long - short) / 4 < 100, (short, long)
