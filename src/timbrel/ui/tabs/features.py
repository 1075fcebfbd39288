"""Features tab: pitch and content features of a prepared dataset, for training."""

from __future__ import annotations

import gradio as gr

from timbrel import api
from timbrel.core.config import from_dict
from timbrel.features.extract_rvc import RVCExtractConfig
from timbrel.ui.components import form
from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.forms import form_fields, form_values
from timbrel.ui.outcomes import outcome_summary
from timbrel.ui.tabs import OnShow

RVC_PITCH_METHODS = ("pm", "harvest", "dio", "rmvpe")


def build(context: UIContext) -> OnShow:
    workspace = context.workspace
    gr.Markdown("### RVC")
    fields = form_fields(RVCExtractConfig, {"f0_method": RVC_PITCH_METHODS})
    experiments = workspace.children("experiments")
    experiment = gr.Dropdown(
        choices=experiments,
        value=experiments[0] if experiments else None,
        label="Experiment (prepared in the dataset tab)",
        elem_id="features-experiment",
    )
    components = form(fields, "features-rvc")
    go = gr.Button("Extract", variant="primary", elem_id="features-run")
    result = gr.Markdown(elem_id="features-result")
    gr.Markdown("### RIFT")
    gr.Markdown(
        "RIFT feature extraction is not available yet in the Python API; it will appear here when it is.",
        elem_id="features-rift-note",
    )

    @readable_errors
    def extract(experiment_name, *shown):
        if not experiment_name:
            raise gr.Error("choose an experiment first")
        folder = workspace.named("experiments", experiment_name)
        config = from_dict(
            RVCExtractConfig, form_values(fields, shown, workspace.path), where="RVC extraction"
        )
        outcomes = api.extract_rvc(folder, config, hubert=context.hubert, rmvpe=context.rmvpe)
        return outcome_summary(outcomes, "extracted", f"`{workspace.relative(folder)}`")

    go.click(extract, inputs=[experiment, *components], outputs=result)
    return OnShow(lambda: gr.Dropdown(choices=workspace.children("experiments")), [experiment])
