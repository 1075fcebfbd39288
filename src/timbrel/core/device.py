"""Where networks run and in which precision: the one module that asks torch about devices.

Every command and API function takes ``device`` ("auto", "cpu", "cuda", "cuda:N", "mps") and
``precision`` ("fp32", "fp16", "bf16", or "auto") and resolves them here into a ``Placement``;
nothing else probes for GPUs. Combinations that cannot work are refused with the allowed ones
named: fp16 on the CPU (its autocast has no fp16 kernels worth the name), bf16 on a GPU without
bf16 arithmetic, CUDA where torch sees none.

Lower precision is autocast (weights stay float32, matrix products and convolutions run in the
lower type); it is opt-in: fp32 is the default and the references' numbers.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch

from timbrel.core.errors import ConfigError

Precision = Literal["fp32", "fp16", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
PrecisionChoice = Literal["fp32", "fp16", "bf16", "auto"]  # what a user may ask for
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
# The CPU flags that make bfloat16 arithmetic native; without them torch emulates it, and bf16
# autocast is many times slower than fp32 (RVC conversion: 115 s against 8.9 s on AVX2/AVX-512F).
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


class SlowPrecisionWarning(UserWarning):
    """A precision that works but is emulated on this hardware."""


@dataclass(frozen=True)
class Placement:
    """device: where the networks and their tensors live; precision: the autocast type of their
    forward passes (fp32: none)."""

    device: torch.device
    precision: Precision = "fp32"

    @property
    def half(self) -> bool:
        """A 16-bit precision: activations take half the memory (RVC's is_half)."""
        return self.precision != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.precision)

    def describe(self) -> str:
        return f"{describe_device(self.device)}, {self.precision}"


