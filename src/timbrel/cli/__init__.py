"""The command line: parses arguments into typed configs and calls timbrel.api. Nothing else.

Command groups with many options live in their own modules here and register themselves on `app`.

Subcommands import the API when they run, so `timbrel --help` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import timbrel
from timbrel.core.errors import TimbrelError, printable

if TYPE_CHECKING:
    from timbrel.dataset.check import DatasetCheck
    from timbrel.dataset.prepare import PrepareReport


class _App(typer.Typer):
    """Any error Timbrel raises on purpose (a bad file, a bad setting) ends the command with its one
    line on stderr and exit status 2, whichever command it came from, never with a traceback."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except TimbrelError as error:
            Console(stderr=True).print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
            raise SystemExit(2) from None


app = _App(
    name="timbrel",
    help="Singing voice conversion: prepare data, extract features, train and convert with RVC or RIFT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
prepare_app = typer.Typer(help="Turn a folder of recordings into a training dataset.", no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")
extract_app = typer.Typer(
    help="Extract pitch and content features from a prepared dataset.", no_args_is_help=True
)
app.add_typer(extract_app, name="extract")

console = Console(stderr=True)
WORKERS_HELP = "Worker processes (default: the number of cores)."
DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."
PRECISION_HELP = "fp32; bf16 (GPUs with it, CPUs: slow without native bf16); fp16 (GPUs); auto."


def _say(line: str) -> None:
    console.print(line, soft_wrap=True, markup=False)


def _exit_on_error(error: Exception, exit_code: int = 2) -> None:
    from rich.markup import escape

    console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
    raise typer.Exit(exit_code) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"timbrel {timbrel.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Timbrel command line."""


@contextmanager
def _one_line_errors(exit_code: int = 2) -> Iterator[None]:
    """An error Timbrel raises on purpose (a bad file, a missing weight, a bad value) ends the
    command with its one-line message instead of a traceback."""
    from timbrel.core.errors import TimbrelError

    try:
        yield
    except TimbrelError as error:
        _exit_on_error(error, exit_code)


def _overrides(config, overrides: list[str]):
    from timbrel.core.config import with_overrides

    return with_overrides(config, overrides) if overrides else config


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


def _report_outcomes(outcomes, done_word: str) -> None:
    for outcome in outcomes:
        if outcome.status == "failed":
            console.print(f"[red]failed[/red] {escape(outcome.reason)}", soft_wrap=True)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("done", "skipped", "failed")}
    console.print(
        f"{counts['done']} {done_word}, {counts['skipped']} already done, {counts['failed']} failed"
    )
    if not any(o.status != "failed" for o in outcomes):
        raise typer.Exit(1)


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
    sample_rate: int = typer.Option(40000, help="Target rate of the voice model: 32000, 40000 or 48000."),
    piece_s: float = typer.Option(3.7, help="Piece length in seconds (RVC uses 3.0 on CPU and small GPUs)."),
    workers: int | None = typer.Option(None, help=WORKERS_HELP),
    set_: list[str] = typer.Option([], "--set", help="Override any config field: name=value."),
) -> None:
    """RVC preprocessing: high-pass, slice on silence, cut pieces, normalise -> 0_gt_wavs, 1_16k_wavs."""
    from timbrel import api
    from timbrel.dataset.rvc import RVCPrepareConfig

    config = _overrides(RVCPrepareConfig(sample_rate=sample_rate, piece_s=piece_s), set_)
    experiment_dir = logs_dir / experiment
    report = api.prepare_rvc(input_dir, experiment_dir, config, workers, show_progress=True)
    _finish_prepare(report, experiment_dir / "input_check.json")


