"""Folder-level preparation for both families: list inputs, run the per-recording step in workers,
resume, and report. The per-recording steps themselves live in dataset.rvc and dataset.rift."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from timbrel.audio import io
from timbrel.core.audio import Audio
from timbrel.core.config import to_dict
from timbrel.core.errors import BadInputError, TimbrelError
from timbrel.core.jobs import Ledger, Outcome, run_jobs
from timbrel.dataset import rift, rvc
from timbrel.dataset.check import CheckConfig, DatasetCheck, FileCheck, check_audio

LEDGER_FOLDER = ".timbrel/prepared"


@dataclass(frozen=True)
class PrepareReport:
    """outcomes: one per input recording, in input order."""

    output_dir: Path
    outcomes: tuple[Outcome, ...]
    check_before: DatasetCheck
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    @property
    def usable(self) -> bool:
        """True when at least one recording produced training material."""
        return any(o.status in ("done", "skipped") and o.outputs for o in self.outcomes)


def _decode_usable(path: Path) -> tuple[Audio, dict]:
    """Decode once, check, and refuse an unusable recording with the check's reasons."""
    audio = io.decode(path)
    report = check_audio(path, audio, CheckConfig())
    if report.errors:
        raise BadInputError(path, "; ".join(report.errors))
    return audio, asdict(report)


def input_check(outcomes: tuple[Outcome, ...]) -> DatasetCheck:
    """The check of the inputs, gathered from the outcomes (each recording was checked as it was read)."""
    files = []
    for outcome in outcomes:
        if "check" in outcome.details:
            measured = dict(outcome.details["check"])
            measured["errors"] = tuple(measured["errors"])
            measured["warnings"] = tuple(measured["warnings"])
            files.append(FileCheck(**measured))
        else:
            files.append(FileCheck(outcome.item, errors=(outcome.reason or "failed",)))
    return DatasetCheck(tuple(files))


# RVC ---------------------------------------------------------------------------------------


def _prepare_rvc_recording(
    job: tuple[int, Path], experiment_dir: Path, config: rvc.RVCPrepareConfig
) -> Outcome:
    recording_index, path = job
    ledger = Ledger(experiment_dir / LEDGER_FOLDER, to_dict(config))
    key = f"rvc/{recording_index}/{path.name}"
    if (entry := ledger.lookup(key, path)) is not None and all(
        (experiment_dir / name).exists() for name in entry["outputs"]
    ):
        return Outcome(str(path), "skipped", outputs=tuple(entry["outputs"]), details=entry["details"])
    audio, measured = _decode_usable(path)
    audio = io.conform(audio, sample_rate=config.sample_rate)
    for stale in ledger.previous_outputs(key):
        (experiment_dir / stale).unlink(missing_ok=True)
    try:
        recording = rvc.prepare_recording(audio.mono, recording_index, config)
    except ValueError as error:
        raise BadInputError(path, str(error)) from None
    if not recording.pieces:
        raise BadInputError(path, "no usable pieces: every stretch was silent or had an abnormal peak")
    written = rvc.write_recording(experiment_dir, recording, config.sample_rate)
    outputs = tuple(str(p.relative_to(experiment_dir)) for p in written)
    details = {"check": measured, "pieces": len(recording.pieces), "skipped_pieces": len(recording.skipped)}
    outcome = Outcome(str(path), "done", outputs=outputs, details=details)
    ledger.record(key, path, outcome)
    return outcome


