"""This machine and the apps on it: `timbrel download`, `doctor`, `demo` and `ui`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from timbrel.cli import DEVICE_HELP, PRECISION_HELP, app, console, one_line_errors, say


@app.command()
def demo(
    output: Path = typer.Argument(Path("demo-output"), help="Folder for everything the demo makes."),
    seconds_per_singer: float = typer.Option(40.0, help="Length of the synthetic corpus per singer."),
) -> None:
    """Run the offline end-to-end demo on a synthetic corpus (no downloads)."""
    from timbrel.demo import run_demo

    run_demo(output, seconds_per_singer, say=console.print)


@app.command()
def download(
    names: list[str] = typer.Argument(
        None, help="Weights or groups to fetch (rvc, rift, rvc-v1, rvc-v2, rift-dit, all); none lists them."
    ),
) -> None:
    """Fetch standard weights from the Hugging Face Hub into the cache.

    HF_ENDPOINT selects a mirror; HF_HUB_OFFLINE=1 only checks what is cached.
    """
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
    with one_line_errors(exit_code=1):
        weights = hub.resolve(names)
        console.print(hub.licence_notice(weights), markup=False)
        outcomes = hub.download(weights, say=lambda line: console.print(line, markup=False))
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
    from timbrel.doctor import run_doctor

    with one_line_errors():
        report = run_doctor(required_weights=require)
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

    with one_line_errors():
        placement = devices.resolve(device, precision, say=say)
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
