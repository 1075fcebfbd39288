"""Conversion on a chosen device (the CPU here, through the same code as on a GPU): placement at
load, the chunking RVC picks from the device, out-of-memory retries, and shards of a folder."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from timbrel import api
from timbrel.audio import io
from timbrel.audio.slicing import SlicerConfig
from timbrel.core import device as devices
from timbrel.core.audio import Audio
from timbrel.core.errors import ConfigError, DeviceMemoryError
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.infer.batch import DeviceMemoryWarning, convert_with_retry, parse_shard, plan_jobs, take_shard
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.pipeline import RIFTConvertOptions, RIFTVoice
from timbrel.models.rvc.pipeline import Chunking
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig


@pytest.fixture(scope="module")
def rvc(fixtures):
    """The RVC end-to-end fixture model loaded through the API on the CPU, with its settings."""
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    voice = api.load(
        root / settings["model_file"],
        index=root / settings["index_file"],
        hubert=root / "hubert",
        device="cpu",
        precision="fp32",
    )
    given = settings["settings"]
    options = api.convert_options(
        voice, {"f0_method": given["f0_method"], "index_rate": given["index_rate"], "speaker": given["sid"]}
    )
    return root, voice, options


def _out_of_memory_when(monkeypatch, voice, too_big):
    """Make the synthesizer raise CUDA's out-of-memory error on the chunks ``too_big`` picks."""
    infer = voice.synthesizer.infer

    def failing(content, *args, **kwargs):
        if too_big(content):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        return infer(content, *args, **kwargs)

    monkeypatch.setattr(voice.synthesizer, "infer", failing)


def test_load_places_every_network_and_options_take_its_precision(rvc):
    _, voice, options = rvc
    assert voice.placement == devices.Placement(torch.device("cpu"), "fp32")
    for module in (voice.synthesizer, voice.content_model):
        assert {p.device for p in module.parameters()} == {torch.device("cpu")}
    assert options.precision == "fp32" and options.chunking is None
    assert voice.chunking(options) == Chunking.cpu()


def test_fp16_on_the_cpu_is_refused_at_load_and_at_conversion(rvc):
    root, voice, _ = rvc
    with pytest.raises(ConfigError, match="allowed there: fp32, bf16"):
        model = root / json.loads((root / "settings.json").read_text())["model_file"]
        api.load(model, hubert=root / "hubert", device="cpu", precision="fp16")
    audio = np.zeros(16000, dtype=np.float32)
    with pytest.raises(ConfigError, match="fp16"):
        voice.convert_16k(audio, api.convert_options(voice, {"precision": "fp16"}))


def test_rvc_chunking_follows_device_memory_and_precision(monkeypatch):
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(devices, "memory_gb", lambda device: 24.0 if device.type == "cuda" else None)
    assert Chunking.for_device(gpu, half=True) == Chunking.gpu_fp16()
    assert Chunking.for_device(gpu, half=False) == Chunking.cpu()
    assert Chunking.for_device(torch.device("cpu"), half=True) == Chunking.cpu()
    # RVC rounds with int(GiB + 0.4): 4.5 GiB counts as 4, the small-GPU setting, even in half precision
    monkeypatch.setattr(devices, "memory_gb", lambda device: 4.5)
    assert Chunking.for_device(gpu, half=True) == Chunking.small_gpu()
    monkeypatch.setattr(devices, "memory_gb", lambda device: 4.7)
    assert Chunking.for_device(gpu, half=True) == Chunking.gpu_fp16()


def test_out_of_memory_retries_once_with_shorter_chunks(rvc, monkeypatch):
    root, voice, options = rvc
    audio = io.decode(root / "input_short.wav")
    expected = voice.convert(audio, options)
    calls = []

    def first_call(content):
        calls.append(content.shape)
        return len(calls) == 1

    _out_of_memory_when(monkeypatch, voice, first_call)
    retrying = r"out of memory on cpu; retrying with chunks of 19 s instead of 38 s"
    with pytest.warns(DeviceMemoryWarning, match=retrying):
        retried = convert_with_retry(voice, audio, options, Path("song.wav"))
    np.testing.assert_array_equal(retried.samples, expected.samples)  # the 3.6 s input has no cut either way
    assert len(calls) == 2


def test_out_of_memory_twice_fails_naming_the_setting(rvc, monkeypatch):
    root, voice, options = rvc
    _out_of_memory_when(monkeypatch, voice, lambda content: True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeviceMemoryWarning)
        failure = r"song\.wav: out of memory on cpu also with .*chunking\.center_s"
        with pytest.raises(DeviceMemoryError, match=failure):
            convert_with_retry(voice, io.decode(root / "input_short.wav"), options, Path("song.wav"))


