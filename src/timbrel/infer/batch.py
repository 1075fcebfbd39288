"""Converting files, folders and globs with one loaded model: outputs beside each other under
one folder, existing outputs skipped unless asked, a bad file reported without stopping the rest.

A conversion that runs out of device memory is retried once with the model's smaller setting
(RVC: shorter chunks; RIFT: a smaller batch), with a warning; if that fails too, the file fails
with an error naming the setting to lower. ``shard`` splits the sorted inputs between processes.
"""

from __future__ import annotations

import glob
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from timbrel.audio import io
from timbrel.core import device as devices
from timbrel.core.audio import Audio
from timbrel.core.errors import BadInputError, ConfigError, DeviceMemoryError, TimbrelError
from timbrel.core.jobs import Outcome, run_jobs
from timbrel.models.base import VoiceModel


class DeviceMemoryWarning(UserWarning):
    """A conversion ran out of device memory and is retried with a smaller setting."""


@dataclass(frozen=True)
class ConversionJob:
    source: Path
    target: Path


def find_inputs(inputs: list[str | Path]) -> list[tuple[Path, Path]]:
    """Each input -> (file, its path relative to what was given). Folders are searched recursively
    for audio by extension; a pattern with * ? [ is expanded as a glob."""
    found: list[tuple[Path, Path]] = []
    for given in inputs:
        text = str(given)
        if any(c in text for c in "*?[") and not Path(text).exists():
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise BadInputError(text, "the pattern matches no file")
            found += [(m, Path(m.name)) for m in matches]
        elif Path(text).is_dir():
            root = Path(text)
            found += [(p, p.relative_to(root)) for p in io.audio_files_under(root)]
        else:
            found.append((Path(text), Path(Path(text).name)))
    return found


def plan_jobs(inputs: list[str | Path], output: Path, output_format: str = "wav") -> list[ConversionJob]:
    """A single input file may name its output file directly; otherwise ``output`` is a folder."""
    pairs = find_inputs(inputs)
    if len(pairs) == 1 and Path(output).suffix.lower() in io.WRITABLE_SUFFIXES and not Path(output).is_dir():
        return [ConversionJob(pairs[0][0], Path(output))]
    targets = [relative.with_suffix(f".{output_format}") for _, relative in pairs]
    shared = {target for target in targets if targets.count(target) > 1}
    # x.wav and x.flac would both become x.wav: each keeps its extension in its name instead
    return [
        ConversionJob(
            source,
            Path(output)
            / (
                target.with_name(f"{relative.stem}_{relative.suffix[1:]}.{output_format}")
                if target in shared
                else target
            ),
        )
        for (source, relative), target in zip(pairs, targets, strict=True)
    ]


def parse_shard(text: str) -> tuple[int, int]:
    """ "i/n" (1 <= i <= n) -> (i, n)."""
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        raise ConfigError(f"shard {text!r} is not i/n (e.g. 2/4)") from None
    check_shard(shard)
    return shard


def check_shard(shard: tuple[int, int]) -> None:
    index, count = shard
    if not 1 <= index <= count:
        raise ConfigError(f"shard {index}/{count}: i must be within 1..n")


def take_shard(jobs: list[ConversionJob], shard: tuple[int, int] | None) -> list[ConversionJob]:
    """The i-th of n parts of the jobs sorted by source path: every n-th from the i-th, so the
    parts are disjoint, cover all jobs, and do not depend on the order the inputs were given in."""
    if shard is None:
        return jobs
    check_shard(shard)
    index, count = shard
    return sorted(jobs, key=lambda job: str(job.source))[index - 1 :: count]


def convert_with_retry(model: VoiceModel, audio: Audio, options: Any, source: Path) -> Audio:
    """model.convert, retried once with ``model.less_memory(options)`` after an out-of-memory error."""
    try:
        return model.convert(audio, options)
    except Exception as error:
        if not devices.is_out_of_memory(error):
            raise
        where = str(getattr(model, "device", "the device"))
    fallback = model.less_memory(options)
    if fallback.options is None:
        raise DeviceMemoryError(f"{source}: out of memory on {where}; lower {fallback.setting}")
    devices.release_memory(getattr(model, "device", devices.CPU.device))
    warnings.warn(
        f"{source}: out of memory on {where}; retrying with {fallback.change}",
        DeviceMemoryWarning,
        stacklevel=2,
    )
    try:
        return model.convert(audio, fallback.options)
    except Exception as error:
        if not devices.is_out_of_memory(error):
            raise
    raise DeviceMemoryError(
        f"{source}: out of memory on {where} also with {fallback.change}; lower {fallback.setting}"
    )


def _convert_one(job: ConversionJob, model: VoiceModel, options: Any, overwrite: bool) -> Outcome:
    if job.target.exists() and not overwrite:
        return Outcome(str(job.source), "skipped", outputs=(str(job.target),))
    audio = io.decode(job.source)
    try:
        converted = convert_with_retry(model, audio, options, job.source)
    except (BadInputError, DeviceMemoryError):
        raise
    except TimbrelError as error:  # the model's reason, with the file it concerns
        raise BadInputError(job.source, str(error)) from None
    if not np.isfinite(converted.samples).all():
        raise BadInputError(
            job.source, "the voice model produced NaN or infinite samples; nothing was written"
        )
    io.save(job.target, converted, subtype="PCM_16")
    return Outcome(str(job.source), "done", outputs=(str(job.target),), details={"seconds": audio.duration_s})


def convert_files(
    model: VoiceModel,
    options: Any,
    inputs: list[str | Path],
    output: str | Path,
    overwrite: bool = False,
    output_format: str = "wav",
    show_progress: bool = False,
    shard: tuple[int, int] | None = None,
) -> list[Outcome]:
    """Convert every input (of this ``shard``: (i, n), see take_shard) in this process (the model
    uses all cores, or its device, itself)."""
    jobs = take_shard(plan_jobs(inputs, Path(output), output_format), shard)
    return run_jobs(
        partial(_convert_one, model=model, options=options, overwrite=overwrite),
        jobs,
        [str(job.source) for job in jobs],
        workers=1,
        description="converting",
        show_progress=show_progress,
    )