@prepare_app.command("rift")
def prepare_rift(
    input_dir: Path = typer.Argument(..., help="Folder with one sub-folder of recordings per speaker."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to write (e.g. data/finetune)."),
    split_type: str = typer.Option("random", help="random or stratified."),
    num_test: int = typer.Option(20, help="Test files in a random split."),
    num_test_per_speaker: int = typer.Option(1, help="Test files per speaker in a stratified split."),
    only_include_speakers: str | None = typer.Option(
        None, help="Comma-separated speakers (stratified split)."
    ),
    seed: int = typer.Option(42, help="Seed of the split."),
    workers: int | None = typer.Option(None, help=WORKERS_HELP),
    set_: list[str] = typer.Option([], "--set", help="Override any config field: name=value."),
) -> None:
    """RIFT preparation: 44.1 kHz, -18 LUFS, 16-bit WAV per speaker, and meta_info.json with the split."""
    from timbrel import api
    from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig

    speakers = tuple(s.strip() for s in only_include_speakers.split(",")) if only_include_speakers else ()
    split = SplitConfig(
        split_type=split_type,
        num_test=num_test,
        num_test_per_speaker=num_test_per_speaker,
        only_include_speakers=speakers,
        seed=seed,
    )
    config = _overrides(RIFTPrepareConfig(), set_)
    report = api.prepare_rift(input_dir, output, config, split, workers, show_progress=True)
    _finish_prepare(report, output / "input_check.json")


@extract_app.command("rvc")
def extract_rvc(
    experiment: str = typer.Option(..., "--experiment", "-e", help="Experiment name (LOGS/NAME)."),
    logs_dir: Path = typer.Option(Path("logs"), help="Folder that holds the experiments."),
    version: str = typer.Option("v2", help="v1 (256-d features) or v2 (768-d)."),
    f0_method: str = typer.Option(
        "rmvpe", help="pm, harvest, dio or rmvpe; 'none' for a model without pitch."
    ),
    hubert: Path | None = typer.Option(None, help="HuBERT weights (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    set_: list[str] = typer.Option([], "--set", help="Override any config field: name=value."),
) -> None:
    """Write 2a_f0, 2b-f0nsf and 3_feature256/768 for every prepared piece (skips what is done)."""
    from timbrel import api
    from timbrel.core.errors import TimbrelError
    from timbrel.features.extract_rvc import RVCExtractConfig

    config = _overrides(
        RVCExtractConfig(version=version, f0_method=None if f0_method == "none" else f0_method), set_
    )
    try:
        outcomes = api.extract_rvc(
            logs_dir / experiment, config, hubert, rmvpe, show_progress=True, device=device, say=_say
        )
    except TimbrelError as error:
        _exit_on_error(error)
    _report_outcomes(outcomes, "extracted")


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
    set_: list[str] = typer.Option([], "--set", help="Override any config field: name=value."),
) -> None:
    """Write <stem>.mel.pt, .rms.pt, .f0.pt and .cvec.pt next to each wav (skips what is done)."""
    from timbrel import api
    from timbrel.core.errors import TimbrelError
    from timbrel.features.extract_rift import RIFTExtractConfig

    config = _overrides(RIFTExtractConfig(), set_)
    try:
        outcomes = api.extract_rift(
            data_dir, config, contentvec, rmvpe, show_progress=True, device=device, say=_say
        )
    except TimbrelError as error:
        _exit_on_error(error)
    _report_outcomes(outcomes, "extracted")


@app.command("eval")
def evaluate(
    converted: Path = typer.Argument(..., help="Folder of converted files."),
    sources: Path = typer.Argument(..., help="Folder of the source files (matched by name)."),
    references: Path | None = typer.Option(None, help="Recordings of the target singer."),
    report: Path | None = typer.Option(None, help="Write report.json and report.html here."),
    key: float = typer.Option(0.0, "--key", help="The key shift the conversion applied, in semitones."),
    pitch_method: str = typer.Option("pm", help="Pitch extractor for the f0 metrics."),
    device: str = typer.Option("auto", help=DEVICE_HELP + " (the pitch network and speaker encoder)"),
    set_: list[str] = typer.Option([], "--set", help="Override any config field: name=value."),
) -> None:
    """Objective metrics: f0 error, speaker similarity, DNSMOS, MCD, loudness; table, JSON and HTML."""
    from timbrel import api
    from timbrel.core.errors import TimbrelError
    from timbrel.eval.evaluate import EvalConfig
    from timbrel.eval.plots import METRIC_LABELS

    config = _overrides(EvalConfig(key_shift_semitones=key), set_)
    try:
        result = api.evaluate(
            converted, sources, references, config, pitch_method, report, device=device, say=_say
        )
    except TimbrelError as error:
        _exit_on_error(error)
    table = Table(title=f"Evaluation of {len(result.files)} files")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    for name, value in result.summary.items():
        table.add_row(METRIC_LABELS.get(name, name), f"{value:.4g}")
    console.print(table)
    for name, reason in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(printable(name))}: {escape(reason)}", soft_wrap=True)
    if report is not None:
        console.print(f"report: {report / 'report.html'}", soft_wrap=True)


