"""Train tab: one-click training per family, with live progress and the loss curve."""

from __future__ import annotations

import gradio as gr

from timbrel import api
from timbrel.ui.context import UIContext

TRAINERS = {"RVC": "train_rvc", "RIFT": "train_rift"}


def build(context: UIContext) -> None:
    for family, function in TRAINERS.items():
        gr.Markdown(f"### {family}")
        if getattr(api, function, None) is None:
            gr.Markdown(
                f"{family} training is not available yet in the Python API "
                f"(`timbrel.api.{function}`); it will appear here when it is.",
                elem_id=f"train-{family.lower()}-note",
            )
