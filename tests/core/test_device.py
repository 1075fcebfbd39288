"""Device and precision resolution: what auto picks, what is refused, and the bf16 CPU warning."""

from __future__ import annotations

import warnings

import pytest
import torch

from timbrel.core import device as devices
from timbrel.core.errors import ConfigError

NATIVE = frozenset({"fpu", "avx2", "avx512f", "avx512_bf16"})
EMULATED = frozenset({"fpu", "avx2", "avx512f"})


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "mps_available", lambda: False)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Two CUDA devices as torch reports them, without bf16."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Test GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)


def test_explicit_cpu_and_auto_without_a_gpu(no_gpu):
    assert devices.resolve_device("cpu") == torch.device("cpu")
    said = []
    placement = devices.resolve("auto", "fp32", say=said.append)
    assert placement == devices.Placement(torch.device("cpu"), "fp32")
    [line] = said
    assert "cpu" in line and "auto" in line and torch.__version__ in line


def test_auto_prefers_cuda_then_mps(monkeypatch, fake_gpu):
    assert devices.resolve_device("auto") == torch.device("cuda", 0)
    assert devices.resolve_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert devices.resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert devices.resolve_device("cuda:0", local_rank=1) == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "mps_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("mps")


def test_cuda_where_torch_sees_none_names_what_it_sees(no_gpu):
    with pytest.raises(ConfigError) as error:
        devices.resolve_device("cuda")
    message = str(error.value)
    assert "'cuda'" in message and "no GPU" in message and torch.__version__ in message
    assert "--device cpu" in message


def test_a_gpu_index_beyond_the_count_and_unknown_devices_are_refused(fake_gpu):
    with pytest.raises(ConfigError, match=r"cuda:0\.\.cuda:1"):
        devices.resolve_device("cuda:2")
    for bad in ("tpu", "gpu", "cuda:x"):
        with pytest.raises(ConfigError, match="auto, cpu, cuda, cuda:N or mps"):
            devices.resolve_device(bad)


def test_fp16_on_the_cpu_is_refused_with_the_allowed_ones():
    with pytest.raises(ConfigError, match="allowed there: fp32, bf16"):
        devices.resolve_precision("fp16", torch.device("cpu"), EMULATED)
    with pytest.raises(ConfigError, match="fp32, fp16, bf16 or auto"):
        devices.resolve_precision("int8", torch.device("cpu"), EMULATED)


def test_bf16_on_a_gpu_without_it_is_refused(fake_gpu):
    with pytest.raises(ConfigError, match=r"cuda:0 \(Test GPU\); allowed there: fp32, fp16"):
        devices.resolve_precision("bf16", torch.device("cuda", 0))
    assert devices.resolve_precision("auto", torch.device("cuda", 0)) == "fp16"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("NVIDIA GeForce GTX 1660", "fp32"), ("Tesla P40", "fp32"), ("NVIDIA GeForce GTX 1080 Ti", "fp32"),
     ("Tesla V100-SXM2-16GB", "fp16"), ("Tesla T4", "fp16")],
)  # fmt: skip
def test_auto_keeps_the_gpus_rvc_keeps_out_of_half_precision_in_fp32(monkeypatch, fake_gpu, name, expected):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: name)
    assert devices.resolve_precision("auto", torch.device("cuda", 0)) == expected


def test_bf16_on_a_cpu_without_native_bf16_warns_and_auto_never_picks_it():
    cpu = torch.device("cpu")
    with pytest.warns(devices.SlowPrecisionWarning, match="avx512_bf16"):
        assert devices.resolve_precision("bf16", cpu, EMULATED) == "bf16"
    assert devices.resolve_precision("auto", cpu, EMULATED) == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.resolve_precision("bf16", cpu, NATIVE) == "bf16"
    assert devices.resolve_precision("auto", cpu, NATIVE) == "bf16"
    assert devices.resolve_precision("auto", cpu, frozenset({"amx_bf16"})) == "bf16"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\nprocessor\t: 1\n")
    flags = devices.cpu_flags(cpuinfo)
    assert flags == frozenset({"fpu", "sse2", "avx2", "avx512_bf16"})
    assert devices.cpu_has_native_bf16(flags)
    assert devices.cpu_flags(tmp_path / "missing") is None
    assert not devices.cpu_has_native_bf16(frozenset())


def test_bf16_autocast_on_the_cpu_runs_the_product_in_bf16():
    placement = devices.Placement(torch.device("cpu"), "bf16")
    a, b = torch.randn(8, 16), torch.randn(16, 4)
    with placement.autocast():
        low = a @ b
    assert low.dtype == torch.bfloat16
    # bf16 keeps 8 significant bits: each input rounds by at most 2^-8 relative, so each product
    # term by about 2^-7, and the float32-accumulated sum by 2^-7 · Σ|a||b| (the output rounding
    # adds 2^-8 of |sum| <= Σ|a||b|): within 2^-6 · Σ|a||b| elementwise.
    bound = 2**-6 * (a.abs() @ b.abs())
    assert bool(((low.float() - a @ b).abs() <= bound).all())
    with devices.Placement(torch.device("cpu"), "fp32").autocast():
        assert (a @ b).dtype == torch.float32


def test_out_of_memory_is_recognised():
    assert devices.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert devices.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not devices.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not devices.is_out_of_memory(ValueError("out of memory"))


def test_memory_figures_are_none_off_cuda():
    cpu = torch.device("cpu")
    assert devices.memory_gb(cpu) is None and devices.peak_memory_bytes(cpu) is None
    devices.reset_peak_memory(cpu)
    devices.synchronize(cpu)
    devices.release_memory(cpu)
