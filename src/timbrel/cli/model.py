"""`timbrel model ...`: inspect, extract, merge, edit, pack and export voice models."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from timbrel.cli import app, console, one_line_errors

model_app = typer.Typer(
    help="Inspect, extract, merge, edit, pack and export voice models.", no_args_is_help=True
)
app.add_typer(model_app, name="model")


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r} is not name=value", param_hint=option)
        pairs[name] = value
    return pairs


@model_app.command("info")
def info(
    file: Path = typer.Argument(..., help="RVC .pth (voice model or G_/D_), RIFT .ckpt or Timbrel bundle."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Family, version, rate, f0, speakers, parameters, epoch/step, info, sha256 and sidecar of a model."""
    from timbrel import api

    with one_line_errors():
        description = api.describe_model(file)
    document = description.to_json()
    if as_json:
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    for name, value in document.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False)
        typer.echo(f"{name:>11}: {value}")


@model_app.command("extract")
def extract(
    checkpoint: Path = typer.Argument(..., help="RVC generator checkpoint (G_*.pth)."),
    output: Path = typer.Option(..., "--output", "-o", help="Voice model to write (.pth)."),
    info_text: str = typer.Option("", "--info", help="Info string (default: 'Extracted model.')."),
) -> None:
    """RVC's small-model extraction: the float16 voice model of a G_ checkpoint."""
    from timbrel import api

    with one_line_errors():
        written = api.extract_voice_model(checkpoint, output, info_text)
    console.print(f"voice model: {written}", soft_wrap=True)


@model_app.command("merge")
def merge(
    first: Path = typer.Argument(..., help="Voice model A (.pth or G_*.pth); the result keeps its config."),
    second: Path = typer.Argument(..., help="Voice model B."),
    output: Path = typer.Option(..., "--output", "-o", help="Voice model to write (.pth)."),
    alpha: float = typer.Option(0.5, help="Weight of A: alpha·A + (1 − alpha)·B."),
    group: list[str] = typer.Option(
        [], "--group", help="Another alpha for one module: enc_p=0.8, flow=..., dec=..., emb_g=..."
    ),
    info_text: str | None = typer.Option(None, "--info", help="Info string (default: A's)."),
) -> None:
    """RVC's model merge: a weighted sum of two voices of the same kind."""
    from timbrel import api

    groups = {name: float(value) for name, value in _pairs(group, "--group").items()}
    with one_line_errors():
        written = api.merge_voice_models(first, second, output, alpha, groups, info_text)
    console.print(f"merged voice model: {written}", soft_wrap=True)


@model_app.command("edit-info")
def edit_info(
    file: Path = typer.Argument(..., help="RVC voice model (.pth)."),
    output: Path = typer.Option(..., "--output", "-o", help="Copy to write with the new metadata."),
    info_text: str | None = typer.Option(None, "--info", help="New info string."),
    set_: list[str] = typer.Option([], "--set", help="Another text entry: name=value (e.g. author=...)."),
) -> None:
    """Change a voice model's info string and metadata; the weights are copied bit for bit."""
    from timbrel import api

    with one_line_errors():
        written = api.edit_model_info(file, output, info_text, _pairs(set_, "--set"))
    console.print(f"edited copy: {written}", soft_wrap=True)


@model_app.command("pack")
def pack(
    model: Path = typer.Argument(..., help="RVC voice model (.pth), RIFT .ckpt or Timbrel RIFT model."),
    output: Path = typer.Option(..., "--output", "-o", help="Bundle to write (NAME.timbrel.zip)."),
    index: Path | None = typer.Option(None, help="RVC retrieval index (.index) to include."),
    license_text: str = typer.Option("", "--license", help="Licence of the voice (free text or SPDX id)."),
    info_text: str | None = typer.Option(None, "--info", help="Info string (default: the model's)."),
) -> None:
    """One-file bundle: safetensors weights, index, f0 statistics, config, licence, sha256 of each part."""
    from timbrel import api

    with one_line_errors():
        written = api.pack_voice(model, output, index, license_text, info_text)
    console.print(f"bundle: {written}", soft_wrap=True)


@model_app.command("unpack")
def unpack(
    bundle: Path = typer.Argument(..., help="Timbrel bundle (.timbrel.zip)."),
    output_dir: Path = typer.Option(..., "--output", "-o", help="Folder for the unpacked files."),
) -> None:
    """The files RVC or RIFT-SVC read (.pth + .index, or .ckpt), and the f0 statistics sidecar."""
    from timbrel import api

    with one_line_errors():
        written = api.unpack_voice(bundle, output_dir)
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True)


@model_app.command("export-onnx")
def export_onnx(
    model: Path = typer.Argument(..., help="RVC .pth, RIFT .ckpt or Timbrel bundle."),
    output_dir: Path = typer.Option(..., "--output", "-o", help="Folder for the .onnx files."),
    vocoder: Path | None = typer.Option(None, help="RIFT: also export this NSF-HiFiGAN folder."),
) -> None:
    """ONNX graphs: the RVC synthesizer (RVC's ONNX inputs), or the RIFT DiT and the vocoder."""
    from timbrel import api

    with one_line_errors():
        written = api.export_onnx(model, output_dir, vocoder)
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True)
