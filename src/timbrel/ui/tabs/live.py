"""Live tab: the browser's microphone through the realtime engine with an RVC voice, the converted
audio streamed back to the page.

Starting the microphone builds one engine for the page session (a gr.State). The browser then
sends its recording in chunks (WAV at its own rate, every ``stream_every`` seconds); each chunk is
converted as it arrives and queued, and one long-running generator, started with the recording,
yields the queue into the streaming player as 16-bit WAV. One generator for the whole recording is
needed because gradio streams an output only from a generator and opens a new player stream for
each run: a plain function's return per chunk never reaches the streaming player, and a generator
per chunk restarts the player every chunk (tried in Chromium with gradio 6.31). A chunk that
arrives while the server is still converting the previous one is dropped by the browser, so the
page shows how much audio arrived against how long the session has run.
"""

from __future__ import annotations

import io
import queue
import time
from dataclasses import dataclass, field

import gradio as gr
import numpy as np
import soundfile

from timbrel import api
from timbrel.infer.live import ChunkStream
from timbrel.infer.streaming import F0_METHODS, StreamSettings
from timbrel.ui.components import form
from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.forms import form_fields, form_values
from timbrel.ui.library import INDEX_SUFFIXES, voice_model_files
from timbrel.ui.tabs import OnShow
from timbrel.ui.tabs.convert import family_of

STREAM_EVERY_S = 0.25
INT16_SCALE = 32768.0
PLAYER_WAIT_S = 30.0  # the player ends when no converted chunk has come for this long


@dataclass
class LiveSession:
    """One recording's engine, and the converted chunks waiting for the player (None: the end)."""

    stream: ChunkStream
    record_folder: str | None = None
    player_queue: queue.Queue = field(default_factory=queue.Queue)
    started: float = field(default_factory=time.monotonic)


def rvc_models(context: UIContext) -> list[str]:
    return [path for path in voice_model_files(context.workspace) if family_of(path) == "rvc"]


def mono_float(samples: np.ndarray) -> np.ndarray:
    """gradio's microphone chunk (int16, (n,) or (n, channels)) -> (n,) float32 in [-1, 1)."""
    samples = np.asarray(samples)
    if np.issubdtype(samples.dtype, np.integer):
        samples = samples / INT16_SCALE
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples.astype(np.float32)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def session_report(session: LiveSession) -> str:
    stats = session.stream.stats
    geometry = session.stream.converter.geometry
    lines = [
        f"Stream rate {geometry.sample_rate} Hz, block {stats.block_s * 1000:.0f} ms; algorithmic "
        f"latency {stats.algorithmic_latency_s * 1000:.0f} ms (block + crossfade + 10 ms), plus the "
        "browser's recording and playback buffers.",
        f"Blocks converted: {stats.blocks}; late (compute longer than the block): {stats.late_blocks}; "
        f"compute / block time: median {stats.compute_ratio(50):.2f}, 99th percentile "
        f"{stats.compute_ratio(99):.2f} (below 1 keeps up).",
        f"Audio received: {session.stream.received_s:.1f} s in {time.monotonic() - session.started:.1f} s "
        "of session (chunks the browser sent while the server was busy are lost).",
    ]
    if session.record_folder is not None:
        lines.append(f"Recording into `{session.record_folder}` (input.wav, output.wav).")
    return "\n\n".join(lines)


def build(context: UIContext) -> OnShow:
    workspace = context.workspace
    fields = form_fields(StreamSettings, {"f0_method": F0_METHODS})
    models = rvc_models(context)
    gr.Markdown(
        "Sing or speak into the microphone and hear the RVC voice model. Use headphones: the "
        "converted voice played through speakers goes back into the microphone."
    )
    with gr.Row():
        model = gr.Dropdown(
            choices=models,
            value=models[0] if models else None,
            allow_custom_value=True,
            label="RVC voice model (workspace path)",
            info="Realtime conversion is RVC's; import models in the models tab.",
            elem_id="live-model",
        )
        index = gr.Dropdown(
            choices=["", *workspace.files("", INDEX_SUFFIXES)],
            value="",
            allow_custom_value=True,
            label="Retrieval index (optional, used when index rate > 0)",
            elem_id="live-index",
        )
    with gr.Group():
        setting_components = form(fields, "live")
    record = gr.Checkbox(
        value=False,
        label="Record into the workspace",
        info="Writes what the engine received and returned under recordings/.",
        elem_id="live-record",
    )
    with gr.Row():
        microphone = gr.Audio(
            sources=["microphone"],
            type="numpy",
            streaming=True,
            label="Microphone",
            elem_id="live-microphone",
        )
        converted = gr.Audio(
            streaming=True, autoplay=True, interactive=False, label="Converted", elem_id="live-output"
        )
    report = gr.Markdown(elem_id="live-status")
    session_state = gr.State(None)

    def refresh_lists():
        return gr.Dropdown(choices=rvc_models(context)), gr.Dropdown(
            choices=["", *workspace.files("", INDEX_SUFFIXES)]
        )

    @readable_errors
    def start(model_text, index_text, record_on, *shown):
        if not model_text:
            raise gr.Error("choose an RVC voice model first")
        model_path = workspace.path(model_text, must_exist=True)
        index_path = workspace.path(index_text, must_exist=True) if index_text else None
        settings = api.stream_settings(form_values(fields, shown, workspace.path))
        converter = api.streaming_converter(context.voice(model_path, index_path), settings)
        folder = workspace.new_run("recordings", f"live-{model_path.stem}") if record_on else None
        session = LiveSession(
            ChunkStream(converter, folder), workspace.relative(folder) if folder is not None else None
        )
        return session, session_report(session)

    @readable_errors
    def convert_chunk(chunk, session):
        if chunk is None or session is None:  # the microphone started before its session was ready
            return gr.skip()
        input_rate, samples = chunk
        output = session.stream.push(mono_float(samples), input_rate)
        session.player_queue.put(wav_bytes(output, session.stream.converter.geometry.sample_rate))
        return session_report(session)

    def play(session):
        if session is None:
            return
        while True:
            try:
                chunk = session.player_queue.get(timeout=PLAYER_WAIT_S)
            except queue.Empty:
                return
            if chunk is None:
                return
            yield chunk

    def stop(session):
        if session is None:
            return gr.skip()
        session.player_queue.put(None)
        return session_report(session)

    settings_inputs = [model, index, record, *setting_components]
    # the live events must not wait behind a conversion or a training run in another tab
    microphone.start_recording(
        start, inputs=settings_inputs, outputs=[session_state, report], concurrency_limit=None
    ).then(play, inputs=session_state, outputs=converted, concurrency_limit=None, show_progress="hidden")
    microphone.stream(
        convert_chunk,
        inputs=[microphone, session_state],
        outputs=report,
        stream_every=STREAM_EVERY_S,
        time_limit=None,
        concurrency_limit=None,
        show_progress="hidden",
    )
    microphone.stop_recording(stop, inputs=session_state, outputs=report, concurrency_limit=None)
    return OnShow(refresh_lists, [model, index])
