"""`timbrel download` and `timbrel doctor` through the real entry point, against a local fake Hub."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from timbrel.weights.catalogue import NSF_HIFIGAN_FOLDER, RIFT_MODULES_REPO, RIFT_PRETRAINED_REPO, RVC_REPO
from timbrel.weights.hub import PARTIAL_DIR

from ..weights.fakehub import FakeHub

SRC = Path(__file__).resolve().parents[2] / "src"
DIT = "pretrain-v3_dit-512-8.ckpt"
DIT_KEY = f"{RIFT_PRETRAINED_REPO}/{DIT}"


@pytest.fixture
def fake_hub():
    hub = FakeHub()
    hub.url = hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def timbrel(*args: str, cache: Path, endpoint: str = "http://127.0.0.1:9", **env: str):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"}
    }
    environment.update(
        PYTHONPATH=str(SRC),
        TIMBREL_HOME=str(cache),
        HF_ENDPOINT=endpoint,
        HF_HOME=str(cache.parent / "hf-home"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        COLUMNS="250",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "timbrel", *args], env=environment, capture_output=True, text=True, timeout=60
    )


def _bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_download_fetches_checks_and_places_files_with_a_licence_notice(fake_hub, cache):
    dit = _bytes(40_000, 0)
    vocoder = _bytes(30_000, 1)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, dit)
    fake_hub.add(RIFT_MODULES_REPO, f"{NSF_HIFIGAN_FOLDER}/config.json", b'{"sampling_rate": 44100}')
    fake_hub.add(RIFT_MODULES_REPO, f"{NSF_HIFIGAN_FOLDER}/model.ckpt", vocoder)

    result = timbrel("download", "rift-dit-512-8", "nsf-hifigan", cache=cache, endpoint=fake_hub.url)

    assert result.returncode == 0, result.stderr
    assert "NON-COMMERCIAL: rift-dit-512-8, nsf-hifigan" in result.stderr
    assert (cache / DIT).read_bytes() == dit
    assert (cache / NSF_HIFIGAN_FOLDER / "model.ckpt").read_bytes() == vocoder
    assert json.loads((cache / NSF_HIFIGAN_FOLDER / "config.json").read_text()) == {"sampling_rate": 44100}

    again = timbrel("download", "rift-dit-512-8", cache=cache, endpoint=fake_hub.url)
    assert again.returncode == 0 and "already cached" in again.stderr


def test_download_resumes_what_an_interrupted_run_left(fake_hub, cache):
    dit = _bytes(60_000, 2)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, dit)
    (cache / PARTIAL_DIR).mkdir(parents=True)
    part = f"{RIFT_PRETRAINED_REPO.replace('/', '--')}--{hashlib.sha256(dit).hexdigest()}.part"
    (cache / PARTIAL_DIR / part).write_bytes(dit[:25_000])

    result = timbrel("download", "rift-dit-512-8", cache=cache, endpoint=fake_hub.url)

    assert result.returncode == 0, result.stderr
    assert "resuming at 25000 bytes" in result.stderr
    assert [g.range for g in fake_hub.gets(DIT_KEY)] == ["bytes=25000-"]
    assert (cache / DIT).read_bytes() == dit


def test_download_refuses_a_file_that_fails_its_checksum(fake_hub, cache):
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, _bytes(20_000, 3))
    fake_hub.corrupt.add(DIT_KEY)
    fake_hub.add(RVC_REPO, "hubert_base.pt", _bytes(1000, 4))

    corrupt = timbrel("download", "rift-dit-512-8", cache=cache, endpoint=fake_hub.url)
    other = timbrel("download", "hubert", cache=cache, endpoint=fake_hub.url)

    assert corrupt.returncode == 1 and "failed its checksum" in corrupt.stderr
    assert other.returncode == 1 and "different hubert_base.pt" in other.stderr
    assert not (cache / DIT).exists() and not (cache / "hubert_base.pt").exists()
    assert all(p.suffix == ".lock" for p in (cache / PARTIAL_DIR).iterdir())


def test_download_offline_uses_only_the_cache(fake_hub, cache):
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, _bytes(20_000, 5))

    missing = timbrel("download", "rift-dit-512-8", cache=cache, endpoint=fake_hub.url, HF_HUB_OFFLINE="1")
    assert missing.returncode == 1 and "HF_HUB_OFFLINE" in missing.stderr
    assert fake_hub.requests == []

    assert timbrel("download", "rift-dit-512-8", cache=cache, endpoint=fake_hub.url).returncode == 0
    fake_hub.requests.clear()
    cached = timbrel("download", "rift-dit-512-8", cache=cache, endpoint=fake_hub.url, HF_HUB_OFFLINE="1")
    assert cached.returncode == 0 and "already cached" in cached.stderr
    assert fake_hub.requests == []


def test_download_lists_the_catalogue_and_rejects_unknown_names(cache):
    listing = timbrel("download", cache=cache)
    assert listing.returncode == 0
    assert "rvc-v2-f0G40k" in listing.stderr and "CC BY-NC-SA 4.0" in listing.stderr

    unknown = timbrel("download", "hubbert", cache=cache)
    assert unknown.returncode == 1 and "unknown weight 'hubbert'" in unknown.stderr


def test_doctor_reports_and_exits_non_zero_when_a_requirement_is_missing(cache):
    # One run (importing torch and every package is slow on a busy machine): hubert is required
    # and the cache is empty, so the report must fail whatever else this machine has.
    result = timbrel("doctor", "--json", "--require", "hubert", cache=cache)

    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["ok"] is False
    failures = [check["name"] for check in report["checks"] if check["status"] == "fail"]
    assert "hubert" in failures
    sections = {check["section"] for check in report["checks"]}
    assert sections >= {"python", "torch", "devices", "packages", "audio", "extras", "weights"}
