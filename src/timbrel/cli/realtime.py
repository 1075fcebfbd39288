"""Realtime conversion: `timbrel stream` (a file through the realtime engine) and `timbrel live`
(audio devices, the [live] extra). Both are thin over timbrel.api."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from timbrel.cli import app, console

MODEL = typer.Option(..., "--model", "-m", help="RVC voice model (.pth).")
INDEX = typer.Option(None, help="Retrieval index (.index), for --index-rate.")
HUBERT = typer.Option(None, help="HuBERT weights (default: the cache).")
RMVPE = typer.Option(None, help="RMVPE weights (default: the cache).")
BLOCK_MS = typer.Option(None, "--block-ms", help="Audio converted per step, 20-1500 ms (default 250).")
CROSSFADE_MS = typer.Option(None, "--crossfade-ms", help="Overlap between steps, 10-150 ms (default 50).")
EXTRA_MS = typer.Option(None, "--extra-ms", help="Past context the models see, 50-5000 ms (default 2500).")
THRESHOLD_DB = typer.Option(
    None, "--threshold-db", help="Silence 10 ms frames below this, -60..0 dB (-60 = off)."
)
KEY = typer.Option(None, "--key", help="Key shift in semitones, -16..16.")
FORMANT_SHIFT = typer.Option(None, help="Move the formants by this many semitones, -2..2, keeping the pitch.")
INDEX_RATE = typer.Option(None, help="How much of the retrieved features to use, 0-1 (default 0).")
RMS_MIX_RATE = typer.Option(None, help="0 follows the input's loudness (default), 1 keeps the model's.")
F0_METHOD = typer.Option(None, help="pm, rmvpe (default) or fcpe.")
SPEAKER = typer.Option(None, help="Speaker id (default 0).")
SAMPLE_RATE = typer.Option(None, help="Stream rate in Hz, a multiple of 100 (default: the model's).")
SET = typer.Option([], "--set", help="Any other StreamSettings field: name=value.")


def _settings(
    block_ms, crossfade_ms, extra_ms, threshold_db, key, formant_shift, index_rate, rms_mix_rate,
    f0_method, speaker, sample_rate, set_,
):  # fmt: skip
    from timbrel import api
    from timbrel.core.config import parse_scalar

    given = {
        "block_s": None if block_ms is None else block_ms / 1000,
        "crossfade_s": None if crossfade_ms is None else crossfade_ms / 1000,
        "extra_s": None if extra_ms is None else extra_ms / 1000,
        "threshold_db": threshold_db,
        "key_shift_semitones": key,
        "formant_shift_semitones": formant_shift,
        "index_rate": index_rate,
        "rms_mix_rate": rms_mix_rate,
        "f0_method": f0_method,
        "speaker": speaker,
        "sample_rate": sample_rate,
    }
    values = {name: value for name, value in given.items() if value is not None}
    for item in set_:
        name, _, text = item.partition("=")
        values[name] = parse_scalar(text)
    return api.stream_settings(values)


def _fail(error: Exception) -> None:
    console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
    raise typer.Exit(2) from None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@app.command()
def stream(
    input_path: Path = typer.Argument(..., metavar="IN", help="Audio file to convert."),
    output_path: Path = typer.Argument(..., metavar="OUT", help="WAV or FLAC to write (float samples)."),
    model: Path = MODEL,
    index: Path | None = INDEX,
    hubert: Path | None = HUBERT,
    rmvpe: Path | None = RMVPE,
    block_ms: float | None = BLOCK_MS,
    crossfade_ms: float | None = CROSSFADE_MS,
    extra_ms: float | None = EXTRA_MS,
    threshold_db: float | None = THRESHOLD_DB,
    key: float | None = KEY,
    formant_shift: float | None = FORMANT_SHIFT,
    index_rate: float | None = INDEX_RATE,
    rms_mix_rate: float | None = RMS_MIX_RATE,
    f0_method: str | None = F0_METHOD,
    speaker: int | None = SPEAKER,
    sample_rate: int | None = SAMPLE_RATE,
    set_: list[str] = SET,
) -> None:
    """Convert a file through the realtime engine, block by block, as a live session would.

    OUT holds what a device would play from the moment IN starts: IN delayed by the latency,
    plus that much more at the end, at the stream rate.
    """
    from timbrel import api
    from timbrel.core.errors import TimbrelError

    try:
        settings = _settings(
            block_ms, crossfade_ms, extra_ms, threshold_db, key, formant_shift, index_rate,
            rms_mix_rate, f0_method, speaker, sample_rate, set_,
        )  # fmt: skip
        voice = api.load(model, index=index, hubert=hubert, rmvpe=rmvpe)
        stats = api.stream_file(voice, input_path, output_path, settings)
    except (TimbrelError, ValueError) as error:
        _fail(error)
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
    index: Path | None = INDEX,
    hubert: Path | None = HUBERT,
    rmvpe: Path | None = RMVPE,
    block_ms: float | None = BLOCK_MS,
    crossfade_ms: float | None = CROSSFADE_MS,
    extra_ms: float | None = EXTRA_MS,
    threshold_db: float | None = THRESHOLD_DB,
    key: float | None = KEY,
    formant_shift: float | None = FORMANT_SHIFT,
    index_rate: float | None = INDEX_RATE,
    rms_mix_rate: float | None = RMS_MIX_RATE,
    f0_method: str | None = F0_METHOD,
    speaker: int | None = SPEAKER,
    sample_rate: int | None = SAMPLE_RATE,
    set_: list[str] = SET,
) -> None:
    """Convert the microphone to the speakers in real time (the [live] extra); Ctrl-C stops.

    Shows the latency (algorithmic and the device's) and each block's compute time; blocks that
    took longer than a block are counted as late and reported, with the device's underflows.
    """
    from timbrel import api
    from timbrel.core.errors import TimbrelError

    try:
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
        settings = _settings(
            block_ms, crossfade_ms, extra_ms, threshold_db, key, formant_shift, index_rate,
            rms_mix_rate, f0_method, speaker, sample_rate, set_,
        )  # fmt: skip
        voice = api.load(model, index=index, hubert=hubert, rmvpe=rmvpe)
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
    except (TimbrelError, ImportError, ValueError) as error:
        _fail(error)
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
