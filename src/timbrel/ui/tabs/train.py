"""Train tab: one-click training per family, with live progress and the loss curve.

A family appears once timbrel.api has its training function and its config class can be
imported; until then the tab says so. Adding a family is one Trainer entry.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from timbrel import api
from timbrel.core.config import from_dict
from timbrel.ui.components import form
from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.forms import form_fields, form_values
from timbrel.ui.tabs import OnShow
from timbrel.ui.tabs.features import RVC_PITCH_METHODS
from timbrel.ui.training import TrainingJob, follow, training_call
from timbrel.ui.workspace import Workspace


@dataclass(frozen=True)
class Trainer:
    """family: as shown; function: its name in timbrel.api; config: "module:Class" of its config;
    preset: a classmethod of the config giving the page's starting values (None: the class's
    defaults); folder: the workspace folder holding what it trains on."""

    family: str
    function: str
    config: str
    preset: str | None
    folder: str
    folder_label: str

    def config_class(self) -> type | None:
        module, name = self.config.split(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return None


TRAINERS = (
    Trainer(
        "RVC",
        "train_rvc",
        "timbrel.train.rvc:RVCTrainConfig",
        None,
        "experiments",
        "Experiment (experiments/, prepared in the dataset tab; features and index are made if missing)",
    ),
    Trainer(
        "RIFT",
        "train_rift",
        "timbrel.train.rift_config:RIFTTrainConfig",
        "finetune",
        "datasets",
        "Dataset (datasets/, prepared and extracted)",
    ),
)


def result_summary(result: Any, workspace: Workspace) -> str:
    """The files a training result names (its Path fields), as workspace paths."""
    if not dataclasses.is_dataclass(result):
        return str(result)
    lines = []
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, Path):
            shown = workspace.relative(value) if value.resolve().is_relative_to(workspace.root) else value
            lines.append(f"- {field.name.replace('_', ' ')}: `{shown}`")
    return "\n".join(lines)


def build_family(trainer: Trainer, context: UIContext) -> OnShow | None:
    workspace = context.workspace
    gr.Markdown(f"### {trainer.family}")
    train = getattr(api, trainer.function, None)
    config_class = trainer.config_class()
    if train is None or config_class is None:
        gr.Markdown(
            f"{trainer.family} training is not available yet in the Python API "
            f"(`timbrel.api.{trainer.function}`); it will appear here when it is.",
            elem_id=f"train-{trainer.family.lower()}-note",
        )
        return None
    prefix = f"train-{trainer.family.lower()}"
    defaults = getattr(config_class, trainer.preset)() if trainer.preset else config_class()
    fields = form_fields(config_class, {"f0_method": RVC_PITCH_METHODS}, defaults=defaults)
    folders = workspace.children(trainer.folder)
    folder = gr.Dropdown(
        choices=folders,
        value=folders[0] if folders else None,
        label=trainer.folder_label,
        elem_id=f"{prefix}-folder",
    )
    components = form(fields, prefix)
    go = gr.Button(f"Train {trainer.family}", variant="primary", elem_id=f"{prefix}-start")
    status = gr.Markdown(elem_id=f"{prefix}-status")
    if "logger" not in inspect.signature(train).parameters:
        gr.Markdown(
            f"The live loss plot needs `timbrel.api.{trainer.function}` to take a `logger`; "
            "until it does, the plot stays empty and the run shows its progress when it ends.",
            elem_id=f"{prefix}-logger-note",
        )
    plot = gr.Plot(label="Loss", elem_id=f"{prefix}-loss")

    @readable_errors
    def run(folder_name, *shown):
        if not folder_name:
            raise gr.Error(f"choose a folder under {trainer.folder}/ first")
        target = workspace.named(trainer.folder, folder_name)
        config = from_dict(
            config_class, form_values(fields, shown, workspace.path), where=f"{trainer.family} training"
        )
        weights = {
            "hubert": context.hubert,
            "rmvpe": context.rmvpe,
            "contentvec": context.contentvec,
            "vocoder": context.vocoder,
        }
        job = TrainingJob(lambda logger: training_call(train, {**weights, "logger": logger})(target, config))
        status_text = ""
        for status_text, figure in follow(job):
            yield status_text, figure
        yield f"{status_text}\n\n{result_summary(job.result, workspace)}", figure

    go.click(run, inputs=[folder, *components], outputs=[status, plot])
    return OnShow(lambda: gr.Dropdown(choices=workspace.children(trainer.folder)), [folder])


def build(context: UIContext) -> OnShow | None:
    shown = [build_family(trainer, context) for trainer in TRAINERS]
    shown = [s for s in shown if s is not None]
    if not shown:
        return None
    return OnShow(lambda: tuple(s.update() for s in shown), [o for s in shown for o in s.outputs])
