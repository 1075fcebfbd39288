"""The command line: parses arguments into typed configs and calls timbrel.api. Nothing else.

Each subcommand imports what it needs when it runs, so `timbrel --help` stays fast.
"""

from __future__ import annotations

import typer

import timbrel

app = typer.Typer(
    name="timbrel",
    help="Singing voice conversion: prepare data, extract features, train and convert with RVC or RIFT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"timbrel {timbrel.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Timbrel command line."""
