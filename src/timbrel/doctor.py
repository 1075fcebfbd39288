"""`timbrel doctor`: what this machine can run, and what is missing.

It reports Python, the torch build and whether its compiled GPU architectures cover the card,
CUDA / ROCm / MPS / CPU, a short matrix-product kernel on each device (checked against float64
on the CPU, with its speed), ffmpeg decoding through PyAV (a tiny generated file is decoded), the
optional extras, and which standard weights are in the cache. A failed required check makes the
report not ``ok`` (the command exits non-zero); warnings and missing extras do not.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from timbrel.core.errors import ConfigError
from timbrel.weights.cache import MissingWeightError, cache_dir, find_weight
from timbrel.weights.catalogue import GROUPS, STANDARD_WEIGHTS

if TYPE_CHECKING:
    from timbrel.core.device import GPUInfo

Status = Literal["ok", "warn", "missing", "fail"]
Support = Literal["native", "ptx", "unsupported"]

MIN_PYTHON = (3, 10)
MIN_TORCH = (2, 1)
# (import name, distribution name): what every command needs.
REQUIRED_MODULES: tuple[tuple[str, str], ...] = (
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("soundfile", "soundfile"),
    ("av", "av"),
    ("soxr", "soxr"),
    ("pyloudnorm", "pyloudnorm"),
    ("parselmouth", "praat-parselmouth"),
    ("pyworld", "pyworld"),
    ("safetensors", "safetensors"),
    ("typer", "typer"),
    ("rich", "rich"),
)
# (import name, distribution names, extra, what it is for)
OPTIONAL_MODULES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("faiss", ("faiss-cpu", "faiss-gpu", "faiss"), "index", "RVC retrieval index"),
    ("huggingface_hub", ("huggingface_hub",), "hub", "timbrel download"),
    ("gradio", ("gradio",), "ui", "timbrel ui"),
    ("tensorboard", ("tensorboard",), "train", "training logs"),
    ("schedulefree", ("schedulefree",), "train", "RIFT's schedule-free optimizer"),
    ("matplotlib", ("matplotlib",), "eval", "plots in reports"),
)
# Decoders that the usual singing-data formats need; missing ones are warnings.
AUDIO_DECODERS = ("mp3", "aac", "flac", "vorbis", "opus", "alac")
CORE_WEIGHTS = ("hubert", "rmvpe", "contentvec", "nsf-hifigan")
KERNEL_SECONDS = 1.0  # how long the kernel check keeps each device busy
KERNEL_SIZE = 1024  # square matrices of this size


@dataclass(frozen=True)
class Check:
    section: str
    name: str
    status: Status
    detail: str
    required: bool = False


@dataclass(frozen=True)
class TorchFacts:
    version: str
    cuda_version: str | None
    hip_version: str | None
    arch_list: tuple[str, ...]
    cuda_available: bool
    gpus: tuple[GPUInfo, ...]
    mps_available: bool
    num_threads: int

    @property
    def build(self) -> str:
        if self.hip_version:
            return f"ROCm {self.hip_version}"
        if self.cuda_version:
            return f"CUDA {self.cuda_version}"
        return "CPU"


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "warn")

    def to_json(self) -> dict:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def run_doctor(required_weights: Iterable[str] = ()) -> DoctorReport:
    """Every check, in the order printed. ``required_weights`` turns those cache checks into
    requirements (for scripts that need, say, hubert and rmvpe before they start)."""
    checks = [_python_check()]
    torch_checks, facts = _torch_checks()
    checks += torch_checks
    if facts is not None:
        checks += device_checks(facts)
        checks += kernel_checks(facts)
    checks += _module_checks()
    checks += _audio_checks()
    checks += _extra_checks()
    checks += _weight_checks(set(required_weights))
    return DoctorReport(tuple(checks))


def torch_facts() -> TorchFacts:
    import torch

    from timbrel.core import device as devices

    return TorchFacts(
        version=torch.__version__,
        cuda_version=torch.version.cuda,
        hip_version=getattr(torch.version, "hip", None),
        arch_list=devices.compiled_arch_list(),
        cuda_available=devices.cuda_available(),
        gpus=tuple(devices.gpus()),
        mps_available=devices.mps_available(),
        num_threads=torch.get_num_threads(),
    )


def arch_support(arch: str, arch_list: Iterable[str]) -> Support:
    """Whether a wheel compiled for ``arch_list`` runs on a GPU of architecture ``arch``.

    CUDA: "native" when the list has a cubin for the same major version at or below the card's
    minor version (cubins run on later minors of one major); "ptx" when only PTX (compute_XY) at
    or below the card's capability is there, which the driver compiles on first use; else
    "unsupported". Suffixed cubins (sm_90a) run on exactly their own capability. ROCm: the gfx
    name must be in the list.
    """
    arch_list = list(arch_list)
    if arch.startswith("gfx"):
        return "native" if arch in {a.split(":")[0] for a in arch_list} else "unsupported"
    card = _capability(arch)
    if card is None:
        return "unsupported"
    ptx = False
    for entry in arch_list:
        kind, _, digits = entry.partition("_")
        built = _capability(f"sm_{digits}")
        if built is None:
            continue
        suffixed = not digits[-1:].isdigit()
        if kind == "sm" and (built == card or (not suffixed and built[0] == card[0] and built[1] <= card[1])):
            return "native"
        if kind == "compute" and not suffixed and built <= card:
            ptx = True
    return "ptx" if ptx else "unsupported"


def _capability(arch: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"sm_(\d+)(\d)[a-z]?", arch)
    return (int(match[1]), int(match[2])) if match else None


def device_checks(facts: TorchFacts) -> list[Check]:
    checks = []
    if facts.cuda_available and facts.gpus:
        for gpu in facts.gpus:
            memory = f"{gpu.total_memory_bytes / 2**30:.1f} GiB"
            label = f"GPU {gpu.index}: {gpu.name}, {gpu.arch}, {memory}"
            support = arch_support(gpu.arch, facts.arch_list)
            built = " ".join(facts.arch_list) or "nothing"
            if support == "native":
                checks.append(Check("devices", f"gpu {gpu.index}", "ok", f"{label}; the wheel supports it"))
            elif support == "ptx":
                checks.append(
                    Check(
                        "devices",
                        f"gpu {gpu.index}",
                        "warn",
                        f"{label}; the wheel has no {gpu.arch} code, only PTX the driver compiles on "
                        f"first use (slow start; built for {built}). A torch build for this card is faster.",
                    )
                )
            else:
                checks.append(
                    Check(
                        "devices",
                        f"gpu {gpu.index}",
                        "warn",
                        f"{label}; this torch build does NOT support {gpu.arch} (built for {built}). "
                        "Install a torch wheel built for this card (see pytorch.org); until then run on CPU.",
                    )
                )
    elif facts.cuda_version or facts.hip_version:
        checks.append(Check("devices", "gpu", "warn", f"torch is built for {facts.build} but sees no GPU"))
    else:
        checks.append(Check("devices", "gpu", "ok", "none (CPU build of torch)"))
    checks.append(Check("devices", "mps", "ok", "available" if facts.mps_available else "not available"))
    checks.append(Check("devices", "cpu", "ok", f"{facts.num_threads} threads, {platform.machine()}"))
    return checks


def kernel_checks(facts: TorchFacts) -> list[Check]:
    """A kernel on every GPU the build supports, and on the CPU."""
    names = [
        f"cuda:{gpu.index}" for gpu in facts.gpus if arch_support(gpu.arch, facts.arch_list) != "unsupported"
    ]
    if facts.mps_available:
        names.append("mps")
    return [kernel_check(name) for name in [*names, "cpu"]]


def kernel_check(device_name: str, seconds: float | None = None) -> Check:
    """Float32 matrix products on ``device_name`` for about ``seconds`` (KERNEL_SECONDS): the first
    result must match float64 on the CPU within the rounding bound of a length-n float32 dot
    product (n · eps · Σ|a||b| per element); the rest measure GFLOP/s. A device that cannot run
    it is a warning (the CPU still works)."""
    import torch

    from timbrel.core import device as devices

    seconds = KERNEL_SECONDS if seconds is None else seconds
    name = f"kernel {device_name}"
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(KERNEL_SIZE, KERNEL_SIZE, generator=generator)
    b = torch.randn(KERNEL_SIZE, KERNEL_SIZE, generator=generator)
    try:
        device = torch.device(device_name)
        a_on, b_on = a.to(device), b.to(device)
        product = (a_on @ b_on).cpu().double()
        exact = a.double() @ b.double()
        bound = KERNEL_SIZE * torch.finfo(torch.float32).eps * (a.double().abs() @ b.double().abs())
        worst = float(((product - exact).abs() / bound).max())
        if not worst <= 1.0:
            return Check("devices", name, "warn", f"wrong results: an error {worst:.2g}x the rounding bound")
        runs = 0
        devices.synchronize(device)
        start = time.perf_counter()
        while runs == 0 or time.perf_counter() - start < seconds:
            for _ in range(4):
                a_on @ b_on
            devices.synchronize(device)
            runs += 4
        elapsed = time.perf_counter() - start
    except Exception as error:  # a broken driver or build says so here, in its own words
        return Check("devices", name, "warn", f"cannot run a kernel: {type(error).__name__}: {error}")
    gflops = runs * 2 * KERNEL_SIZE**3 / elapsed / 1e9
    return Check(
        "devices",
        name,
        "ok",
        f"{runs} float32 {KERNEL_SIZE}² products in {elapsed:.2f} s: {gflops:.0f} GFLOP/s; "
        f"results within {worst:.2g} of the rounding bound",
    )


def _python_check() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Check("python", "python", "fail", f"{version}; Timbrel needs {need} or newer", True)
    return Check("python", "python", "ok", f"{version} ({sys.executable})", True)


def _torch_checks() -> tuple[list[Check], TorchFacts | None]:
    try:
        facts = torch_facts()
    except (ImportError, OSError) as error:
        return [Check("torch", "torch", "fail", f"cannot import torch: {error}", True)], None
    numbers = tuple(int(n) for n in re.findall(r"\d+", facts.version)[:2])
    if numbers < MIN_TORCH:
        need = ".".join(map(str, MIN_TORCH))
        return [
            Check("torch", "torch", "fail", f"{facts.version}; Timbrel needs {need} or newer", True)
        ], facts
    return [Check("torch", "torch", "ok", f"{facts.version}, {facts.build} build", True)], facts


def _module_checks() -> list[Check]:
    checks = []
    for module, distribution in REQUIRED_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != "pkg_resources":
                checks.append(Check("packages", module, "fail", f"cannot import: {error}", True))
                continue
            # pyworld 0.3.5 reads its version through pkg_resources, gone from setuptools >= 81;
            # Timbrel's pitch code imports it with a stand-in, so only a plain import fails.
            detail = f"{_version_of(distribution) or 'installed'}; a plain import needs pkg_resources"
            checks.append(Check("packages", module, "warn", detail + " (setuptools < 81)", True))
            continue
        except (ImportError, OSError) as error:
            checks.append(Check("packages", module, "fail", f"cannot import: {error}", True))
            continue
        checks.append(Check("packages", module, "ok", _version_of(distribution) or "installed", True))
    return checks


def _audio_checks() -> list[Check]:
    from timbrel.audio import io
    from timbrel.core.audio import Audio

    sample_rate = 16000
    times_s = np.arange(sample_rate // 10) / sample_rate
    probe = Audio((0.5 * np.sin(2 * np.pi * 440.0 * times_s))[None].astype(np.float32), sample_rate)
    try:
        with tempfile.TemporaryDirectory(prefix="timbrel-doctor-") as folder:
            wav = Path(folder) / "probe.wav"
            io.save(wav, probe)
            # A name libsndfile does not claim sends the file through ffmpeg (PyAV), the path every
            # format besides WAV/FLAC/OGG/MP3 takes.
            through_ffmpeg = wav.rename(Path(folder) / "probe.audio")
            decoded = io.decode(through_ffmpeg)
        error = float(np.abs(decoded.samples - probe.samples).max())
        if decoded.sample_rate != sample_rate or decoded.samples.shape != probe.samples.shape or error > 1e-3:
            raise ValueError(
                f"decoded {decoded.samples.shape} at {decoded.sample_rate} Hz, max error {error:.2g}"
            )
    except Exception as error:  # any failure here means ffmpeg decoding is broken
        return [
            Check("audio", "ffmpeg decoding", "fail", f"PyAV could not decode a test file: {error}", True)
        ]
    import av

    versions = getattr(av, "library_versions", {}).get("libavcodec")
    libavcodec = ".".join(map(str, versions)) if versions else "?"
    checks = [
        Check("audio", "ffmpeg decoding", "ok", f"PyAV {av.__version__}, libavcodec {libavcodec}", True)
    ]
    absent = [name for name in AUDIO_DECODERS if name not in av.codecs_available]
    if absent:
        checks.append(Check("audio", "decoders", "warn", f"this ffmpeg cannot decode {', '.join(absent)}"))
    else:
        checks.append(Check("audio", "decoders", "ok", ", ".join(AUDIO_DECODERS)))
    return checks


def _extra_checks() -> list[Check]:
    checks = []
    for module, distributions, extra, purpose in OPTIONAL_MODULES:
        if importlib.util.find_spec(module) is None:
            checks.append(
                Check(
                    "extras",
                    module,
                    "missing",
                    f"not installed (for {purpose}: pip install 'timbrel[{extra}]')",
                )
            )
            continue
        version = next(filter(None, map(_version_of, distributions)), "installed")
        checks.append(Check("extras", module, "ok", f"{version} ({purpose})"))
    return checks


def _weight_checks(required: set[str]) -> list[Check]:
    unknown = required - set(STANDARD_WEIGHTS)
    if unknown:
        raise ConfigError(f"unknown standard weights {sorted(unknown)}; known: {sorted(STANDARD_WEIGHTS)}")
    checks = [Check("weights", "cache", "ok", str(cache_dir()))]
    singles = list(CORE_WEIGHTS) + sorted(required - set(CORE_WEIGHTS))
    for name in singles:
        needed = name in required
        try:
            path = find_weight(name)
        except MissingWeightError:
            status: Status = "fail" if needed else "missing"
            checks.append(Check("weights", name, status, f"not cached: timbrel download {name}", needed))
            continue
        checks.append(Check("weights", name, "ok", str(path), needed))
    for group in ("rvc-v1", "rvc-v2", "rift-dit"):
        members = GROUPS[group]
        cached = [m for m in members if _cached(m)]
        status = "ok" if cached else "missing"
        checks.append(Check("weights", group, status, f"{len(cached)} of {len(members)} cached"))
    return checks


def _cached(name: str) -> bool:
    try:
        find_weight(name)
    except MissingWeightError:
        return False
    return True


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
