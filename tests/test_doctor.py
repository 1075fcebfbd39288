from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from timbrel import doctor
from timbrel.core.errors import ConfigError
from timbrel.doctor import arch_support, run_doctor

# A wheel built like the CUDA 12 wheels of torch 2.x: cubins up to sm_90 and PTX for compute_90.
WHEEL_ARCHES = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "compute_90"]


@pytest.fixture
def importable_only(monkeypatch):
    """Required packages limited to ones every test environment imports, so that a broken
    optional install elsewhere in the venv does not decide these tests."""
    monkeypatch.setattr(doctor, "REQUIRED_MODULES", (("numpy", "numpy"), ("av", "av")))


@pytest.fixture(autouse=True)
def short_kernel(monkeypatch):
    """The kernel check's second per device is the command's; the tests need only that it runs."""
    monkeypatch.setattr(doctor, "KERNEL_SECONDS", 0.02)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIMBREL_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fake_gpu(monkeypatch, capability, arch_list, name="Test GPU"):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: name)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: list(arch_list))
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda index=0: SimpleNamespace(total_memory=8 << 30)
    )
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.version, "hip", None)


@pytest.mark.parametrize(
    ("arch", "arch_list", "expected"),
    [
        ("sm_86", WHEEL_ARCHES, "native"),
        ("sm_89", WHEEL_ARCHES, "native"),  # sm_86 cubins run on 8.9
        ("sm_120", WHEEL_ARCHES, "ptx"),  # only compute_90 PTX, JIT-compiled by the driver
        ("sm_120", ["sm_50", "sm_80", "sm_90"], "unsupported"),
        ("sm_37", WHEEL_ARCHES, "unsupported"),  # older than anything in the wheel
        ("sm_90", ["sm_90a"], "native"),
        ("sm_100", ["sm_90a", "sm_100"], "native"),
        ("sm_91", ["sm_90a"], "unsupported"),  # suffixed cubins run on their own capability only
        ("gfx90a", ["gfx900", "gfx90a:xnack-", "gfx1100"], "native"),
        ("gfx1201", ["gfx900", "gfx90a", "gfx1100"], "unsupported"),
    ],
)
def test_arch_support(arch, arch_list, expected):
    assert arch_support(arch, arch_list) == expected


def test_a_card_the_wheel_does_not_support_is_warned_about(monkeypatch, importable_only, empty_cache):
    _fake_gpu(monkeypatch, (12, 0), ["sm_50", "sm_80", "sm_90"], "NVIDIA GeForce RTX 5090")

    report = run_doctor()

    [gpu] = [c for c in report.checks if c.name == "gpu 0"]
    assert gpu.status == "warn"
    assert "does NOT support sm_120" in gpu.detail and "sm_90" in gpu.detail
    assert "RTX 5090" in gpu.detail
    assert gpu in report.warnings
    assert report.ok  # the CPU still works: a warning, not a failure
    [torch_check] = [c for c in report.checks if c.name == "torch"]
    assert "CUDA 12.4 build" in torch_check.detail


def test_a_card_the_wheel_supports_is_ok(monkeypatch, importable_only, empty_cache):
    _fake_gpu(monkeypatch, (8, 6), WHEEL_ARCHES)

    [gpu] = [c for c in run_doctor().checks if c.name == "gpu 0"]

    assert gpu.status == "ok" and "sm_86" in gpu.detail


def test_ptx_only_support_is_a_warning(monkeypatch, importable_only, empty_cache):
    _fake_gpu(monkeypatch, (12, 0), WHEEL_ARCHES)

    [gpu] = [c for c in run_doctor().checks if c.name == "gpu 0"]

    assert gpu.status == "warn" and "PTX" in gpu.detail


def test_report_on_this_machine(importable_only, empty_cache):
    report = run_doctor()

    assert report.ok, report.failures
    names = {(c.section, c.name): c for c in report.checks}
    assert names[("python", "python")].status == "ok"
    assert names[("audio", "ffmpeg decoding")].status == "ok"
    assert names[("weights", "cache")].detail == str(empty_cache)
    assert names[("weights", "hubert")].status == "missing"
    assert names[("weights", "rvc-v2")].detail == "0 of 12 cached"
    assert {c.section for c in report.checks} >= {"torch", "devices", "packages", "extras"}
    assert report.to_json()["ok"] is True


def test_a_missing_required_package_fails_the_report(monkeypatch, empty_cache):
    monkeypatch.setattr(doctor, "REQUIRED_MODULES", (("numpy", "numpy"), ("no_such_module_x", "no-such")))

    report = run_doctor()

    assert not report.ok
    [failure] = report.failures
    assert failure.name == "no_such_module_x" and failure.required


def test_a_package_that_only_lacks_pkg_resources_is_a_warning(monkeypatch, tmp_path, empty_cache):
    package = tmp_path / "needs_pkg_resources_x"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pkg_resources'\", name='pkg_resources')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(doctor, "REQUIRED_MODULES", (("needs_pkg_resources_x", "needs-pkg-resources-x"),))

    report = run_doctor()

    [check] = [c for c in report.checks if c.name == "needs_pkg_resources_x"]
    assert check.status == "warn" and "pkg_resources" in check.detail
    assert report.ok


def test_cached_weights_are_found_and_required_ones_enforced(importable_only, empty_cache):
    empty_cache.mkdir(parents=True)
    (empty_cache / "rmvpe.pt").write_bytes(b"x")
    (empty_cache / "pretrained_v2").mkdir()
    (empty_cache / "pretrained_v2" / "f0G40k.pth").write_bytes(b"x")

    report = run_doctor(required_weights=["rmvpe"])
    checks = {c.name: c for c in report.checks if c.section == "weights"}
    assert report.ok
    assert checks["rmvpe"].status == "ok" and checks["rmvpe"].required
    assert checks["rvc-v2"].detail == "1 of 12 cached"

    report = run_doctor(required_weights=["hubert"])
    assert not report.ok and [c.name for c in report.failures] == ["hubert"]

    with pytest.raises(ConfigError, match="hubbert"):
        run_doctor(required_weights=["hubbert"])


def test_the_kernel_runs_on_the_cpu_within_the_rounding_bound(importable_only, empty_cache):
    names = {(c.section, c.name): c for c in run_doctor().checks}
    check = names[("devices", "kernel cpu")]
    assert check.status == "ok", check.detail
    assert "GFLOP/s" in check.detail and "rounding bound" in check.detail


def test_a_device_that_cannot_run_the_kernel_is_a_warning():
    check = doctor.kernel_check("cuda:7", seconds=0.01)
    assert check.status == "warn" and "cannot run a kernel" in check.detail
