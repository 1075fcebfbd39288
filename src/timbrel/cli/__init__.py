"""The command line: parses arguments into typed configs and calls timbrel.api. Nothing else.

Each command group lives in a module of its own here and registers itself on `app`; this module
holds what they share. Subcommands import the API when they run, so `timbrel --help` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

import timbrel
from timbrel.core.cpu_kernels import bound_primitive_cache
from timbrel.core.errors import TimbrelError

C = TypeVar("C")


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

console = Console(stderr=True)
WORKERS_HELP = "Worker processes (default: the number of cores)."
DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."
PRECISION_HELP = "fp32; bf16 (GPUs with it, CPUs: slow without native bf16); fp16 (GPUs); auto."
SET_HELP = "Override any config field: name=value."
DOTTED_SET_HELP = "Override any config field: dotted.name=value."


def say(line: str) -> None:
    console.print(line, soft_wrap=True, markup=False)


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
    bound_primitive_cache()


@contextmanager
def one_line_errors(exit_code: int = 2, also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """An error Timbrel raises on purpose (a bad file, a missing weight, a bad value), or one of
    ``also``, ends the command with its one-line message instead of a traceback. (`app` does the
    same for a whole run, but typer's test runner calls the command past it.)"""
    try:
        yield
    except (TimbrelError, *also) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(exit_code) from None


def given(flags: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The values a command line sets: each flag given (None: not given), then its ``--set``
    dotted.name=value overrides, which win."""
    from timbrel.core.config import parse_overrides

    typed = {name: value for name, value in flags.items() if value is not None}
    return {**typed, **parse_overrides(overrides)}


def configured(config: C, flags: dict[str, Any], overrides: list[str], config_file: Path | None = None) -> C:
    """``config``, or the ``--config`` file's when one is given, with the values the command line
    sets (``given``) over it: flags win over the file, ``--set`` over both."""
    from timbrel.core.config import load_file, with_values

    if config_file is not None:
        config = load_file(type(config), config_file)
    values = given(flags, overrides)
    return with_values(config, values) if values else config


def report_outcomes(outcomes, done_word: str) -> None:
    for outcome in outcomes:
        if outcome.status == "failed":
            console.print(f"[red]failed[/red] {escape(outcome.reason)}", soft_wrap=True)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("done", "skipped", "failed")}
    console.print(
        f"{counts['done']} {done_word}, {counts['skipped']} already done, {counts['failed']} failed"
    )
    if not any(o.status != "failed" for o in outcomes):
        raise typer.Exit(1)


# The command groups register themselves on `app`, in the order `timbrel --help` lists them.
for _group in ("data", "convert", "machine", "train", "model", "realtime"):
    importlib.import_module(f"timbrel.cli.{_group}")