@app.command()
def demo(
    output: Path = typer.Argument(Path("demo-output"), help="Folder for everything the demo makes."),
    seconds_per_singer: float = typer.Option(40.0, help="Length of the synthetic corpus per singer."),
) -> None:
    """Run the offline end-to-end demo on a synthetic corpus (no downloads)."""
    from timbrel.demo import run_demo

    run_demo(output, seconds_per_singer, say=console.print)


@app.command()
def convert(
    inputs: list[str] = typer.Argument(..., help="Audio files, folders or glob patterns."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (or file, for one input)."),
    model: Path = typer.Option(..., "--model", "-m", help="RVC .pth, RIFT .ckpt or bundle (.timbrel.zip)."),
    index: Path | None = typer.Option(None, help="RVC retrieval index (.index)."),
    hubert: Path | None = typer.Option(None, help="HuBERT weights (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    contentvec: Path | None = typer.Option(None, help="RIFT: ContentVec folder (default: the cache)."),
    vocoder: Path | None = typer.Option(None, help="RIFT: NSF-HiFiGAN folder (default: the cache)."),
    key: float | None = typer.Option(None, "--key", help="Key shift in semitones."),
    speaker: str | None = typer.Option(None, help="Speaker id (or name for RIFT)."),
    f0_method: str | None = typer.Option(
        None, help="RVC: pm, harvest, dio, rmvpe, crepe-full, crepe-tiny, fcpe, hybrid (rmvpe+fcpe median)."
    ),
    index_rate: float | None = typer.Option(
        None, help="RVC: how much of the retrieved features to use (0-1)."
    ),
    protect: float | None = typer.Option(None, help="RVC: protect voiceless consonants (0-0.5; 0.5 = off)."),
    rms_mix_rate: float | None = typer.Option(
        None, help="RVC: 1 keeps the output loudness, 0 follows the input."
    ),
    filter_radius: int | None = typer.Option(
        None, help="RVC: median filter radius for harvest (>= 3 filters)."
    ),
    output_sample_rate: int | None = typer.Option(None, help="RVC: resample the output to this rate."),
    auto_key: bool = typer.Option(
        False,
        "--auto-key",
        help="Add the key shift that moves the input to the voice's (RIFT: the speaker's) training f0.",
    ),
    formant_shift: float | None = typer.Option(
        None, help="RVC: move the formants by this many semitones, keeping the pitch (RIFT refuses it)."
    ),
    infer_steps: int | None = typer.Option(None, help="RIFT: sampling steps (default 32)."),
    ds_cfg_strength: float | None = typer.Option(None, help="RIFT: content-downsampling guidance (0.2)."),
    spk_cfg_strength: float | None = typer.Option(None, help="RIFT: speaker guidance (0.8)."),
    skip_cfg_strength: float | None = typer.Option(None, help="RIFT: skip-layer guidance (0 = off)."),
    cfg_skip_layers: str | None = typer.Option(
        None, help="RIFT: blocks the skip guidance leaves out, e.g. 6 or 5,6."
    ),
    cfg_rescale: float | None = typer.Option(None, help="RIFT: guidance rescale (0.7)."),
    cvec_downsample_rate: int | None = typer.Option(None, help="RIFT: negative content downsampling (2)."),
    robust_f0: int | None = typer.Option(None, help="RIFT: 0 RMVPE, 1 fill gaps from dio/Praat, 2 ensemble."),
    batch_size: int | None = typer.Option(None, help="RIFT: slices sampled together."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    precision: str = typer.Option("fp32", help=PRECISION_HELP + " Other than fp32: other numbers."),
    shard: str | None = typer.Option(
        None, help="i/n: convert only the i-th of n parts of the sorted inputs (one per process or GPU)."
    ),
    overwrite: bool = typer.Option(False, help="Replace outputs that already exist."),
    engine: str = typer.Option("torch", help="torch, or onnx (RVC: the synthesizer in onnxruntime)."),
    set_: list[str] = typer.Option([], "--set", help="Any other option of the model family: name=value."),
) -> None:
    """Convert singing with a voice model; the family (RVC or RIFT) comes from the model file.

    Several GPUs: one process per GPU, e.g. --device cuda:0 --shard 1/2 and --device cuda:1 --shard 2/2.
    """
    from timbrel import api
    from timbrel.core.config import parse_scalar
    from timbrel.core.errors import TimbrelError
    from timbrel.infer.batch import parse_shard

    try:
        parts = parse_shard(shard) if shard is not None else None
        voice = api.load(
            model,
            index=index,
            hubert=hubert,
            rmvpe=rmvpe,
            contentvec=contentvec,
            vocoder=vocoder,
            device=device,
            precision=precision,
            say=_say,
            engine=engine,
        )
    except TimbrelError as error:
        _exit_on_error(error)
    given = {
        "key_shift_semitones": key,
        "speaker": int(speaker) if speaker is not None and speaker.isdigit() else speaker,
        "f0_method": f0_method,
        "index_rate": index_rate,
        "protect": protect,
        "rms_mix_rate": rms_mix_rate,
        "filter_radius": filter_radius,
        "output_sample_rate": output_sample_rate,
        "auto_key": auto_key or None,
        "formant_shift_semitones": formant_shift,
        "infer_steps": infer_steps,
        "ds_cfg_strength": ds_cfg_strength,
        "spk_cfg_strength": spk_cfg_strength,
        "skip_cfg_strength": skip_cfg_strength,
        "cfg_skip_layers": [int(x) for x in cfg_skip_layers.split(",")] if cfg_skip_layers else None,
        "cfg_rescale": cfg_rescale,
        "cvec_downsample_rate": cvec_downsample_rate,
        "robust_f0": robust_f0,
        "batch_size": batch_size,
    }
    values = {name: value for name, value in given.items() if value is not None}
    for item in set_:
        name, _, text = item.partition("=")
        values[name] = parse_scalar(text)
    try:
        options = api.convert_options(voice, values)
    except TimbrelError as error:
        _exit_on_error(error)
    outcomes = api.convert(
        voice, inputs, output, options, overwrite=overwrite, show_progress=True, shard=parts
    )
    for outcome in outcomes:
        if outcome.status != "failed":
            source, target = (escape(printable(p)) for p in (outcome.item, outcome.outputs[0]))
            console.print(f"{outcome.status}: {source} -> {target}", soft_wrap=True)
    _report_outcomes(outcomes, "converted")


@app.command()
def download(
    names: list[str] = typer.Argument(
        None, help="Weights or groups to fetch (rvc, rift, rvc-v1, rvc-v2, rift-dit, all); none lists them."
    ),
) -> None:
    """Fetch standard weights from the Hugging Face Hub into the cache.

    HF_ENDPOINT selects a mirror; HF_HUB_OFFLINE=1 only checks what is cached.
    """
    from rich.markup import escape

    from timbrel.core.errors import TimbrelError
    from timbrel.weights import hub
    from timbrel.weights.cache import cache_dir
    from timbrel.weights.catalogue import GROUPS, STANDARD_WEIGHTS

    if not names:
        table = Table(title=f"Standard weights (cache: {cache_dir()})")
        for column in ("name", "licence", "what"):
            table.add_column(column, overflow="fold")
        for weight in STANDARD_WEIGHTS.values():
            table.add_row(weight.name, weight.source.licence if weight.source else "", weight.description)
        table.caption = "groups: " + "; ".join(f"{g} = {' '.join(m)}" for g, m in GROUPS.items())
        console.print(table)
        return
    try:
        weights = hub.resolve(names)
        console.print(hub.licence_notice(weights), markup=False)
        outcomes = hub.download(weights, say=lambda line: console.print(line, markup=False))
    except TimbrelError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from None
    for outcome in outcomes:
        state = (
            f"downloaded {outcome.downloaded_bytes} bytes" if outcome.downloaded_bytes else "already cached"
        )
        checked = "" if outcome.verified else " (not verified: offline, no recorded checksum)"
        console.print(f"{outcome.name}: {state}{checked} -> {outcome.path}", markup=False)


@app.command()
def doctor(
    require: list[str] = typer.Option([], "--require", help="A standard weight that must be cached."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Check this machine: Python, torch build vs GPU, devices, ffmpeg, extras, cached weights."""
    from rich.markup import escape

    from timbrel.core.errors import TimbrelError
    from timbrel.doctor import run_doctor

    try:
        report = run_doctor(required_weights=require)
    except TimbrelError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    if json_output:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        colours = {"ok": "green", "warn": "yellow", "missing": "dim", "fail": "red"}
        table = Table(title="timbrel doctor")
        for column in ("", "check", "status", "detail"):
            table.add_column(column, overflow="fold")
        for check in report.checks:
            colour = colours[check.status]
            table.add_row(check.section, check.name, f"[{colour}]{check.status}", escape(check.detail))
        console.print(table)
        if report.failures:
            console.print("[red]required: " + ", ".join(c.name for c in report.failures))
    if not report.ok:
        raise typer.Exit(1)


train_app = typer.Typer(help="Train voice models.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("rvc")
def train_rvc(
    input_dir: Path | None = typer.Argument(
        None, help="Folder of recordings to prepare first (one-click); omit when already prepared."
    ),
    experiment: str = typer.Option(..., "--experiment", "-e", help="Experiment name (LOGS/NAME)."),
    logs_dir: Path = typer.Option(Path("logs"), help="Folder that holds the experiments."),
    stage: str = typer.Option("all", help="all: prepare, extract, train, index; train: training alone."),
    version: str | None = typer.Option(None, help="v1 or v2 [default: v2]."),
    sample_rate: int | None = typer.Option(None, help="32000, 40000 or 48000 [default: 40000]."),
    f0_method: str | None = typer.Option(
        None, help="pm or rmvpe; 'none' trains a model without pitch [default: rmvpe]."
    ),
    batch_size: int | None = typer.Option(None, help="Pieces per batch, per process [default: 4]."),
    epochs: int | None = typer.Option(None, help="Total epochs [default: 20]."),
    save_every_epoch: int | None = typer.Option(
        None, help="Checkpoint and voice model every N epochs [default: 5]."
    ),
    keep_latest_only: bool | None = typer.Option(
        None,
        "--keep-latest-only/--keep-all",
        help="Keep only the newest G_/D_ checkpoint [default: all].",
    ),
    pretrained_g: Path | None = typer.Option(None, help="Pretrained G (f0G40k.pth) or any G_*.pth."),
    pretrained_d: Path | None = typer.Option(None, help="Pretrained D (f0D40k.pth) or any D_*.pth."),
    device: str | None = typer.Option(
        None, help=DEVICE_HELP + " Under torchrun each process takes its GPU. [default: auto]"
    ),
    precision: str | None = typer.Option(
        None, help=PRECISION_HELP + " fp16 trains with a GradScaler. [default: fp32]"
    ),
    hubert: Path | None = typer.Option(None, help="HuBERT weights (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    config_file: Path | None = typer.Option(None, "--config", help="A .toml or .json RVCTrainConfig."),
    set_: list[str] = typer.Option([], "--set", help="Override any config field: dotted.name=value."),
) -> None:
    """Train an RVC voice model; restarting the same command continues from the newest checkpoint.

    Several GPUs or machines: torchrun --nproc-per-node 2 -m timbrel train rvc ...
    """
    from timbrel import api
    from timbrel.core.config import load_file
    from timbrel.core.errors import TimbrelError
    from timbrel.train.rvc import RVCTrainConfig

    # The file (or the defaults) first; a flag given on the command line overrides it.
    config = load_file(RVCTrainConfig, config_file) if config_file is not None else RVCTrainConfig()
    options = {
        "version": version,
        "sample_rate": sample_rate,
        "use_f0": None if f0_method is None else f0_method != "none",
        "batch_size": batch_size,
        "pretrained_g": pretrained_g,
        "pretrained_d": pretrained_d,
        "run.device": device,
        "run.precision": precision,
        "loop.epochs": epochs,
        "loop.save_every_epochs": save_every_epoch,
        "loop.keep_latest_only": keep_latest_only,
    }
    given = [
        f"{k}={json.dumps(str(v) if isinstance(v, Path) else v)}" for k, v in options.items() if v is not None
    ]
    config = _overrides(config, given + list(set_))
    try:
        result = api.train_rvc(
            logs_dir / experiment,
            config,
            input_dir=input_dir,
            stage=stage,
            f0_method=f0_method or "rmvpe",
            hubert=hubert,
            rmvpe=rmvpe,
            show_progress=True,
        )
    except TimbrelError as error:
        _exit_on_error(error)
    console.print(
        f"trained to step {result.position.step}; voice model: {result.voice_model}", soft_wrap=True
    )
    if result.best_voice_model is not None:
        console.print(f"best by validation: {result.best_voice_model}", soft_wrap=True)


@train_app.command("rift")
def train_rift(
    source: Path = typer.Argument(
        ...,
        help="A prepared RIFT dataset (it holds meta_info.json: trained as it is), else a folder of "
        "recordings, <speaker>/<recording> (one-click: prepared into --data-dir, extracted, trained).",
    ),
    data_dir: Path | None = typer.Option(
        None, help="One-click: the dataset folder to prepare into (default: data/<RECORDINGS folder name>)."
    ),
    split_type: str = typer.Option("stratified", help="One-click: random or stratified test split."),
    num_test: int = typer.Option(20, help="One-click: test files in a random split."),
    num_test_per_speaker: int = typer.Option(1, help="One-click: test files per speaker (stratified)."),
    contentvec: Path | None = typer.Option(None, help="One-click: ContentVec folder (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="One-click: RMVPE weights (default: the cache)."),
    preset: str = typer.Option(
        "finetune", help="finetune (from a pretrained DiT) or pretrain (from scratch)."
    ),
    model_size: str | None = typer.Option(
        None, "--model", help="dit-512-8, dit-768-12 or dit-1024-16 (default: the pretrained file's)."
    ),
    run_name: str | None = typer.Option(None, help="Checkpoints go to OUTPUT_DIR/RUN_NAME."),
    output_dir: Path | None = typer.Option(None, help="Folder of runs (default: ckpts)."),
    pretrained: Path | None = typer.Option(None, help="RIFT-SVC .ckpt or Timbrel model to start from."),
    learning_rate: float | None = typer.Option(None, help="Peak learning rate."),
    weight_decay: float | None = typer.Option(None, help="Weight decay of the matrices."),
    max_steps: int | None = typer.Option(None, help="Optimizer steps in total."),
    batch_size: int | None = typer.Option(None, help="Batch size per process (batch_size_per_gpu)."),
    grad_accumulation: int | None = typer.Option(None, help="Micro-batches per optimizer step."),
    save_every: int | None = typer.Option(None, help="Checkpoint every N steps (save_per_steps)."),
    test_every: int | None = typer.Option(None, help="Validate every N steps (test_per_steps)."),
    time_schedule: str | None = typer.Option(None, help="lognorm or uniform."),
    freeze_adaln_and_tembed: bool | None = typer.Option(
        None, "--freeze-adaln-and-tembed/--train-adaln-and-tembed", help="Freeze adaLN and time embedding."
    ),
    drop_speaker_probability: float | None = typer.Option(None, help="Speaker dropout (drop_spk_prob)."),
    logger: str | None = typer.Option(None, help="tensorboard, wandb or none."),
    save_weights_only: bool | None = typer.Option(
        None, "--save-weights-only/--save-full-state", help="Exported .ckpt without/with optimizer state."
    ),
    resume: Path | None = typer.Option(None, help="Checkpoint to resume from (resume_from_checkpoint)."),
    wandb_resume_id: str | None = typer.Option(None, help="W&B run id to continue."),
    device: str | None = typer.Option(None, help=DEVICE_HELP + " (default: the config's, cpu)"),
    precision: str | None = typer.Option(None, help=PRECISION_HELP + " The reference trains in bf16."),
    vocoder: Path | None = typer.Option(None, help="NSF-HiFiGAN folder: validation reports mcd/psnr/si_snr."),
    config_file: Path | None = typer.Option(None, "--config", help="A .toml or .json RIFTTrainConfig."),
    set_: list[str] = typer.Option([], "--set", help="Override any config field: dotted.name=value."),
) -> None:
    """Train a RIFT voice model; restarting the same run continues from its newest checkpoint.

    Given recordings, one click: prepare, split (meta_info.json), extract, train; each stage skips
    what is done. Beside each model goes <model>.timbrel.json with every speaker's f0 statistics
    (for convert --auto-key). Several GPUs: torchrun --nproc-per-node 2 -m timbrel train rift DATA_DIR ...
    """
    from rich.markup import escape

    from timbrel import api
    from timbrel.core.config import load_file
    from timbrel.core.errors import BadInputError, TimbrelError
    from timbrel.dataset.rift import SplitConfig
    from timbrel.train.rift_config import RIFTTrainConfig

    presets = {"finetune": RIFTTrainConfig.finetune, "pretrain": RIFTTrainConfig.pretrain}
    if preset not in presets:
        raise typer.BadParameter(f"{preset!r}; allowed: {sorted(presets)}", param_hint="--preset")
    config = load_file(RIFTTrainConfig, config_file) if config_file is not None else presets[preset]()
    options = {
        "model.size": model_size,
        "training.run_name": run_name,
        "training.output_dir": output_dir,
        "training.pretrained_path": pretrained,
        "training.learning_rate": learning_rate,
        "training.weight_decay": weight_decay,
        "training.max_steps": max_steps,
        "training.batch_size_per_gpu": batch_size,
        "training.grad_accumulation_steps": grad_accumulation,
        "training.save_per_steps": save_every,
        "training.test_per_steps": test_every,
        "training.time_schedule": time_schedule,
        "training.freeze_adaln_and_tembed": freeze_adaln_and_tembed,
        "training.drop_spk_prob": drop_speaker_probability,
        "training.logger": logger,
        "training.save_weights_only": save_weights_only,
        "training.resume_from_checkpoint": resume,
        "training.wandb_resume_id": wandb_resume_id,
        "training.device": device,
        "training.precision": precision,
        "validation.vocoder_path": vocoder,
    }
    given = [
        f"{k}={json.dumps(str(v) if isinstance(v, Path) else v)}" for k, v in options.items() if v is not None
    ]
    try:
        config = _overrides(config, given + list(set_))
        if not source.is_dir():
            raise BadInputError(source, "not a folder: give a RIFT dataset (meta_info.json) or recordings")
        if api.is_rift_dataset(source):
            result = api.train_rift(source, config, show_progress=True)
        else:
            split = SplitConfig(split_type, num_test, num_test_per_speaker)
            result = api.train_rift(
                data_dir or Path("data") / source.name,
                config,
                show_progress=True,
                recordings=source,
                split=split,
                contentvec=contentvec,
                rmvpe=rmvpe,
            )
    except TimbrelError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    for stage, outcomes in result.stages.items():
        console.print(f"{stage}:", end=" ")
        _report_outcomes(outcomes, {"prepare": "prepared", "extract": "extracted"}[stage])
    console.print(f"trained to step {result.step}; checkpoints in {result.run_dir}", soft_wrap=True)
    if result.best is not None:
        metric, value, step = result.best
        console.print(f"best {metric} {value:.4f} at step {step}: {result.run_dir / 'best.safetensors'}")


@app.command()
def ui(
    workspace: Path = typer.Option(
        Path("timbrel-workspace"), help="Folder the app reads from and writes everything to."
    ),
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on; anything but this machine exposes the app (warned)."
    ),
    port: int | None = typer.Option(None, help="Port (default: the first free one from 7860)."),
    share: bool = typer.Option(False, help="Also publish a public gradio.live link (warned)."),
    max_upload_mb: float = typer.Option(500.0, help="Largest file the page accepts, in MB."),
    hubert: Path | None = typer.Option(None, help="HuBERT weights (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    contentvec: Path | None = typer.Option(None, help="RIFT: ContentVec folder (default: the cache)."),
    vocoder: Path | None = typer.Option(None, help="RIFT: NSF-HiFiGAN folder (default: the cache)."),
    device: str = typer.Option("auto", help=DEVICE_HELP + " (conversion and extraction)"),
    precision: str = typer.Option("fp32", help=PRECISION_HELP + " (conversion)"),
) -> None:
    """Start the web UI on this machine (ui extra): dataset, features, index, train, convert, models."""
    try:
        from timbrel.ui.app import exposure_warning, serve
    except ImportError as error:
        console.print(
            f"[red]error:[/red] the web UI needs the [ui] extra: pip install 'timbrel[ui]' ({error})"
        )
        raise typer.Exit(1) from None
    warning = exposure_warning(host, share)
    if warning:
        console.print(f"[yellow]{warning}[/yellow]", soft_wrap=True)
    from timbrel.core import device as devices
    from timbrel.core.errors import TimbrelError

    try:
        placement = devices.resolve(device, precision, say=_say)
    except TimbrelError as error:
        _exit_on_error(error)
    weights = {"hubert": hubert, "rmvpe": rmvpe, "contentvec": contentvec, "vocoder": vocoder}
    serve(
        workspace,
        host=host,
        port=port,
        share=share,
        max_upload_mb=max_upload_mb,
        weights=weights,
        placement=placement,
    )


import timbrel.cli.model  # noqa: E402  (registers `timbrel model`)
import timbrel.cli.realtime  # noqa: E402  (registers `timbrel stream` and `timbrel live`)
