"""The dataset check: what each recording is, and what is wrong with it, before and after preparation."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from timbrel.audio import io
from timbrel.core.audio import Audio
from timbrel.core.errors import TimbrelError
from timbrel.core.files import write_text_atomic
from timbrel.core.jobs import Outcome, run_jobs


@dataclass(frozen=True)
class CheckConfig:
    min_duration_s: float = 1.0
    low_sample_rate_hz: int = 16000
    clip_level: float = 0.999
    max_clipped_ratio: float = 0.001
    silence_threshold_db: float = -42.0  # RVC's slicer threshold: quieter frames count as silence
    max_silence_ratio: float = 0.6
    frame_ms: float = 20.0


@dataclass(frozen=True)
class FileCheck:
    """One recording. errors make it unusable; warnings do not."""

    path: str
    duration_s: float = 0.0
    sample_rate: int = 0
    num_channels: int = 0
    peak_dbfs: float = float("-inf")
    clipped_ratio: float = 0.0
    silence_ratio: float = 0.0
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class DatasetCheck:
    files: tuple[FileCheck, ...] = field(default_factory=tuple)

    @property
    def usable_files(self) -> tuple[FileCheck, ...]:
        return tuple(f for f in self.files if f.usable)

    @property
    def usable_duration_s(self) -> float:
        return sum(f.duration_s for f in self.usable_files)

    def to_json(self) -> dict:
        return {
            "files": [asdict(f) for f in self.files],
            "summary": {
                "files": len(self.files),
                "usable_files": len(self.usable_files),
                "usable_duration_s": round(self.usable_duration_s, 3),
                "total_duration_s": round(sum(f.duration_s for f in self.files), 3),
            },
        }


def _silence_ratio(samples: np.ndarray, sample_rate: int, config: CheckConfig) -> float:
    frame = max(1, round(sample_rate * config.frame_ms / 1000))
    count = len(samples) // frame
    if count == 0:
        return 1.0 if np.sqrt(np.mean(samples**2)) < 10 ** (config.silence_threshold_db / 20) else 0.0
    frames = samples[: count * frame].reshape(count, frame).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return float(np.mean(rms < 10 ** (config.silence_threshold_db / 20)))


def check_file(path: str | Path, config: CheckConfig = CheckConfig()) -> FileCheck:
    """Decode ``path`` and measure it; a file that cannot be decoded gets its reason as an error."""
    try:
        audio = io.decode(path)
    except TimbrelError as error:
        return FileCheck(str(path), errors=(getattr(error, "reason", str(error)),))
    return check_audio(path, audio, config)


def check_audio(path: str | Path, audio: Audio, config: CheckConfig = CheckConfig()) -> FileCheck:
    """Measure decoded audio (every channel, its own rate) and list what is wrong with it."""
    mono = audio.mono
    peak = float(np.abs(audio.samples).max())
    clipped = float(np.mean(np.abs(audio.samples) >= config.clip_level))
    silence = _silence_ratio(mono, audio.sample_rate, config)
    errors: list[str] = []
    warnings: list[str] = []
    if audio.duration_s < config.min_duration_s:
        errors.append(f"too short: {audio.duration_s:.3f} s < {config.min_duration_s} s")
    if peak < 10 ** (config.silence_threshold_db / 20) or silence >= 0.999:
        errors.append(f"silent: peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS")
    elif silence > config.max_silence_ratio:
        warnings.append(f"mostly silence: {silence:.0%} of frames below {config.silence_threshold_db} dB")
    if clipped > config.max_clipped_ratio:
        warnings.append(f"clipping: {clipped:.2%} of samples at full scale")
    if audio.sample_rate < config.low_sample_rate_hz:
        warnings.append(
            f"low sample rate {audio.sample_rate} Hz: the band above {audio.sample_rate // 2} Hz is missing"
        )
    if audio.num_channels > 2:
        warnings.append(f"{audio.num_channels} channels: downmixed to mono")
    return FileCheck(
        path=str(path),
        duration_s=audio.duration_s,
        sample_rate=audio.sample_rate,
        num_channels=audio.num_channels,
        peak_dbfs=float(20 * np.log10(max(peak, 1e-12))),
        clipped_ratio=clipped,
        silence_ratio=silence,
        errors=tuple(errors),
        warnings=tuple(warnings),
    )


def write_report(report: DatasetCheck, path: str | Path, root: str | Path | None = None) -> None:
    """The report as JSON; with ``root``, each file's path relative to it, so that the same
    dataset gives the same bytes wherever it lies."""
    if root is not None:
        files = tuple(replace(f, path=os.path.relpath(f.path, root)) for f in report.files)
        report = DatasetCheck(files)
    write_text_atomic(path, json.dumps(report.to_json(), indent=2, ensure_ascii=False))


def check_files(
    paths: list[Path], config: CheckConfig = CheckConfig(), workers: int = 1, show_progress: bool = False
) -> DatasetCheck:
    """Check every file; a failure that escapes check_file becomes that file's error."""
    results = run_jobs(
        partial(check_file, config=config), paths, [str(p) for p in paths], workers, "checking", show_progress
    )
    files = tuple(
        FileCheck(result.item, errors=(result.reason or "failed",)) if isinstance(result, Outcome) else result
        for result in results
    )
    return DatasetCheck(files)
