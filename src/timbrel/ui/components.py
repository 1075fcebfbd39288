"""Page components for config forms (timbrel.ui.forms): one input per field, laid out in rows,
with each nested config in a fold of its own."""

from __future__ import annotations

import gradio as gr

from timbrel.ui.forms import NONE_CHOICE, FormField

PER_ROW = 3


def field_component(field: FormField, elem_prefix: str) -> gr.components.Component:
    common = {
        "label": field.label,
        "info": field.help,
        "elem_id": f"{elem_prefix}-{field.name.replace('.', '-').replace('_', '-')}",
    }
    if field.kind == "bool":
        return gr.Checkbox(value=field.shown_default, **common)
    if field.kind in ("int", "float") and field.optional:
        shown = "" if field.default is None else str(field.default)
        return gr.Textbox(value=shown, placeholder="empty = none", **common)
    if field.kind in ("int", "float"):
        return gr.Number(value=field.shown_default, precision=0 if field.kind == "int" else None, **common)
    if field.kind == "choice":
        choices = [field.show(choice) for choice in field.choices]
        if field.optional and NONE_CHOICE not in choices:
            choices.append(NONE_CHOICE)
        return gr.Dropdown(choices=choices, value=field.shown_default, **common)
    placeholder = {
        "names": "a, b, c",
        "value": "a number, a word or JSON",
        "path": "a path in the workspace",
    }.get(field.kind)
    return gr.Textbox(value=field.shown_default, placeholder=placeholder, **common)


def form(fields: list[FormField], elem_prefix: str) -> list[gr.components.Component]:
    """Render ``fields`` (inside the current layout block); the components come back in field order."""
    by_name: dict[str, gr.components.Component] = {}

    def rows(group: list[FormField]) -> None:
        for start in range(0, len(group), PER_ROW):
            with gr.Row():
                for field in group[start : start + PER_ROW]:
                    by_name[field.name] = field_component(field, elem_prefix)

    top = [f for f in fields if not f.advanced]
    rows(top)
    sections: dict[str, list[FormField]] = {}
    for field in fields:
        if field.advanced:
            sections.setdefault(field.name.split(".")[0], []).append(field)
    for section, group in sections.items():
        # a config made of sections (RIFT training) shows them open; extras of a flat one start folded
        with gr.Accordion(section.replace("_", " "), open=len(top) < PER_ROW):
            rows(group)
    return [by_name[f.name] for f in fields]
