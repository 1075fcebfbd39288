"""Data commands: `timbrel check`, `prepare rvc|rift`, `extract rvc|rift` and `index`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from timbrel.cli import (
    DEVICE_HELP,
    SET_HELP,
    WORKERS_HELP,
    app,
    configured,
    console,
    one_line_errors,
    report_outcomes,
    say,
)
from timbrel.cli.fields import default_of, help_of
from timbrel.core.errors import printable

if TYPE_CHECKING:
    from timbrel.dataset.check import DatasetCheck
    from timbrel.dataset.prepare import PrepareReport

prepare_app = typer.Typer(help="Turn a folder of recordings into a training dataset.", no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")
extract_app = typer.Typer(
    help="Extract pitch and content features from a prepared dataset.", no_args_is_help=True
)
app.add_typer(extract_app, name="extract")

RVC_PREPARE = ("timbrel.dataset.rvc", "RVCPrepareConfig")
SPLIT = ("timbrel.dataset.rift", "SplitConfig")
RVC_EXTRACT = ("timbrel.features.extract_rvc", "RVCExtractConfig")


def _check_table(report: DatasetCheck, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("file", "s", "Hz", "ch", "peak dBFS", "clip", "silence", "status"):
        table.add_column(column, overflow="fold")
    for f in report.files:
        status = (
            "[red]" + escape("; ".join(f.errors))
            if f.errors
            else "[yellow]" + escape("; ".join(f.warnings))
            if f.warnings
            else ""
        )
        table.add_row(
            escape(printable(f.path)),
            f"{f.duration_s:.2f}",
            str(f.sample_rate or ""),
            str(f.num_channels or ""),
            f"{f.peak_dbfs:.1f}" if f.sample_rate else "",
            f"{f.clipped_ratio:.2%}" if f.sample_rate else "",
            f"{f.silence_ratio:.0%}" if f.sample_rate else "",
            status or "[green]ok",
        )
    summary = report.to_json()["summary"]
    table.caption = (
        f"{summary['usable_files']} of {summary['files']} files usable, "
        f"{summary['usable_duration_s']:.1f} s of {summary['total_duration_s']:.1f} s"
    )
    return table


def _finish_prepare(report: PrepareReport, check_path: Path) -> None:
    from timbrel.dataset.check import write_report

    write_report(report.check_before, check_path)
    console.print(_check_table(report.check_before, "Input check"))
    for outcome in report.failed:
        console.print(f"[red]skipped[/red] {escape(outcome.reason)}", soft_wrap=True)
    counts = {
        status: sum(o.status == status for o in report.outcomes) for status in ("done", "skipped", "failed")
    }
    console.print(
        f"{counts['done']} prepared, {counts['skipped']} already done, {counts['failed']} failed"
        f" -> {report.output_dir}"
    )
    if report.extra:
        console.print(json.dumps(report.extra))
    if not report.usable:
        console.print("[red]nothing usable was prepared[/red]")
        raise typer.Exit(1)


@app.command()
def check(
    paths: list[Path] = typer.Argument(..., help="Audio files or folders of them."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the report as JSON here."),
    workers: int | None = typer.Option(None, help=WORKERS_HELP),
) -> None:
    """Check recordings: duration, rate, channels, clipping, silence, and whether each is usable."""
    from timbrel import api

    report = api.check(paths, workers=workers, report_path=json_path, show_progress=True)
    console.print(_check_table(report, "Dataset check"))
    if not report.usable_files:
        raise typer.Exit(1)


@prepare_app.command("rvc")
def prepare_rvc(
    input_dir: Path = typer.Argument(
        ..., help="Folder of recordings of one singer (any format ffmpeg reads)."
    ),
    experiment: str = typer.Option(
        ..., "--experiment", "-e", help="Experiment name: output goes to LOGS/NAME."
    ),
    logs_dir: Path = typer.Option(Path("logs"), help="Folder that holds the experiments."),
    sample_rate: int = typer.Option(
        default_of(*RVC_PREPARE, "sample_rate"), help=help_of(*RVC_PREPARE, "sample_rate")
    ),
    piece_s: float = typer.Option(default_of(*RVC_PREPARE, "piece_s"), help=help_of(*RVC_PREPARE, "piece_s")),
    workers: int | None = typer.Option(None, help=WORKERS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """RVC preprocessing: high-pass, slice on silence, cut pieces, normalise -> 0_gt_wavs, 1_16k_wavs."""
    from timbrel import api
    from timbrel.dataset.rvc import RVCPrepareConfig

    config = configured(RVCPrepareConfig(), {"sample_rate": sample_rate, "piece_s": piece_s}, set_)
    experiment_dir = logs_dir / experiment
    report = api.prepare_rvc(input_dir, experiment_dir, config, workers, show_progress=True)
    _finish_prepare(report, experiment_dir / "input_check.json")


@prepare_app.command("rift")
def prepare_rift(
    input_dir: Path = typer.Argument(..., help="Folder with one sub-folder of recordings per speaker."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to write (e.g. data/finetune)."),
    split_type: str = typer.Option(default_of(*SPLIT, "split_type"), help=help_of(*SPLIT, "split_type")),
    num_test: int = typer.Option(default_of(*SPLIT, "num_test"), help=help_of(*SPLIT, "num_test")),
    num_test_per_speaker: int = typer.Option(
        default_of(*SPLIT, "num_test_per_speaker"), help=help_of(*SPLIT, "num_test_per_speaker")
    ),
    only_include_speakers: str | None = typer.Option(None, help=help_of(*SPLIT, "only_include_speakers")),
    seed: int = typer.Option(default_of(*SPLIT, "seed"), help=help_of(*SPLIT, "seed")),
    workers: int | None = typer.Option(None, help=WORKERS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """RIFT preparation: 44.1 kHz, -18 LUFS, 16-bit WAV per speaker, and meta_info.json with the split."""
    from timbrel import api
    from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig

    speakers = tuple(s.strip() for s in only_include_speakers.split(",")) if only_include_speakers else None
    split = configured(
        SplitConfig(),
        {
            "split_type": split_type,
            "num_test": num_test,
            "num_test_per_speaker": num_test_per_speaker,
            "only_include_speakers": speakers,
            "seed": seed,
        },
        [],
    )
    config = configured(RIFTPrepareConfig(), {}, set_)
    report = api.prepare_rift(input_dir, output, config, split, workers, show_progress=True)
    _finish_prepare(report, output / "input_check.json")


@extract_app.command("rvc")
def extract_rvc(
    experiment: str = typer.Option(..., "--experiment", "-e", help="Experiment name (LOGS/NAME)."),
    logs_dir: Path = typer.Option(Path("logs"), help="Folder that holds the experiments."),
    version: str = typer.Option(default_of(*RVC_EXTRACT, "version"), help=help_of(*RVC_EXTRACT, "version")),
    f0_method: str = typer.Option(
        default_of(*RVC_EXTRACT, "f0_method"), help=help_of(*RVC_EXTRACT, "f0_method")
    ),
    hubert: Path | None = typer.Option(None, help="HuBERT weights (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Write 2a_f0, 2b-f0nsf and 3_feature256/768 for every prepared piece (skips what is done)."""
    from timbrel import api
    from timbrel.features.extract_rvc import RVCExtractConfig

    with one_line_errors():
        pitch = RVCExtractConfig(f0_method=None if f0_method == "none" else f0_method)
        config = configured(pitch, {"version": version}, set_)
        outcomes = api.extract_rvc(
            logs_dir / experiment, config, hubert, rmvpe, show_progress=True, device=device, say=say
        )
    report_outcomes(outcomes, "extracted")


@app.command()
def index(
    experiment: str = typer.Option(..., "--experiment", "-e", help="Experiment name (LOGS/NAME)."),
    logs_dir: Path = typer.Option(Path("logs"), help="Folder that holds the experiments."),
    version: str = typer.Option("v2", help="v1 or v2: which features to index."),
) -> None:
    """Build the RVC retrieval index (.index) over an experiment's extracted features."""
    from timbrel import api

    console.print(f"wrote {api.build_rvc_index(logs_dir / experiment, version)}", soft_wrap=True)


@extract_app.command("rift")
def extract_rift(
    data_dir: Path = typer.Argument(..., help="Dataset folder from `timbrel prepare rift` (data/<dataset>)."),
    contentvec: Path | None = typer.Option(None, help="ContentVec folder (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Write <stem>.mel.pt, .rms.pt, .f0.pt and .cvec.pt next to each wav (skips what is done)."""
    from timbrel import api
    from timbrel.features.extract_rift import RIFTExtractConfig

    with one_line_errors():
        config = configured(RIFTExtractConfig(), {}, set_)
        outcomes = api.extract_rift(
            data_dir, config, contentvec, rmvpe, show_progress=True, device=device, say=say
        )
    report_outcomes(outcomes, "extracted")
