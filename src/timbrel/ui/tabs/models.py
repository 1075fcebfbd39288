"""Models tab: the voice models in the workspace with their metadata, and importing new ones."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.library import COLUMNS, import_model, model_rows
from timbrel.ui.tabs import OnShow


def build(context: UIContext) -> OnShow:
    workspace = context.workspace
    table = gr.Dataframe(
        value=model_rows(workspace),
        headers=list(COLUMNS),
        interactive=False,
        wrap=True,
        column_widths=["24%", "6%", "12%", "5%", "8%", "12%", "18%", "15%"],
        label="Voice models in the workspace (models/, experiments/*/weights/, RIFT checkpoints)",
        elem_id="models-table",
    )
    gr.Markdown("### Import a voice model")
    with gr.Row():
        model_file = gr.File(
            file_types=[".pth", ".ckpt", ".zip"],
            label="RVC .pth, RIFT .ckpt or Timbrel bundle (.timbrel.zip)",
            elem_id="models-import-model",
        )
        index_file = gr.File(
            file_types=[".index"], label="RVC .index (optional)", elem_id="models-import-index"
        )
    name = gr.Textbox(label="Name", info="The model goes to models/NAME/.", elem_id="models-import-name")
    go = gr.Button("Import", variant="primary", elem_id="models-import-run")
    result = gr.Markdown(elem_id="models-import-result")

    @readable_errors
    def do_import(model_upload, index_upload, name_text):
        if not model_upload:
            raise gr.Error("upload a model file first")
        path = import_model(
            workspace,
            name_text or Path(model_upload).stem,
            Path(model_upload),
            Path(index_upload) if index_upload else None,
        )
        return f"Imported `{workspace.relative(path)}`.", model_rows(workspace)

    go.click(do_import, inputs=[model_file, index_file, name], outputs=[result, table])
    return OnShow(lambda: model_rows(workspace), [table])
