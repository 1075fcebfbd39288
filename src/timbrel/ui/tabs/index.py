"""Index tab: the RVC retrieval index over an experiment's extracted content features."""

from __future__ import annotations

import gradio as gr

from timbrel import api
from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.tabs import OnShow


def build(context: UIContext) -> OnShow:
    workspace = context.workspace
    experiments = workspace.children("experiments")
    experiment = gr.Dropdown(
        choices=experiments,
        value=experiments[0] if experiments else None,
        label="Experiment (features extracted in the features tab)",
        elem_id="index-experiment",
    )
    version = gr.Radio(
        ["v1", "v2"],
        value="v2",
        label="version",
        info="v1 (256-d features) or v2 (768-d).",
        elem_id="index-version",
    )
    go = gr.Button("Build index", variant="primary", elem_id="index-run")
    result = gr.Markdown(elem_id="index-result")

    @readable_errors
    def build_index(experiment_name, version_name):
        if not experiment_name:
            raise gr.Error("choose an experiment first")
        path = api.build_rvc_index(workspace.named("experiments", experiment_name), version_name)
        return f"Wrote `{workspace.relative(path)}`; the convert tab lists it."

    go.click(build_index, inputs=[experiment, version], outputs=result)
    return OnShow(lambda: gr.Dropdown(choices=workspace.children("experiments")), [experiment])