def prepare_rvc_folder(
    input_dir: Path,
    experiment_dir: Path,
    config: rvc.RVCPrepareConfig,
    workers: int = 1,
    show_progress: bool = True,
) -> PrepareReport:
    """RVC's preprocessing over ``input_dir``: every entry of its sorted listing is recording
    number ``idx0`` (its position), as the reference numbers them."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise BadInputError(input_dir, "not a folder")
    entries = sorted(os.listdir(input_dir))
    jobs = [(index, input_dir / name) for index, name in enumerate(entries)]
    outcomes = run_jobs(
        partial(_prepare_rvc_recording, experiment_dir=Path(experiment_dir), config=config),
        jobs,
        [str(path) for _, path in jobs],
        workers,
        "preparing (rvc)",
        show_progress,
    )
    return PrepareReport(Path(experiment_dir), tuple(outcomes), input_check(tuple(outcomes)))


# RIFT --------------------------------------------------------------------------------------


def _prepare_rift_recording(
    job: tuple[Path, Path | str], data_dir: Path, config: rift.RIFTPrepareConfig
) -> Outcome:
    source, relative = job
    if isinstance(relative, str):
        if relative == _OUTSIDE_SPEAKER:
            io.check_readable(source)  # a broken link or a loop says so rather than where it lies
        raise BadInputError(source, relative)
    ledger = Ledger(data_dir / LEDGER_FOLDER, to_dict(config))
    key = f"rift/{relative}"
    target = data_dir / relative
    if (entry := ledger.lookup(key, source)) is not None and target.exists():
        return Outcome(str(source), "skipped", outputs=(str(relative),), details=entry["details"])
    audio, measured = _decode_usable(source)
    try:
        recording = rift.prepare_recording(audio.samples, audio.sample_rate, config)
    except ValueError as error:
        raise BadInputError(source, str(error)) from None
    rift.write_recording(target, recording, config)
    outcome = Outcome(str(source), "done", outputs=(str(relative),), details={"check": measured})
    ledger.record(key, source, outcome)
    return outcome


_HIDDEN = "hidden (its name starts with a dot): left out"
_OUTSIDE_SPEAKER = "not in a speaker folder (RIFT takes <folder>/<speaker>/<recording>): left out"


def list_speaker_recordings(input_dir: Path) -> list[tuple[Path, Path | str]]:
    """Every entry of ``input_dir/<speaker>/`` -> (source, speaker/<name>.wav), and every entry
    that cannot be prepared (beside the speaker folders, hidden) -> (source, why it is left out),
    so that each ends prepared or reported.

    Recordings that would share an output name (``x.wav`` and ``x.flac``) each keep their
    extension in it instead (``x_wav.wav``, ``x_flac.wav``), so that neither overwrites the other.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise BadInputError(input_dir, "not a folder")
    jobs: list[tuple[Path, Path | str]] = []
    for entry in sorted(input_dir.iterdir()):
        if entry.name.startswith("."):
            jobs.append((entry, _HIDDEN))
            continue
        if not entry.is_dir():
            jobs.append((entry, _OUTSIDE_SPEAKER))
            continue
        try:
            listing = sorted(entry.iterdir())
        except OSError as error:
            jobs.append((entry, f"cannot list the speaker folder: {error.strerror}"))
            continue
        sources = []
        for source in listing:
            if source.name.startswith("."):
                jobs.append((source, _HIDDEN))
            else:
                sources.append(source)
        stems = [source.stem if source.suffix else source.name for source in sources]
        shared = {stem for stem in stems if stems.count(stem) > 1}
        taken = set(stems) - shared
        for source, stem in zip(sources, stems, strict=True):
            if stem in shared:
                stem = candidate = f"{stem}_{source.suffix[1:]}" if source.suffix else f"{stem}_"
                number = 1
                while candidate in taken:
                    number += 1
                    candidate = f"{stem}_{number}"
                stem = candidate
                taken.add(stem)
            jobs.append((source, Path(entry.name) / f"{stem}.wav"))
    return jobs


def prepare_rift_folder(
    input_dir: Path,
    data_dir: Path,
    config: rift.RIFTPrepareConfig,
    split: rift.SplitConfig,
    workers: int = 1,
    show_progress: bool = True,
) -> PrepareReport:
    """RIFT's preparation into ``data_dir/<speaker>/<stem>.wav`` (44.1 kHz, -18 LUFS, 16-bit) and
    ``data_dir/meta_info.json``. The input folder is left untouched."""
    jobs = list_speaker_recordings(input_dir)
    if not jobs:
        raise BadInputError(input_dir, "no recordings found: expected <folder>/<speaker>/<recording>")
    outcomes = run_jobs(
        partial(_prepare_rift_recording, data_dir=Path(data_dir), config=config),
        jobs,
        [str(source) for source, _ in jobs],
        workers,
        "preparing (rift)",
        show_progress,
    )
    extra = {}
    if any(o.status in ("done", "skipped") for o in outcomes):
        try:
            meta = rift.build_meta_info(data_dir, split)
            rift.write_meta_info(data_dir, meta)
            extra = {"train": len(meta["train_audios"]), "test": len(meta["test_audios"])}
        except TimbrelError as error:
            extra = {"meta_info_error": str(error)}
    return PrepareReport(Path(data_dir), tuple(outcomes), input_check(tuple(outcomes)), extra)
