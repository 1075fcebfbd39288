"""The web app: one tab per stage, each a thin form over timbrel.api, serving one workspace."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

import timbrel
from timbrel.core.device import CPU, Placement
from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.http_guard import RefuseUnusablePaths
from timbrel.ui.tabs import convert, dataset, features, index, live, models, train
from timbrel.ui.workspace import Workspace

TABS = (
    ("Dataset", dataset.build),
    ("Features", features.build),
    ("Index", index.build),
    ("Train", train.build),
    ("Convert", convert.build),
    ("Live", live.build),
    ("Models", models.build),
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build_app(context: UIContext) -> gr.Blocks:
    weights = ", ".join(
        f"{name}: `{path}`" if path else f"{name}: the download cache"
        for name, path in (
            ("HuBERT", context.hubert),
            ("RMVPE", context.rmvpe),
            ("ContentVec", context.contentvec),
            ("NSF-HiFiGAN", context.vocoder),
        )
    )
    # gradio keeps served copies of uploads and results in its own cache: drop them after a day
    with gr.Blocks(title="Timbrel", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        gr.Markdown(
            f"## Timbrel {timbrel.__version__}\n"
            f"Workspace `{context.workspace.root}` (typed paths are relative to it and cannot leave it). "
            f"Standard weights: {weights}."
        )
        for title, build in TABS:
            with gr.Tab(title, id=title.lower(), elem_id=f"tab-{title.lower()}") as tab:
                on_show = build(context)
            if on_show is not None:
                tab.select(readable_errors(on_show.update), outputs=on_show.outputs)
    return app


def exposure_warning(host: str, share: bool) -> str | None:
    """What to tell the user when the app is reachable from beyond this machine."""
    reasons = []
    if host not in LOCAL_HOSTS:
        reasons.append(f"it listens on {host}, so other machines on the network can reach it")
    if share:
        reasons.append("--share publishes it through a public gradio.live link")
    if not reasons:
        return None
    return (
        "warning: " + " and ".join(reasons) + ". Anyone who reaches it can upload files, "
        "run conversions and training, and read everything in the workspace."
    )


def serve(
    workspace: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    max_upload_mb: float = 500.0,
    weights: dict[str, str | Path | None] | None = None,
    placement: Placement = CPU,
) -> None:
    """Build the app over ``workspace`` and serve it until interrupted.
    weights: hubert / rmvpe / contentvec / vocoder -> a path (None or absent: the cache).
    placement: the device and precision of conversion (extraction: the device, in fp32)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    given = {name: Path(path).resolve() for name, path in (weights or {}).items() if path}
    context = UIContext(Workspace.create(workspace), **given, placement=placement)
    app = build_app(context)
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=int(max_upload_mb * 1024 * 1024),
        allowed_paths=[str(context.workspace.root)],
        footer_links=[],
        show_error=True,
        ssr_mode=False,
        inbrowser=False,
        app_kwargs={"middleware": [Middleware(RefuseUnusablePaths)]},
    )
