"""What the web UI tests share: `timbrel ui` served over a workspace of the fixtures' tiny models."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

START_TIMEOUT_S = 90
MAX_UPLOAD_MB = 1  # the fixture clips are smaller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`timbrel ui` exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"`timbrel ui` did not answer within {START_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def e2e(fixtures):
    root = fixtures / "rvc" / "e2e"
    return root, json.loads((root / "settings.json").read_text())


@pytest.fixture(scope="module")
def rift_e2e(fixtures):
    root = fixtures / "rift" / "e2e"
    return root, json.loads((root / "settings.json").read_text())


@pytest.fixture(scope="module")
def server_environment() -> dict[str, str]:
    """Variables added to the environment of `timbrel ui` (a module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def server(tmp_path_factory, e2e, rift_e2e, server_environment):
    """`timbrel ui` on a free local port, over a workspace holding the fixtures' tiny RVC and RIFT
    models, with the fixtures' standard weights as its settings. Its output goes to
    ``server.log`` beside the workspace."""
    root, settings = e2e
    rift_root, _ = rift_e2e
    pretrained = rift_root / "pretrained"
    workspace = tmp_path_factory.mktemp("ui") / "workspace"
    models = workspace / "models" / "e2etiny"
    models.mkdir(parents=True)
    for name in (settings["model_file"], settings["index_file"]):
        shutil.copyfile(root / name, models / name)
    (workspace / "models" / "rift").mkdir()
    rift_model = next(rift_root.glob("*.ckpt"))
    shutil.copyfile(rift_model, workspace / "models" / "rift" / rift_model.name)
    port = free_port()
    log = workspace.parent / "server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "timbrel", "ui", "--workspace", str(workspace), "--port", str(port),
                "--hubert", str(root / "hubert"), "--max-upload-mb", str(MAX_UPLOAD_MB),
                "--rmvpe", str(next(pretrained.glob("rmvpe/*.pt"))),
                "--contentvec", str(next(pretrained.glob("content-vec*"))),
                "--vocoder", str(next(pretrained.glob("nsf_hifigan*"))),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **server_environment},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log)
        yield url, workspace
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
