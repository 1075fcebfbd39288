"""Realtime conversion between audio devices (PortAudio through sounddevice, the [live] extra).

The device calls back once per block with exactly the engine's block size; the callback converts
it and hands the result back in the same call, as the reference does. A block whose conversion
takes longer than the block lasts is late: the device has already played silence or repeated audio
in its place, so every late block and every overflow or underflow the device reports is counted
and reported, never hidden.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import soxr

from timbrel.audio import io
from timbrel.core.audio import Audio
from timbrel.infer.streaming import StreamingConverter, StreamStats


def import_sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as error:  # OSError: the PortAudio library itself is missing
        raise ImportError(
            f"live conversion needs sounddevice and PortAudio: pip install 'timbrel[live]' "
            f"and install libportaudio2 ({error})"
        ) from error
    return sounddevice


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float


def list_devices() -> list[AudioDevice]:
    """Every device PortAudio sees."""
    sd = import_sounddevice()
    host_apis = sd.query_hostapis()
    return [
        AudioDevice(
            index=index,
            name=device["name"],
            host_api=host_apis[device["hostapi"]]["name"],
            max_input_channels=device["max_input_channels"],
            max_output_channels=device["max_output_channels"],
            default_sample_rate=device["default_samplerate"],
        )
        for index, device in enumerate(sd.query_devices())
    ]


@dataclass
class LiveStats(StreamStats):
    """A live session's timings plus what the device reported: the input and output latencies,
    and how often it lost input (overflow) or had to fill output (underflow)."""

    device_latency_s: tuple[float, float] = (0.0, 0.0)
    input_overflows: int = 0
    output_underflows: int = 0

    @property
    def total_latency_s(self) -> float:
        return self.algorithmic_latency_s + sum(self.device_latency_s)


def run_live(
    converter: StreamingConverter,
    input_device: int | str | None = None,
    output_device: int | str | None = None,
    seconds: float | None = None,
    on_block: Callable[[LiveStats], None] | None = None,
    captured_input: list[np.ndarray] | None = None,
    produced_output: list[np.ndarray] | None = None,
    device_latency: str | float = "low",
) -> LiveStats:
    """Convert from input_device to output_device (None: the defaults) until ``seconds`` have
    passed (None: until Ctrl-C) -> the session's statistics.

    on_block: called from the audio thread after each block (keep it quick). captured_input,
    produced_output: lists that receive each block the engine got and gave, for recording.
    device_latency: PortAudio's suggested latency, "low", "high" or seconds (more buffering
    survives a busy machine, at the cost of latency).
    """
    sd = import_sounddevice()
    geometry = converter.geometry
    stats = LiveStats(block_s=geometry.block_s, algorithmic_latency_s=geometry.latency_s)
    in_channels = _channels(sd, input_device, "input")
    out_channels = _channels(sd, output_device, "output")

    def callback(indata, outdata, frames, times, status) -> None:
        started = time.perf_counter()
        stats.input_overflows += bool(status.input_overflow)
        stats.output_underflows += bool(status.output_underflow)
        block = indata.mean(axis=1)
        converted = converter.process_block(block)
        outdata[:] = converted[:, None]
        elapsed = time.perf_counter() - started
        stats.compute_s.append(elapsed)
        if captured_input is not None:
            captured_input.append(block.copy())
        if produced_output is not None:
            produced_output.append(converted)
        if on_block is not None:
            on_block(stats)

    # the first conversion pays one-off costs (allocations, kernel selection): not on the clock
    converter.process_block(np.zeros(geometry.block, dtype=np.float32))
    converter.reset()
    stream = sd.Stream(
        samplerate=geometry.sample_rate,
        blocksize=geometry.block,
        device=(input_device, output_device),
        channels=(in_channels, out_channels),
        dtype="float32",
        latency=device_latency,
        callback=callback,
    )
    stats.device_latency_s = tuple(float(x) for x in stream.latency)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        with stream:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.05)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends the session; leaving the with-block has stopped and closed the stream
    return stats


def stream_through_file(
    converter: StreamingConverter, input_path: str | Path, output_path: str | Path
) -> StreamStats:
    """Push a file through the engine block by block and write what a device would play: the
    input's length plus the latency, at the stream rate (float WAV/FLAC). The input is resampled
    to the stream rate first -> the StreamStats of the run."""
    geometry = converter.geometry
    samples = io.load(input_path, sample_rate=geometry.sample_rate).mono
    samples = np.concatenate([samples, np.zeros(geometry.latency_samples, dtype=np.float32)])
    stats = geometry.stats()
    pieces = []
    for start in range(0, len(samples), geometry.block):
        began = time.perf_counter()
        pieces.append(converter.push(samples[start : start + geometry.block]))
        stats.compute_s.append(time.perf_counter() - began)
    save_blocks(output_path, pieces, geometry.sample_rate)
    return stats


class ChunkStream:
    """Audio that arrives in chunks of any length at its own rate (a browser's microphone) through
    the engine. Each chunk is resampled to the stream rate with soxr HQ, as
    ``timbrel.audio.resample`` does, but with the filter's state kept from chunk to chunk so that
    chunk edges leave no seam (it holds back the filter's delay, a few ms). The engine is fed up to
    each block boundary at a time, so every block's compute time is measured on its own.

    record_to: a folder that receives ``input.wav`` (what the engine received) and ``output.wav``
    (what it returned), float WAVs at the stream rate, complete on disk after every chunk.
    """

    def __init__(self, converter: StreamingConverter, record_to: Path | None = None):
        self.converter = converter
        self.input_rate: int | None = None
        self.resampler: Any = None
        self.stats = converter.geometry.stats()
        self.received_s = 0.0
        rate = converter.geometry.sample_rate
        self.recordings = (
            []
            if record_to is None
            else [
                soundfile.SoundFile(record_to / name, "w", rate, 1, subtype="FLOAT")
                for name in ("input.wav", "output.wav")
            ]
        )

    def push(self, samples: np.ndarray, input_rate: int) -> np.ndarray:
        """samples: (n,) mono float at ``input_rate`` (the same for every chunk) -> the converted
        audio at the stream rate, as many samples as the engine received for this chunk."""
        rate = self.converter.geometry.sample_rate
        if self.input_rate is None:
            self.input_rate = input_rate
            if input_rate != rate:
                self.resampler = soxr.ResampleStream(input_rate, rate, 1, dtype="float32", quality="HQ")
        elif input_rate != self.input_rate:
            raise ValueError(f"the input's rate changed from {self.input_rate} Hz to {input_rate} Hz")
        received = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self.resampler is not None:
            received = self.resampler.resample_chunk(received)
        self.received_s += len(received) / rate
        block = self.converter.geometry.block
        pieces = []
        start = 0
        while start < len(received):
            end = min(len(received), start + block - len(self.converter.pending))
            completes_a_block = len(self.converter.pending) + end - start == block
            began = time.perf_counter()
            pieces.append(self.converter.push(received[start:end]))
            if completes_a_block:
                self.stats.compute_s.append(time.perf_counter() - began)
            start = end
        converted = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        for recording, signal in zip(self.recordings, (received, converted), strict=False):
            recording.write(signal)
            recording.flush()
        return converted


def save_blocks(path: str | Path, blocks: list[np.ndarray], sample_rate: int) -> None:
    """Blocks the engine received or produced, joined, as float WAV/FLAC."""
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    io.save(path, Audio.from_mono(samples, sample_rate), subtype="FLOAT")


def _channels(sd: Any, device: int | str | None, kind: str) -> int:
    """Mono where the device has it, else its first two channels (the engine mixes to mono and
    plays the same signal on each)."""
    info = sd.query_devices(device, kind)
    available = info[f"max_{kind}_channels"]
    if available < 1:
        raise ValueError(f"device {info['name']!r} has no {kind} channels")
    return min(available, 1 if kind == "input" else 2)
