"""The Python API. The CLI and the web UI call these functions and nothing below them."""

from __future__ import annotations

from pathlib import Path

from timbrel.audio import io
from timbrel.dataset import rift, rvc
from timbrel.dataset.check import CheckConfig, DatasetCheck, check_files, write_report
from timbrel.dataset.jobs import default_workers
from timbrel.dataset.prepare import PrepareReport, prepare_rift_folder, prepare_rvc_folder

AUDIO_SUFFIXES = frozenset(
    {
        ".wav",
        ".flac",
        ".mp3",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".aac",
        ".wma",
        ".aif",
        ".aiff",
        ".webm",
        ".mka",
    }
)


def find_audio(paths: list[str | Path]) -> list[Path]:
    """Files given directly, plus the audio files (by extension) found under given folders, sorted."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += io.audio_files_under(path)
        else:
            found.append(path)
    return found


def check(
    paths: list[str | Path],
    config: CheckConfig = CheckConfig(),
    workers: int | None = None,
    report_path: str | Path | None = None,
    show_progress: bool = False,
) -> DatasetCheck:
    """Check recordings (files or folders of them); optionally write the JSON report."""
    files = find_audio(paths)
    report = check_files(files, config, workers or default_workers(), show_progress=show_progress)
    if report_path is not None:
        write_report(report, report_path)
    return report


def prepare_rvc(
    input_dir: str | Path,
    experiment_dir: str | Path,
    config: rvc.RVCPrepareConfig = rvc.RVCPrepareConfig(),
    workers: int | None = None,
    show_progress: bool = False,
) -> PrepareReport:
    """RVC-style preparation into ``experiment_dir`` (0_gt_wavs, 1_16k_wavs), resumable.
    A check of the written pieces goes to ``experiment_dir/dataset_check.json``."""
    experiment_dir = Path(experiment_dir)
    report = prepare_rvc_folder(
        Path(input_dir), experiment_dir, config, workers or default_workers(), show_progress
    )
    written = sorted((experiment_dir / "0_gt_wavs").glob("*.wav"))
    after = check_files(
        written, CheckConfig(min_duration_s=0.0), workers or default_workers(), show_progress=False
    )
    write_report(after, experiment_dir / "dataset_check.json")
    return report


def prepare_rift(
    input_dir: str | Path,
    data_dir: str | Path,
    config: rift.RIFTPrepareConfig = rift.RIFTPrepareConfig(),
    split: rift.SplitConfig = rift.SplitConfig(),
    workers: int | None = None,
    show_progress: bool = False,
) -> PrepareReport:
    """RIFT-style preparation into ``data_dir/<speaker>/*.wav`` plus ``meta_info.json``, resumable.
    A check of the written files goes to ``data_dir/dataset_check.json``."""
    data_dir = Path(data_dir)
    report = prepare_rift_folder(
        Path(input_dir), data_dir, config, split, workers or default_workers(), show_progress
    )
    written = sorted(data_dir.glob("*/*.wav"))
    after = check_files(written, CheckConfig(), workers or default_workers(), show_progress=False)
    write_report(after, data_dir / "dataset_check.json")
    return report
