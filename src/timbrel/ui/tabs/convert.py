"""Convert tab: one uploaded clip, several, or a workspace folder, with every option of the model's
family (the form comes from the family's options class, defaults as the reference's)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from timbrel import api
from timbrel.core.errors import TimbrelError
from timbrel.features.pitch import registry
from timbrel.ui import plots
from timbrel.ui.components import form
from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.forms import FormField, form_fields, form_values
from timbrel.ui.library import INDEX_SUFFIXES, voice_model_files
from timbrel.ui.tabs import OnShow

SOURCES = ("one file", "several files", "a workspace folder")
FAMILY_NAMES = {"rvc": "RVC", "rift": "RIFT"}


def option_forms() -> dict[str, list[FormField]]:
    """family -> its conversion option fields, for every family the API can convert with."""
    return {
        family: form_fields(options, {"f0_method": registry.method_names()})
        for family, options in api.CONVERT_OPTIONS.items()
    }


def family_of(model_text: str | None) -> str | None:
    """The family a model path names (by its file type), None when it names none."""
    try:
        return api.model_family(model_text) if model_text else None
    except TimbrelError:
        return None


def family_note(family: str | None) -> str:
    if family is None or family in api.CONVERT_OPTIONS:
        return ""
    return f"Converting with {FAMILY_NAMES.get(family, family)} models is not available yet."


def build(context: UIContext) -> OnShow:
    workspace = context.workspace
    forms = option_forms()

    def model_choices() -> tuple[list[str], list[str]]:
        return voice_model_files(workspace), ["", *workspace.files("", INDEX_SUFFIXES)]

    models, indexes = model_choices()
    with gr.Row():
        model = gr.Dropdown(
            choices=models,
            value=models[0] if models else None,
            allow_custom_value=True,
            label="Voice model (workspace path)",
            info="An RVC .pth or a RIFT .ckpt under the workspace; import models in the models tab.",
            elem_id="convert-model",
            scale=3,
        )
        index = gr.Dropdown(
            choices=indexes,
            value="",
            allow_custom_value=True,
            label="RVC retrieval index (optional)",
            elem_id="convert-index",
            visible=family_of(models[0] if models else None) != "rift",
            scale=3,
        )

    source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Convert", elem_id="convert-source")
    one_file = gr.Audio(type="filepath", sources=["upload"], label="Source clip", elem_id="convert-input")
    several = gr.File(
        file_count="multiple",
        file_types=["audio"],
        label="Source clips",
        visible=False,
        elem_id="convert-files",
    )
    folder = gr.Textbox(
        label="Folder in the workspace",
        placeholder="uploads/my-songs",
        visible=False,
        elem_id="convert-folder",
    )

    initial_family = family_of(model.value) or "rvc"
    note = gr.Markdown(family_note(initial_family), elem_id="convert-note")
    groups: dict[str, gr.Group] = {}
    option_components: list[gr.components.Component] = []
    for family, fields in forms.items():
        with gr.Group(visible=family == initial_family) as groups[family]:
            gr.Markdown(f"**{FAMILY_NAMES.get(family, family)} options**")
            option_components += form(fields, f"convert-{family}")

    go = gr.Button("Convert", variant="primary", elem_id="convert-run")
    status = gr.Markdown(elem_id="convert-status")
    with gr.Row():
        source_player = gr.Audio(label="Source", interactive=False, elem_id="convert-source-player")
        output_player = gr.Audio(label="Converted", interactive=False, elem_id="convert-output")
    outputs = gr.File(label="Converted files", file_count="multiple", interactive=False)
    f0_plot = gr.Plot(label="f0: source vs converted", elem_id="convert-f0-plot")
    spectrogram_plot = gr.Plot(label="Spectrograms", elem_id="convert-spectrogram-plot")

    def refresh_lists():
        models, indexes = model_choices()
        return gr.Dropdown(choices=models), gr.Dropdown(choices=indexes)

    def show_source(mode: str):
        return (
            gr.Audio(visible=mode == SOURCES[0]),
            gr.File(visible=mode == SOURCES[1]),
            gr.Textbox(visible=mode == SOURCES[2]),
        )

    def show_family(model_text: str | None):
        family = family_of(model_text)
        groups_shown = [gr.Group(visible=name == family) for name in forms]
        return [family_note(family), gr.Dropdown(visible=family != "rift"), *groups_shown]

    @readable_errors
    def convert(model_text, index_text, mode, clip, clips, folder_text, *shown):
        if not model_text:
            raise gr.Error("choose a voice model first")
        model_path = workspace.path(model_text, must_exist=True)
        index_path = workspace.path(index_text, must_exist=True) if index_text else None
        run = workspace.new_run("outputs", model_path.stem)
        if mode == SOURCES[0]:
            if not clip:
                raise gr.Error("upload a source clip first")
            inputs = workspace.take_uploads([clip], workspace.root / "uploads" / run.name)
        elif mode == SOURCES[1]:
            if not clips:
                raise gr.Error("upload source clips first")
            inputs = workspace.take_uploads(clips, workspace.root / "uploads" / run.name)
        else:
            inputs = [workspace.path(folder_text, must_exist=True)]
        voice = context.voice(model_path, index_path)
        if voice.family not in forms:
            raise gr.Error(family_note(voice.family))
        start = 0
        for family, fields in forms.items():
            if family == voice.family:
                values = form_values(fields, shown[start : start + len(fields)], workspace.path)
            start += len(fields)
        options = api.convert_options(voice, values)
        outcomes = api.convert(voice, inputs, run, options)
        done = [o for o in outcomes if o.status != "failed"]
        failed = [o for o in outcomes if o.status == "failed"]
        lines = [f"{len(done)} converted into `{workspace.relative(run)}`, {len(failed)} failed."]
        lines += [f"- failed: {o.reason}" for o in failed]
        if not done:
            raise gr.Error("\n".join(lines))
        first_source, first_output = Path(done[0].item), Path(done[0].outputs[0])
        return (
            "\n".join(lines),
            str(first_source),
            str(first_output),
            [o.outputs[0] for o in done],
            plots.f0_figure(first_source, first_output),
            plots.spectrogram_figure(first_source, first_output),
        )

    source.change(show_source, inputs=source, outputs=[one_file, several, folder])
    model.change(show_family, inputs=model, outputs=[note, index, *groups.values()])
    go.click(
        convert,
        inputs=[model, index, source, one_file, several, folder, *option_components],
        outputs=[status, source_player, output_player, outputs, f0_plot, spectrogram_plot],
    )
    return OnShow(refresh_lists, [model, index])
