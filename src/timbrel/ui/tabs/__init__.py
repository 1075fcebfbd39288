"""One module per tab. Each has ``build(context)``, called inside its gr.Tab; it returns an OnShow
when the tab lists workspace contents, which change behind its back (another tab, the shell)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr


@dataclass(frozen=True)
class OnShow:
    """Run ``update`` into ``outputs`` each time the tab is opened."""

    update: Callable[[], Any]
    outputs: list[gr.components.Component]
