"""Converting files, folders and globs with one loaded model: outputs beside each other under
one folder, existing outputs skipped unless asked, a bad file reported without stopping the rest."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from timbrel.audio import io
from timbrel.core.errors import BadInputError, ModelOutputError
from timbrel.dataset.jobs import Outcome, run_jobs
from timbrel.models.base import VoiceModel


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
    return [
        ConversionJob(source, Path(output) / relative.with_suffix(f".{output_format}"))
        for source, relative in pairs
    ]


def _convert_one(job: ConversionJob, model: VoiceModel, options: Any, overwrite: bool) -> Outcome:
    if job.target.exists() and not overwrite:
        return Outcome(str(job.source), "skipped", outputs=(str(job.target),))
    audio = io.decode(job.source)
    try:
        converted = model.convert(audio, options)
    except ModelOutputError as error:
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
) -> list[Outcome]:
    """Convert every input in this process (the model uses all cores itself)."""
    jobs = plan_jobs(inputs, Path(output), output_format)
    return run_jobs(
        partial(_convert_one, model=model, options=options, overwrite=overwrite),
        jobs,
        [str(job.source) for job in jobs],
        workers=1,
        description="converting",
        show_progress=show_progress,
    )
