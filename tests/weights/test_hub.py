from __future__ import annotations

import hashlib
import json
import re
import threading

import huggingface_hub.constants
import numpy as np
import pytest

from timbrel.core.errors import ConfigError
from timbrel.weights import hub as hub_module
from timbrel.weights.cache import MissingWeightError, cache_dir, find_weight
from timbrel.weights.catalogue import (
    GROUPS,
    RIFT_MODULES_REPO,
    RIFT_PRETRAINED_REPO,
    RVC_REPO,
    STANDARD_WEIGHTS,
    HubFile,
    HubSource,
    StandardWeight,
)
from timbrel.weights.hub import (
    CHECKSUMS_FILE,
    PARTIAL_DIR,
    ChecksumMismatchError,
    DownloadError,
    download,
    git_blob_sha1_of,
    licence_notice,
    resolve,
)

from .fakehub import FakeHub

DIT = "pretrain-v3_dit-512-8.ckpt"
DIT_KEY = f"{RIFT_PRETRAINED_REPO}/{DIT}"


def _bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    hub = FakeHub()
    url = hub.start()
    monkeypatch.setenv("TIMBREL_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield hub
    hub.stop()


def _no_leftovers() -> bool:
    """No partial transfers or staging folders left behind (lock files may stay)."""
    partial = cache_dir() / PARTIAL_DIR
    return not partial.exists() or all(p.suffix == ".lock" for p in partial.iterdir())


def test_download_places_the_verified_file_where_find_weight_looks(fake_hub):
    content = _bytes(300_000, 0)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, content)

    [outcome] = download(resolve(["rift-dit-512-8"]))

    path = find_weight("rift-dit-512-8")
    assert path == outcome.path == cache_dir() / DIT
    assert path.read_bytes() == content
    assert outcome.verified and outcome.downloaded_bytes == len(content)
    records = json.loads((cache_dir() / CHECKSUMS_FILE).read_text())
    assert records[DIT]["sha256"] == hashlib.sha256(content).hexdigest()
    assert _no_leftovers()


def test_lfs_files_redirected_to_a_cdn_are_fetched_from_there(fake_hub):
    content = _bytes(50_000, 11)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, content)
    fake_hub.redirect_lfs = True

    [outcome] = download(resolve(["rift-dit-512-8"]))

    [get] = fake_hub.gets(DIT_KEY)
    assert get.from_cdn
    assert outcome.path.read_bytes() == content


def test_folder_weight_is_placed_whole_with_small_files_checked_by_git_hash(fake_hub):
    config = b'{"hidden_size": 768}'
    weights = _bytes(50_000, 1)
    fake_hub.add(RIFT_MODULES_REPO, "content-vec-best/config.json", config)
    fake_hub.add(RIFT_MODULES_REPO, "content-vec-best/pytorch_model.bin", weights)

    download(resolve(["contentvec"]))

    folder = find_weight("contentvec")
    assert folder == cache_dir() / "content-vec-best"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "pytorch_model.bin"]
    assert (folder / "config.json").read_bytes() == config
    assert (folder / "pytorch_model.bin").read_bytes() == weights
    assert _no_leftovers()


def test_a_transfer_cut_short_resumes_with_a_range_request(fake_hub, monkeypatch):
    # huggingface_hub writes what it receives in 10 MiB blocks; smaller blocks let a small file
    # show the resume.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 4096)
    content = _bytes(200_000, 2)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, content)
    fake_hub.cut_first_get.add(DIT_KEY)

    [outcome] = download(resolve(["rift-dit-512-8"]))

    first, second = fake_hub.gets(DIT_KEY)
    assert first.range is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", second.range)[1])
    assert 0 < resumed_at <= len(content) // 2  # from the last block written, not from zero
    assert find_weight("rift-dit-512-8").read_bytes() == content
    assert outcome.downloaded_bytes == len(content)


def test_a_partial_file_left_by_an_interrupted_run_is_resumed(fake_hub):
    content = _bytes(120_000, 3)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, content)
    kept = len(content) // 3
    partial = cache_dir() / PARTIAL_DIR
    partial.mkdir(parents=True)
    name = f"{RIFT_PRETRAINED_REPO.replace('/', '--')}--{hashlib.sha256(content).hexdigest()}.part"
    (partial / name).write_bytes(content[:kept])

    [outcome] = download(resolve(["rift-dit-512-8"]))

    assert [g.range for g in fake_hub.gets(DIT_KEY)] == [f"bytes={kept}-"]
    assert outcome.files[0].resumed_from_bytes == kept
    assert outcome.files[0].downloaded_bytes == len(content) - kept
    assert find_weight("rift-dit-512-8").read_bytes() == content
    assert _no_leftovers()


def test_a_file_that_fails_the_hub_checksum_is_refused_and_removed(fake_hub):
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, _bytes(10_000, 4))
    fake_hub.corrupt.add(DIT_KEY)

    with pytest.raises(ChecksumMismatchError, match="failed its checksum"):
        download(resolve(["rift-dit-512-8"]))

    assert not (cache_dir() / DIT).exists()
    assert _no_leftovers()
    with pytest.raises(MissingWeightError):
        find_weight("rift-dit-512-8")


