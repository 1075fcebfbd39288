"""`timbrel convert` (offline conversion with either family) and `timbrel eval` (its metrics)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from timbrel.cli import (
    DEVICE_HELP,
    PRECISION_HELP,
    SET_HELP,
    app,
    configured,
    console,
    given,
    one_line_errors,
    report_outcomes,
    say,
)
from timbrel.cli.fields import default_of, help_of, scoped_help
from timbrel.core.errors import printable

RVC = ("timbrel.models.rvc.pipeline", "RVCConvertOptions")
RIFT = ("timbrel.models.rift.pipeline", "RIFTConvertOptions")
EVAL = ("timbrel.eval.evaluate", "EvalConfig")


def _for(family: str, options: tuple[str, str], name: str) -> typer.models.OptionInfo:
    """An option only ``family`` takes; None (not typed) leaves the family's default."""
    return typer.Option(None, help=scoped_help(family, *options, name))


@app.command("eval")
def evaluate(
    converted: Path = typer.Argument(..., help="Folder of converted files."),
    sources: Path = typer.Argument(..., help="Folder of the source files (matched by name)."),
    references: Path | None = typer.Option(None, help="Recordings of the target singer."),
    report: Path | None = typer.Option(None, help="Write report.json and report.html here."),
    key: float = typer.Option(
        default_of(*EVAL, "key_shift_semitones"), "--key", help=help_of(*EVAL, "key_shift_semitones")
    ),
    pitch_method: str = typer.Option("pm", help="Pitch extractor for the f0 metrics."),
    device: str = typer.Option("auto", help=DEVICE_HELP + " (the pitch network and speaker encoder)"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Objective metrics: f0 error, speaker similarity, DNSMOS, MCD, loudness; table, JSON and HTML."""
    from timbrel import api
    from timbrel.eval.evaluate import EvalConfig
    from timbrel.eval.plots import METRIC_LABELS

    with one_line_errors():
        config = configured(EvalConfig(), {"key_shift_semitones": key}, set_)
        result = api.evaluate(
            converted, sources, references, config, pitch_method, report, device=device, say=say
        )
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
def convert(
    inputs: list[str] = typer.Argument(..., help="Audio files, folders or glob patterns."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (or file, for one input)."),
    model: Path = typer.Option(..., "--model", "-m", help="RVC .pth, RIFT .ckpt or bundle (.timbrel.zip)."),
    index: Path | None = typer.Option(None, help="RVC retrieval index (.index)."),
    hubert: Path | None = typer.Option(None, help="HuBERT weights (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    contentvec: Path | None = typer.Option(None, help="RIFT: ContentVec folder (default: the cache)."),
    vocoder: Path | None = typer.Option(None, help="RIFT: NSF-HiFiGAN folder (default: the cache)."),
    key: float | None = typer.Option(None, "--key", help=help_of(*RVC, "key_shift_semitones")),
    speaker: str | None = typer.Option(None, help="Speaker id (or name for RIFT)."),
    f0_method: str | None = _for("RVC", RVC, "f0_method"),
    index_rate: float | None = _for("RVC", RVC, "index_rate"),
    protect: float | None = _for("RVC", RVC, "protect"),
    rms_mix_rate: float | None = _for("RVC", RVC, "rms_mix_rate"),
    filter_radius: int | None = _for("RVC", RVC, "filter_radius"),
    output_sample_rate: int | None = _for("RVC", RVC, "output_sample_rate"),
    auto_key: bool = typer.Option(
        False,
        "--auto-key",
        help="Add the key shift that moves the input to the voice's (RIFT: the speaker's) training f0.",
    ),
    formant_shift: float | None = typer.Option(
        None, help=scoped_help("RVC", *RVC, "formant_shift_semitones")[:-1] + " (RIFT refuses it)."
    ),
    infer_steps: int | None = _for("RIFT", RIFT, "infer_steps"),
    ds_cfg_strength: float | None = _for("RIFT", RIFT, "ds_cfg_strength"),
    spk_cfg_strength: float | None = _for("RIFT", RIFT, "spk_cfg_strength"),
    skip_cfg_strength: float | None = _for("RIFT", RIFT, "skip_cfg_strength"),
    cfg_skip_layers: str | None = typer.Option(
        None, help="RIFT: blocks the skip guidance leaves out, e.g. 6 or 5,6."
    ),
    cfg_rescale: float | None = _for("RIFT", RIFT, "cfg_rescale"),
    cvec_downsample_rate: int | None = _for("RIFT", RIFT, "cvec_downsample_rate"),
    robust_f0: int | None = _for("RIFT", RIFT, "robust_f0"),
    batch_size: int | None = _for("RIFT", RIFT, "batch_size"),
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
    from timbrel.infer.batch import parse_shard

    with one_line_errors():
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
            say=say,
            engine=engine,
        )
        flags = {
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
        options = api.convert_options(voice, given(flags, set_))
    outcomes = api.convert(
        voice, inputs, output, options, overwrite=overwrite, show_progress=True, shard=parts
    )
    for outcome in outcomes:
        if outcome.status != "failed":
            source, target = (escape(printable(p)) for p in (outcome.item, outcome.outputs[0]))
            console.print(f"{outcome.status}: {source} -> {target}", soft_wrap=True)
    report_outcomes(outcomes, "converted")