def test_a_file_that_runs_out_of_memory_does_not_stop_the_folder(rvc, monkeypatch, tmp_path):
    root, voice, options = rvc
    source, rate = soundfile.read(str(root / "input_short.wav"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    soundfile.write(str(inputs / "a.wav"), source[: rate // 2], rate)
    soundfile.write(str(inputs / "b.wav"), source[:rate], rate)
    soundfile.write(str(inputs / "c.wav"), source[: rate // 2], rate)
    # b's chunk (1 s plus 2 s of padding, 100 frames/s) is the only one over 250 frames
    _out_of_memory_when(monkeypatch, voice, lambda content: content.shape[1] > 250)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeviceMemoryWarning)
        outcomes = api.convert(voice, [inputs], tmp_path / "out", options)
    status = {Path(o.item).name: o.status for o in outcomes}
    assert status == {"a.wav": "done", "b.wav": "failed", "c.wav": "done"}
    [failed] = [o for o in outcomes if o.status == "failed"]
    assert "out of memory" in failed.reason and "chunking.center_s" in failed.reason
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "c.wav"]


def test_shards_split_sorted_inputs_disjointly_and_completely(tmp_path):
    names = [f"{letter}.wav" for letter in "gbeadfc"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    jobs = plan_jobs([tmp_path], tmp_path / "out")
    parts = [take_shard(jobs, (i, 3)) for i in (1, 2, 3)]
    assert [[j.source.name for j in part] for part in parts] == [
        ["a.wav", "d.wav", "g.wav"],
        ["b.wav", "e.wav"],
        ["c.wav", "f.wav"],
    ]
    assert take_shard(list(reversed(jobs)), (2, 3)) == parts[1]  # the given order does not matter
    assert sorted(j.source.name for part in parts for j in part) == sorted(names)
    assert take_shard(jobs, None) == jobs


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards_are_refused(text):
    with pytest.raises(ConfigError, match="shard"):
        parse_shard(text)


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4)


@pytest.fixture(scope="module")
def rift():
    torch.manual_seed(0)
    dit = DiT(DiTConfig.tiny(num_speakers=1))
    vocoder = NsfHifiGan(NsfHifiGanConfig(upsample_initial_channel=32))
    content = HubertModel(HubertConfig.tiny())
    rmvpe = RmvpeExtractor(E2E(E2EConfig.tiny()), RmvpeConfig.rift())
    return RIFTVoice(dit, {"alto": 0}, vocoder, content, rmvpe)


def _phrases(seconds: float = 0.5, gap_s: float = 0.6, count: int = 3) -> Audio:
    """Tones separated by silences long enough for RIFT's slicer to cut there."""
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    gap = np.zeros(int(gap_s * rate), dtype=np.float32)
    return Audio.from_mono(np.concatenate([gap, *[np.concatenate([tone, gap]) for _ in range(count)]]), rate)


def test_rift_halves_its_batch_and_has_nothing_smaller_than_one(rift):
    fallback = rift.less_memory(RIFTConvertOptions(batch_size=5))
    assert fallback.options.batch_size == 2 and "--batch-size" in fallback.setting
    assert rift.less_memory(RIFTConvertOptions(batch_size=1)).options is None


def test_rift_out_of_memory_retries_with_a_smaller_batch(rift, monkeypatch):
    slicer = dataclasses.replace(SlicerConfig.rift_infer(), min_length_ms=300.0)
    options = RIFTConvertOptions(batch_size=4, infer_steps=2, slicer=slicer)
    sample = rift.sample
    batches = []

    def failing(features, *args, **kwargs):
        batches.append(len(features))
        if len(features) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return sample(features, *args, **kwargs)

    monkeypatch.setattr(rift, "sample", failing)
    audio = _phrases()
    with pytest.warns(DeviceMemoryWarning, match="batch_size 2 instead of 4"):
        converted = convert_with_retry(rift, audio, options, Path("song.wav"))
    assert batches == [3, 2, 1]  # three slices: one batch of 3 fails, then 2 + 1
    assert converted.samples.shape == (1, audio.samples.shape[1])

    def always(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(rift, "sample", always)
    with pytest.raises(DeviceMemoryError, match="lower --batch-size"):
        convert_with_retry(rift, audio, RIFTConvertOptions(batch_size=1, infer_steps=2), Path("song.wav"))