def test_a_file_that_fails_the_recorded_checksum_is_refused(fake_hub):
    content = _bytes(10_000, 5)
    weight = StandardWeight(
        "test-weight",
        ("test.bin",),
        "a test",
        HubSource(
            "someone/test",
            (HubFile("test.bin", hashlib.sha256(content).hexdigest()),),
            "test.bin",
            "MIT",
            False,
        ),
    )
    fake_hub.add("someone/test", "test.bin", content)
    fake_hub.corrupt.add("someone/test/test.bin")

    with pytest.raises(ChecksumMismatchError) as raised:
        download([weight])

    assert raised.value.expected == hashlib.sha256(content).hexdigest()
    assert not (cache_dir() / "test.bin").exists()
    assert _no_leftovers()


def test_a_hub_file_other_than_the_catalogued_one_is_refused_before_downloading(fake_hub):
    fake_hub.add(RVC_REPO, "hubert_base.pt", _bytes(1000, 6))

    with pytest.raises(DownloadError, match=r"different hubert_base\.pt"):
        download(resolve(["hubert"]))

    assert fake_hub.gets(f"{RVC_REPO}/hubert_base.pt") == []
    assert not (cache_dir() / "hubert_base.pt").exists()


def test_a_cached_file_is_checked_without_asking_the_hub(fake_hub):
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, _bytes(5000, 7))
    download(resolve(["rift-dit-512-8"]))
    fake_hub.requests.clear()

    [outcome] = download(resolve(["rift-dit-512-8"]))

    assert fake_hub.requests == []
    assert outcome.downloaded_bytes == 0 and outcome.verified


def test_a_damaged_cached_file_is_downloaded_again(fake_hub):
    content = _bytes(5000, 8)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, content)
    download(resolve(["rift-dit-512-8"]))
    (cache_dir() / DIT).write_bytes(b"damaged")

    [outcome] = download(resolve(["rift-dit-512-8"]))

    assert outcome.downloaded_bytes == len(content)
    assert (cache_dir() / DIT).read_bytes() == content


def test_offline_mode_uses_the_cache_and_never_the_network(fake_hub, monkeypatch):
    content = _bytes(5000, 9)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, content)
    download(resolve(["rift-dit-512-8"]))
    fake_hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    [outcome] = download(resolve(["rift-dit-512-8"]))
    assert outcome.verified and outcome.path.read_bytes() == content

    with pytest.raises(MissingWeightError, match="HF_HUB_OFFLINE"):
        download(resolve(["rift-dit-768-12"]))

    (cache_dir() / DIT).write_bytes(b"damaged")
    with pytest.raises(MissingWeightError, match="does not match its checksum"):
        download(resolve(["rift-dit-512-8"]))
    assert fake_hub.requests == []


def test_missing_file_on_the_hub_is_a_download_error(fake_hub):
    fake_hub.add(RIFT_PRETRAINED_REPO, "something-else.ckpt", b"x")

    with pytest.raises(DownloadError, match=r"pretrain-v3_dit-512-8\.ckpt"):
        download(resolve(["rift-dit-512-8"]))


def test_resolve_expands_groups_once_in_order_and_names_the_choices():
    names = [w.name for w in resolve(["rmvpe", "rvc"])]
    assert names == ["rmvpe", "hubert", "rvc-v2-f0G40k", "rvc-v2-f0D40k"]
    assert len(resolve(["rvc-v1"])) == 12 and len(resolve(["rvc-v2"])) == 12
    assert {w.name for w in resolve(["all"])} == set(STANDARD_WEIGHTS)
    with pytest.raises(ConfigError, match=r"unknown weight 'hubbert'.*rift-dit"):
        resolve(["hubbert"])


def test_licence_notice_calls_out_the_non_commercial_weights():
    notice = licence_notice(resolve(["hubert", "nsf-hifigan", "rift-dit-768-12"]))
    assert "NON-COMMERCIAL: nsf-hifigan, rift-dit-768-12" in notice
    assert "CC BY-NC-SA 4.0" in notice and "MIT" in notice
    assert "NON-COMMERCIAL" not in licence_notice(resolve(["rvc"]))


def test_catalogue_downloads_land_on_a_find_weight_candidate():
    for weight in STANDARD_WEIGHTS.values():
        assert weight.source is not None
        assert weight.source.target in weight.candidates
        for hub_file in weight.source.files:
            assert hub_file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", hub_file.sha256)
    assert all(set(members) <= set(STANDARD_WEIGHTS) for members in GROUPS.values())


def test_git_blob_hash_matches_git(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert git_blob_sha1_of(empty) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_offline_and_endpoint_are_read_at_call_time(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example/")
    assert hub_module.is_offline()
    assert hub_module.hub_endpoint() == "http://mirror.example"


def test_concurrent_downloads_of_one_weight_fetch_it_once(fake_hub):
    content = _bytes(400_000, 10)
    fake_hub.add(RIFT_PRETRAINED_REPO, DIT, content)
    results = []

    def run():
        results.append(download(resolve(["rift-dit-512-8"]))[0])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 2 and len(fake_hub.gets(DIT_KEY)) == 1
    assert sorted(r.downloaded_bytes for r in results) == [0, len(content)]
    assert find_weight("rift-dit-512-8").read_bytes() == content
