"""Realtime conversion: `timbrel stream` (a file through the realtime engine) and `timbrel live`
(audio devices, the [live] extra). Both are thin over timbrel.api."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import typer
from rich.table import Table

from timbrel.cli import app, console, given, one_line_errors
from timbrel.cli.fields import help_of

STREAM = ("timbrel.infer.streaming", "StreamSettings")


class _Setting(NamedTuple):
    """A stream-settings option: its type, the typer option, the StreamSettings field it sets and
    the factor from the option's unit to the field's."""

    kind: Any
    option: Any
    field: str
    factor: float = 1


def _setting(kind: Any, field: str, *names: str) -> _Setting:
    """An option in the field's own unit, with the field's help."""
    return _Setting(kind, typer.Option(None, *names, help=help_of(*STREAM, field)), field)


def _in_ms(name: str, field: str, help_text: str) -> _Setting:
    """An option in ms for a field in seconds."""
    return _Setting(float | None, typer.Option(None, name, help=help_text), field, 1e-3)


_STREAM_OPTIONS: dict[str, _Setting] = {
    "block_ms": _in_ms("--block-ms", "block_s", "Audio converted per step, 20-1500 ms (default 250)."),
    "crossfade_ms": _in_ms("--crossfade-ms", "crossfade_s", "Overlap between steps, 10-150 ms (default 50)."),
    "extra_ms": _in_ms("--extra-ms", "extra_s", "Past context the models see, 50-5000 ms (default 2500)."),
    "threshold_db": _setting(float | None, "threshold_db", "--threshold-db"),
    "key": _setting(float | None, "key_shift_semitones", "--key"),
    "formant_shift": _setting(float | None, "formant_shift_semitones"),
    "index_rate": _setting(float | None, "index_rate"),
    "rms_mix_rate": _setting(float | None, "rms_mix_rate"),
    "f0_method": _setting(str | None, "f0_method"),
    "speaker": _setting(int | None, "speaker"),
    "sample_rate": _setting(int | None, "sample_rate"),
}
_WEIGHT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "index": (Path | None, typer.Option(None, help="Retrieval index (.index), for --index-rate.")),
    "hubert": (Path | None, typer.Option(None, help="HuBERT weights (default: the cache).")),
    "rmvpe": (Path | None, typer.Option(None, help="RMVPE weights (default: the cache).")),
}
_SET = typer.Option([], "--set", help="Any other StreamSettings field: name=value.")


@dataclass(frozen=True)
class _Realtime:
    """What both realtime commands take besides their own options: the voice's weights, and the
    stream settings as typed (None: not given) with the --set overrides."""

    weights: dict[str, Path | None]
    flags: dict[str, Any]
    overrides: list[str]

    def settings(self):
        from timbrel import api

        return api.stream_settings(given(self.flags, self.overrides))

    def voice(self, model: Path):
        from timbrel import api

        return api.load(model, **self.weights)


def _takes_realtime_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command``'s own options, then the weight and stream-settings options both realtime
    commands share, handed to it together as its ``realtime`` argument (a _Realtime)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "realtime"]
    shared = {name: kind for name, (kind, _) in _WEIGHT_OPTIONS.items()}
    shared |= {name: setting.kind for name, setting in _STREAM_OPTIONS.items()} | {"set_": list[str]}
    defaults = {name: option for name, (_, option) in _WEIGHT_OPTIONS.items()}
    defaults |= {name: setting.option for name, setting in _STREAM_OPTIONS.items()} | {"set_": _SET}
    parameters = own + [
        inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults[name], annotation=kind
        )
        for name, kind in shared.items()
    ]

    @functools.wraps(command)
    def run(**arguments) -> None:
        weights = {name: arguments.pop(name) for name in _WEIGHT_OPTIONS}
        flags = {}
        for name, setting in _STREAM_OPTIONS.items():
            value = arguments.pop(name)
            flags[setting.field] = value if value is None or setting.factor == 1 else value * setting.factor
        realtime = _Realtime(weights, flags, arguments.pop("set_"))
        command(**arguments, realtime=realtime)

    run.__signature__ = inspect.Signature(parameters, return_annotation=None)
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@app.command()
@_takes_realtime_options
def stream(
    input_path: Path = typer.Argument(..., metavar="IN", help="Audio file to convert."),
    output_path: Path = typer.Argument(..., metavar="OUT", help="WAV or FLAC to write (float samples)."),
    model: Path = typer.Option(..., "--model", "-m", help="RVC voice model (.pth)."),
    realtime: _Realtime = None,
) -> None:
    """Convert a file through the realtime engine, block by block, as a live session would.

    OUT holds what a device would play from the moment IN starts: IN delayed by the latency,
    plus that much more at the end, at the stream rate.
    """
    from timbrel import api

    with one_line_errors(also=(ValueError,)):
        settings = realtime.settings()
        stats = api.stream_file(realtime.voice(model), input_path, output_path, settings)
    console.print(
        f"{stats.blocks} blocks of {_ms(stats.block_s)}: compute per block / block time "
        f"median {stats.compute_ratio(50):.2f}, 99th percentile {stats.compute_ratio(99):.2f}; "
        f"algorithmic latency {_ms(stats.algorithmic_latency_s)} -> {output_path}",
        soft_wrap=True,
    )


def _latency(text: str) -> str | float:
    return text if text in ("low", "high") else float(text)


def _device(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


@app.command()
@_takes_realtime_options
def live(
    model: Path | None = typer.Option(None, "--model", "-m", help="RVC voice model (.pth)."),
    list_devices: bool = typer.Option(False, "--list-devices", help="List the audio devices and exit."),
    input_device: str | None = typer.Option(
        None, help="Input device: index or name (default: the system's)."
    ),
    output_device: str | None = typer.Option(
        None, help="Output device: index or name (default: the system's)."
    ),
    seconds: float | None = typer.Option(None, help="Stop after this long (default: at Ctrl-C)."),
    record_input: Path | None = typer.Option(None, help="Also write what the engine received (WAV/FLAC)."),
    record_output: Path | None = typer.Option(None, help="Also write what the engine produced (WAV/FLAC)."),
    device_latency: str = typer.Option(
        "low", help="Device buffering: low, high or seconds (more survives a busy machine)."
    ),
    realtime: _Realtime = None,
) -> None:
    """Convert the microphone to the speakers in real time (the [live] extra); Ctrl-C stops.

    Shows the latency (algorithmic and the device's) and each block's compute time; blocks that
    took longer than a block are counted as late and reported, with the device's underflows.
    """
    from timbrel import api

    with one_line_errors(also=(ImportError, ValueError)):
        if list_devices:
            table = Table(title="Audio devices")
            for column in ("index", "name", "host API", "in", "out", "default Hz"):
                table.add_column(column, overflow="fold")
            for device in api.audio_devices():
                table.add_row(
                    str(device.index), device.name, device.host_api, str(device.max_input_channels),
                    str(device.max_output_channels), f"{device.default_sample_rate:.0f}",
                )  # fmt: skip
            console.print(table)
            return
        if model is None:
            raise typer.BadParameter("give a voice model (or --list-devices)", param_hint="--model")
        settings = realtime.settings()
        voice = realtime.voice(model)
        shown = [0.0]

        def show(stats) -> None:
            now = time.monotonic()
            if now - shown[0] < 1.0:
                return
            shown[0] = now
            console.print(
                f"block {stats.blocks}: compute {_ms(stats.compute_s[-1])} "
                f"({stats.compute_s[-1] / stats.block_s:.2f} of a block), late {stats.late_blocks}, "
                f"underflows {stats.output_underflows}, overflows {stats.input_overflows}",
                highlight=False,
            )

        console.print("converting; Ctrl-C stops")
        stats = api.live(
            voice, settings, _device(input_device), _device(output_device), seconds, show,
            record_input, record_output, _latency(device_latency),
        )  # fmt: skip
    device_in, device_out = stats.device_latency_s
    console.print(
        f"latency: algorithmic {_ms(stats.algorithmic_latency_s)} + device {_ms(device_in)} in, "
        f"{_ms(device_out)} out = {_ms(stats.total_latency_s)}",
        highlight=False,
    )
    console.print(
        f"{stats.blocks} blocks of {_ms(stats.block_s)}; compute / block time median "
        f"{stats.compute_ratio(50):.2f}, 99th percentile {stats.compute_ratio(99):.2f}; "
        f"late blocks {stats.late_blocks}; device underflows {stats.output_underflows}, "
        f"overflows {stats.input_overflows}",
        highlight=False,
    )
    if stats.late_blocks or stats.output_underflows or stats.input_overflows:
        console.print("[yellow]some blocks were late: try a longer --block-ms or a shorter --extra-ms")
