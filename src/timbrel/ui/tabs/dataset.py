"""Dataset tab: check recordings, and prepare them the RVC way (an experiment under experiments/)
or the RIFT way (a dataset under datasets/, one sub-folder per speaker)."""

from __future__ import annotations

import math
from pathlib import Path

import gradio as gr

from timbrel import api
from timbrel.core.config import from_dict
from timbrel.dataset.check import DatasetCheck
from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig
from timbrel.dataset.rvc import RVCPrepareConfig
from timbrel.ui.components import form
from timbrel.ui.context import UIContext
from timbrel.ui.errors import readable_errors
from timbrel.ui.forms import form_fields, form_values
from timbrel.ui.workspace import Workspace, plain_name

CHECK_COLUMNS = ["file", "s", "Hz", "ch", "peak dBFS", "clip", "silence", "status"]
FAMILIES = ("RVC", "RIFT")


def check_rows(report: DatasetCheck, workspace: Workspace) -> list[list[str]]:
    """The check table: one row per recording, in CHECK_COLUMNS order (as `timbrel check` prints)."""
    rows = []
    for f in report.files:
        path = Path(f.path)
        shown = workspace.relative(path) if path.resolve().is_relative_to(workspace.root) else path.name
        measured = f.sample_rate > 0
        status = "; ".join(f.errors) or "; ".join(f.warnings) or "ok"
        rows.append(
            [
                shown,
                f"{f.duration_s:.2f}",
                str(f.sample_rate or ""),
                str(f.num_channels or ""),
                f"{f.peak_dbfs:.1f}" if measured and math.isfinite(f.peak_dbfs) else "",
                f"{f.clipped_ratio:.2%}" if measured else "",
                f"{f.silence_ratio:.0%}" if measured else "",
                ("error: " if f.errors else "") + status,
            ]
        )
    return rows


def check_summary(report: DatasetCheck) -> str:
    summary = report.to_json()["summary"]
    return (
        f"{summary['usable_files']} of {summary['files']} files usable, "
        f"{summary['usable_duration_s']:.1f} s of {summary['total_duration_s']:.1f} s"
    )


def build(context: UIContext) -> None:
    workspace = context.workspace
    rvc_fields = form_fields(RVCPrepareConfig)
    rift_fields = form_fields(RIFTPrepareConfig)
    split_fields = form_fields(SplitConfig)

    with gr.Row():
        family = gr.Radio(list(FAMILIES), value="RVC", label="Prepare for", elem_id="dataset-family")
        name = gr.Textbox(
            label="Name",
            info="RVC: the experiment (experiments/NAME); RIFT: the dataset (datasets/NAME).",
            placeholder="my-voice",
            elem_id="dataset-name",
        )
    with gr.Row():
        uploads = gr.File(
            file_count="multiple", file_types=["audio"], label="Recordings", elem_id="dataset-uploads"
        )
        with gr.Column():
            folder = gr.Textbox(
                label="...or a folder in the workspace",
                info="RIFT: one sub-folder of recordings per speaker.",
                placeholder="uploads/my-recordings",
                elem_id="dataset-folder",
            )
            speaker = gr.Textbox(
                label="Speaker (RIFT, uploads)",
                info="Uploaded recordings go to this speaker's sub-folder.",
                value="speaker0",
                visible=False,
                elem_id="dataset-speaker",
            )
            workers = gr.Number(
                value=0, precision=0, minimum=0, label="Worker processes", info="0: the number of cores."
            )
    with gr.Group(visible=True) as rvc_group:
        gr.Markdown("**RVC preparation**")
        rvc_components = form(rvc_fields, "dataset-rvc")
    with gr.Group(visible=False) as rift_group:
        gr.Markdown("**RIFT preparation and test split**")
        rift_components = form(rift_fields, "dataset-rift")
        split_components = form(split_fields, "dataset-split")

    with gr.Row():
        check_button = gr.Button("Check recordings", elem_id="dataset-check-run")
        prepare_button = gr.Button("Prepare", variant="primary", elem_id="dataset-prepare-run")
    summary = gr.Markdown(elem_id="dataset-summary")
    table = gr.Dataframe(
        headers=CHECK_COLUMNS,
        interactive=False,
        wrap=True,
        label="Check of the recordings",
        elem_id="dataset-check",
    )

    def show_family(chosen: str):
        return (
            gr.Group(visible=chosen == "RVC"),
            gr.Group(visible=chosen == "RIFT"),
            gr.Textbox(visible=chosen == "RIFT"),
        )

    def recordings(chosen: str, name_text: str, files: list[str] | None, folder_text: str, speaker_text: str):
        """The folder to read recordings from: uploads are copied into uploads/<run>/ first."""
        if files:
            run = workspace.new_run("uploads", name_text)
            target = run / plain_name(speaker_text) if chosen == "RIFT" else run
            workspace.take_uploads(files, target)
            return run
        if not (folder_text or "").strip():
            raise gr.Error("upload recordings or name a folder in the workspace")
        source = workspace.path(folder_text, must_exist=True)
        if not source.is_dir():
            raise gr.Error(f"{folder_text} is not a folder")
        return source

    @readable_errors
    def check(chosen, name_text, files, folder_text, speaker_text, worker_count):
        source = recordings(chosen, name_text, files, folder_text, speaker_text)
        report = api.check([source], workers=worker_count or None)
        if not report.files:
            raise gr.Error(f"no audio files in {workspace.relative(source)}")
        return check_summary(report), check_rows(report, workspace)

    @readable_errors
    def prepare(chosen, name_text, files, folder_text, speaker_text, worker_count, *shown):
        rvc_shown = shown[: len(rvc_fields)]
        rift_shown = shown[len(rvc_fields) : len(rvc_fields) + len(rift_fields)]
        split_shown = shown[len(rvc_fields) + len(rift_fields) :]
        if chosen == "RVC":
            output = workspace.named("experiments", name_text)
            config = from_dict(
                RVCPrepareConfig, form_values(rvc_fields, rvc_shown, workspace.path), where="RVC preparation"
            )
            source = recordings(chosen, name_text, files, folder_text, speaker_text)
            report = api.prepare_rvc(source, output, config, worker_count or None)
        else:
            output = workspace.named("datasets", name_text)
            config = from_dict(
                RIFTPrepareConfig,
                form_values(rift_fields, rift_shown, workspace.path),
                where="RIFT preparation",
            )
            split = from_dict(
                SplitConfig, form_values(split_fields, split_shown, workspace.path), where="test split"
            )
            source = recordings(chosen, name_text, files, folder_text, speaker_text)
            report = api.prepare_rift(source, output, config, split, worker_count or None)
        counts = {s: sum(o.status == s for o in report.outcomes) for s in ("done", "skipped", "failed")}
        lines = [
            f"{counts['done']} prepared, {counts['skipped']} already done, {counts['failed']} failed"
            f" -> `{workspace.relative(output)}`",
            f"Input check: {check_summary(report.check_before)}.",
        ]
        lines += [f"- skipped: {o.reason}" for o in report.failed]
        if not report.usable:
            lines.append("**Nothing usable was prepared.**")
        return "\n".join(lines), check_rows(report.check_before, workspace)

    common = [family, name, uploads, folder, speaker, workers]
    family.change(show_family, inputs=family, outputs=[rvc_group, rift_group, speaker])
    check_button.click(check, inputs=common, outputs=[summary, table])
    prepare_button.click(
        prepare,
        inputs=[*common, *rvc_components, *rift_components, *split_components],
        outputs=[summary, table],
    )
