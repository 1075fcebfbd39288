"""Features tab: pitch and content features of a prepared dataset, for training."""

from __future__ import annotations

import gradio as gr

from timbrel import api
from timbrel.core.config import from_dict
from timbrel.features.extract_rift import RIFTExtractConfig
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
    rvc_fields = form_fields(RVCExtractConfig, {"f0_method": RVC_PITCH_METHODS})
    rift_fields = form_fields(RIFTExtractConfig)

    def listings():
        return (
            gr.Dropdown(choices=workspace.children("experiments")),
            gr.Dropdown(choices=workspace.children("datasets")),
        )

    gr.Markdown("### RVC")
    experiments = workspace.children("experiments")
    experiment = gr.Dropdown(
        choices=experiments,
        value=experiments[0] if experiments else None,
        label="Experiment (experiments/, prepared in the dataset tab)",
        elem_id="features-experiment",
    )
    rvc_components = form(rvc_fields, "features-rvc")
    rvc_go = gr.Button("Extract RVC features", variant="primary", elem_id="features-rvc-run")
    rvc_result = gr.Markdown(elem_id="features-rvc-result")

    gr.Markdown("### RIFT")
    datasets = workspace.children("datasets")
    dataset = gr.Dropdown(
        choices=datasets,
        value=datasets[0] if datasets else None,
        label="Dataset (datasets/, prepared in the dataset tab)",
        elem_id="features-dataset",
    )
    rift_components = form(rift_fields, "features-rift")
    rift_go = gr.Button("Extract RIFT features", variant="primary", elem_id="features-rift-run")
    rift_result = gr.Markdown(elem_id="features-rift-result")

    @readable_errors
    def extract_rvc(experiment_name, *shown):
        if not experiment_name:
            raise gr.Error("choose an experiment first")
        folder = workspace.named("experiments", experiment_name)
        config = from_dict(
            RVCExtractConfig, form_values(rvc_fields, shown, workspace.path), where="RVC extraction"
        )
        outcomes = api.extract_rvc(
            folder, config, hubert=context.hubert, rmvpe=context.rmvpe, device=str(context.placement.device)
        )
        return outcome_summary(outcomes, "extracted", f"`{workspace.relative(folder)}`")

    @readable_errors
    def extract_rift(dataset_name, *shown):
        if not dataset_name:
            raise gr.Error("choose a dataset first")
        folder = workspace.named("datasets", dataset_name)
        config = from_dict(
            RIFTExtractConfig, form_values(rift_fields, shown, workspace.path), where="RIFT extraction"
        )
        outcomes = api.extract_rift(
            folder,
            config,
            contentvec=context.contentvec,
            rmvpe=context.rmvpe,
            device=str(context.placement.device),
        )
        return outcome_summary(outcomes, "extracted", f"`{workspace.relative(folder)}`")

    rvc_go.click(extract_rvc, inputs=[experiment, *rvc_components], outputs=rvc_result)
    rift_go.click(extract_rift, inputs=[dataset, *rift_components], outputs=rift_result)
    return OnShow(listings, [experiment, dataset])