CPU = Placement(torch.device("cpu"), "fp32")


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """Mixed precision on ``device`` (a no-op in fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def what_torch_sees() -> str:
    """One line: the torch build and the devices it can use."""
    build = (
        f"CUDA {torch.version.cuda}"
        if torch.version.cuda
        else f"ROCm {torch.version.hip}"
        if getattr(torch.version, "hip", None)
        else "CPU only"
    )
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    seen = [f"{gpus} GPU(s)" if gpus else "no GPU"]
    if mps_available():
        seen.append("MPS")
    return f"torch {torch.__version__} ({build} build) sees {' and '.join(seen)}"


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """ "auto": CUDA (this process's LOCAL_RANK GPU), then MPS, then the CPU. "cuda" without an
    index is the LOCAL_RANK GPU too, so every torchrun process takes its own."""
    text = str(name)
    if text == "auto":
        if cuda_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("mps") if mps_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise ConfigError(f"device {text!r} is not one of {DEVICE_CHOICES}") from None
    if device.type == "cuda":
        if not cuda_available():
            raise ConfigError(f"device {text!r}: {what_torch_sees()}; use --device cpu or auto")
        count = torch.cuda.device_count()
        index = local_rank if device.index is None else device.index
        if index >= count:
            raise ConfigError(f"device {text!r}: {what_torch_sees()} (cuda:0..cuda:{count - 1})")
        return torch.device("cuda", index)
    if device.type == "mps":
        if not mps_available():
            raise ConfigError(f"device {text!r}: {what_torch_sees()}; use --device cpu or auto")
        return device
    if device.type != "cpu":
        raise ConfigError(f"device {text!r} is not one of {DEVICE_CHOICES}")
    return device


def allowed_precisions(device: torch.device) -> tuple[Precision, ...]:
    """The precisions that run on ``device``."""
    if device.type == "cuda":
        return ("fp32", "fp16", "bf16") if torch.cuda.is_bf16_supported() else ("fp32", "fp16")
    if device.type == "mps":
        return ("fp32", "fp16")
    return ("fp32", "bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The CPU's feature flags (Linux), or None where they cannot be read."""
    return _cpu_flags(str(cpuinfo))


@functools.cache
def _cpu_flags(cpuinfo: str) -> frozenset[str] | None:
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU does bfloat16 arithmetic itself (AVX512-BF16 or AMX). Unknown (no flags
    readable, e.g. macOS) counts as no."""
    flags = cpu_flags() if flags is None else flags
    return flags is not None and any(flag in flags for flag in NATIVE_BF16_CPU_FLAGS)


def resolve_precision(
    name: str, device: torch.device, cpu_flag_set: frozenset[str] | None = None
) -> Precision:
    """ "auto": bf16 on a GPU with it (fp16 on one without), bf16 on a CPU that has it natively,
    else fp32. A named precision is checked against the device; bf16 on a CPU without native bf16
    runs but warns (SlowPrecisionWarning)."""
    allowed = allowed_precisions(device)
    if name == "auto":
        if device.type == "cuda":
            if "bf16" in allowed:
                return "bf16"
            return "fp32" if _slow_fp16(describe_device(device)) else "fp16"
        if device.type == "cpu" and cpu_has_native_bf16(cpu_flag_set):
            return "bf16"
        return "fp32"
    if name not in PRECISIONS:
        raise ConfigError(f"precision {name!r} is not one of {', '.join(PRECISIONS)} or auto")
    if name not in allowed:
        raise ConfigError(
            f"precision {name} does not run on {describe_device(device)}; allowed there: {', '.join(allowed)}"
        )
    if name == "bf16" and device.type == "cpu" and not cpu_has_native_bf16(cpu_flag_set):
        warnings.warn(
            "precision bf16 on a CPU without native bf16 (no avx512_bf16 or amx_bf16 flag): "
            "torch emulates it, many times slower than fp32",
            SlowPrecisionWarning,
            stacklevel=2,
        )
    return name  # type: ignore[return-value]


def _slow_fp16(gpu: str) -> bool:
    """The GPUs RVC's config keeps in fp32 (is_half off): the GTX 16 series (but the V100),
    the P40/P10 and the GTX 10 series, whose fp16 arithmetic is slow or broken."""
    upper = gpu.upper()
    return (
        ("16" in gpu and "V100" not in upper)
        or "P40" in upper
        or "P10" in upper
        or any(model in gpu for model in ("1060", "1070", "1080"))
    )


def resolve(
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    *,
    local_rank: int = 0,
    say: Callable[[str], None] | None = None,
) -> Placement:
    """The placement for these settings; ``say`` hears what "auto" picked."""
    resolved = resolve_device(device, local_rank)
    placement = Placement(resolved, resolve_precision(precision, resolved))
    if placement.device.type == "cuda" and placement.precision == "fp32":
        exact_fp32()
    if say is not None and "auto" in (str(device), precision):
        say(f"using {placement.describe()} (auto; {what_torch_sees()})")
    return placement


def exact_fp32() -> None:
    """Turn TF32 off: on Ampere and later GPUs cuDNN rounds float32 convolutions' inputs to 10-bit
    mantissas by default, about 1e-3 relative; fp32 here means the references' numbers (the
    16-bit precisions are the opt-in for speed)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type


def memory_gb(device: torch.device) -> float | None:
    """Total memory of a GPU in GiB; None for other devices."""
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_properties(device).total_memory / 1024**3


@dataclass(frozen=True)
class GPUInfo:
    """arch: "sm_86" on CUDA, "gfx90a" on ROCm."""

    index: int
    name: str
    capability: tuple[int, int]
    arch: str
    total_memory_bytes: int


def gpus() -> list[GPUInfo]:
    """The GPUs torch can use (none on a CPU build)."""
    if not cuda_available():
        return []
    found = []
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        major, minor = torch.cuda.get_device_capability(index)
        gcn_arch = getattr(properties, "gcnArchName", "") if getattr(torch.version, "hip", None) else ""
        arch = gcn_arch.split(":")[0] if gcn_arch else f"sm_{major}{minor}"
        found.append(
            GPUInfo(
                index,
                torch.cuda.get_device_name(index),
                (int(major), int(minor)),
                arch,
                int(getattr(properties, "total_memory", 0)),
            )
        )
    return found


def compiled_arch_list() -> tuple[str, ...]:
    """The GPU architectures this torch build carries code for (empty without a GPU)."""
    return tuple(torch.cuda.get_arch_list()) if cuda_available() else ()


def is_out_of_memory(error: BaseException) -> bool:
    """A device allocation failure (CUDA or MPS), which a smaller chunk or batch may avoid."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_memory(device: torch.device) -> None:
    """Return cached blocks after an out-of-memory error, before the retry."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int | None:
    """Peak allocated device memory since the last reset; None off CUDA."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (timing on a GPU measures nothing without it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
