"""Page forms for typed config dataclasses: one field per config field, and back.

A form is built from the dataclass itself, so every option a family's config has is on the
page with the config's own default (the reference's), and a field the family adds later
appears without UI changes. Values travel as the page shows them (numbers, checkbox states,
dropdown strings, text) and are turned into the plain nested data ``from_dict`` validates.
Nothing here imports gradio.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from timbrel.core.config import parse_scalar, to_dict
from timbrel.core.errors import ConfigError

Kind = Literal["bool", "int", "float", "choice", "text", "path", "names", "value"]

# Names shown for None in dropdowns and read back as None.
NONE_CHOICE = "none"

_UNITS = {
    "_semitones": "semitones",
    "_hz": "Hz",
    "_ms": "ms",
    "_s": "s",
    "_db": "dB",
    "_lufs": "LUFS",
}


@dataclass(frozen=True)
class FormField:
    """One page field. name: dotted for fields of nested configs ("chunking.pad_s").

    kind: bool (checkbox), int / float (number; ``optional`` allows an empty box = None),
    choice (dropdown of ``choices``, shown as strings), text (a string), path (a file or folder,
    checked by the caller's guard), names (a tuple of strings typed comma-separated), value
    (anything else, typed as JSON or a bare word).
    """

    name: str
    kind: Kind
    default: Any
    optional: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        """``key_shift_semitones`` -> "key shift (semitones)"."""
        leaf = self.name.rsplit(".", 1)[-1]
        for suffix, unit in _UNITS.items():
            if leaf.endswith(suffix) and len(leaf) > len(suffix):
                return f"{leaf[: -len(suffix)].replace('_', ' ')} ({unit})"
        return leaf.replace("_", " ")

    @property
    def advanced(self) -> bool:
        """Fields of nested configs go in their section's fold."""
        return "." in self.name

    @property
    def shown_default(self) -> Any:
        return self.show(self.default)

    def show(self, value: Any) -> Any:
        """A config value as the page shows it."""
        if self.kind == "choice":
            return NONE_CHOICE if value is None else str(value)
        if self.kind == "names":
            return ", ".join(value)
        if self.kind == "value":
            plain = to_dict(value)
            if plain is None:
                return ""
            return plain if isinstance(plain, str) else json.dumps(plain)
        if self.kind in ("text", "path") and value is None:
            return ""
        return value

    def read(self, shown: Any) -> Any:
        """What the page returned -> plain data for ``from_dict``."""
        if self.kind == "bool":
            return bool(shown)
        if self.kind in ("int", "float"):
            if isinstance(shown, str):
                shown = shown.strip()
            if shown is None or shown == "":
                if self.optional:
                    return None
                raise ConfigError(f"{self.label}: a number is needed")
            try:
                number = float(shown)
            except ValueError:
                raise ConfigError(f"{self.label}: expected a number, got {shown!r}") from None
            if self.kind == "float":
                return number
            if not number.is_integer():
                raise ConfigError(f"{self.label}: expected a whole number, got {shown}")
            return int(number)
        if self.kind == "choice":
            by_text = {str(choice): choice for choice in self.choices}
            if self.optional and shown in (None, NONE_CHOICE):
                return None
            if str(shown) not in by_text:
                raise ConfigError(f"{self.label}: {shown!r} is not one of {list(by_text)}")
            return by_text[str(shown)]
        if self.kind == "names":
            return [part.strip() for part in str(shown or "").split(",") if part.strip()]
        text = "" if shown is None else str(shown).strip()
        if self.kind in ("text", "path"):
            return None if (self.optional and not text) else text
        if not text:
            if self.optional:
                return None
            raise ConfigError(f"{self.label}: a value is needed")
        return parse_scalar(text)


def form_fields(
    config_class: type, choices: dict[str, tuple[Any, ...]] | None = None, defaults: Any = None
) -> list[FormField]:
    """The fields of ``config_class`` (a dataclass with defaults), nested configs flattened.
    choices: field name -> allowed values, for string fields whose choices live elsewhere
    (a registry): they become dropdowns. defaults: an instance whose values the form starts
    from (a preset), else ``config_class()``."""
    return _flatten(defaults if defaults is not None else config_class(), choices or {}, prefix="")


def _flatten(defaults: Any, choices: dict[str, tuple[Any, ...]], prefix: str) -> list[FormField]:
    # a nested config's defaults are the parent's (its default_factory), not the nested class's own
    hints = typing.get_type_hints(type(defaults))
    fields: list[FormField] = []
    for field in dataclasses.fields(defaults):
        name = prefix + field.name
        default = getattr(defaults, field.name)
        if dataclasses.is_dataclass(hints[field.name]):
            fields += _flatten(default, choices, prefix=f"{name}.")
        else:
            fields.append(_field(name, hints[field.name], default, choices.get(name)))
    return fields


def _field(name: str, hint: Any, default: Any, choices: tuple[Any, ...] | None) -> FormField:
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        rest = tuple(a for a in args if a is not type(None))
        hint = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007  # a runtime union
    origin = typing.get_origin(hint)
    if choices is not None:
        return FormField(name, "choice", default, optional, tuple(choices))
    if origin is Literal:
        return FormField(name, "choice", default, optional, typing.get_args(hint))
    if hint is bool:
        return FormField(name, "bool", default, optional)
    if hint is int:
        return FormField(name, "int", default, optional)
    if hint is float:
        return FormField(name, "float", default, optional)
    if hint is str:
        return FormField(name, "text", default, optional)
    if hint is Path:
        return FormField(name, "path", default, optional)
    if origin is tuple and typing.get_args(hint) == (str, Ellipsis):
        return FormField(name, "names", default, optional)
    return FormField(name, "value", default, optional)


def form_values(
    fields: list[FormField],
    shown: list[Any] | tuple[Any, ...],
    resolve_path: Callable[[str], Path] | None = None,
) -> dict[str, Any]:
    """The page's values, in ``fields`` order -> nested plain data for ``from_dict``.
    resolve_path: the guard every typed path goes through; without one, a form with a path
    typed into it is refused."""
    if len(shown) != len(fields):
        raise ValueError(f"{len(fields)} fields but {len(shown)} values")
    data: dict[str, Any] = {}
    for field, value in zip(fields, shown, strict=True):
        node = data
        *parents, leaf = field.name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = field.read(value)
        if field.kind == "path" and node[leaf] is not None:
            if resolve_path is None:
                raise ConfigError(f"{field.label}: paths cannot be given here")
            node[leaf] = str(resolve_path(node[leaf]))
    return data


# What each option does, shown under its field (the CLI's help, for fields the CLI names).
FIELD_HELP = {
    "f0_method": "Pitch method.",
    "key_shift_semitones": "Key shift in semitones (+12 = one octave up).",
    "speaker": "Speaker id (or name, for RIFT).",
    "index_rate": "How much of the retrieved index features to use (0-1).",
    "protect": "Protect voiceless consonants and breaths (0-0.5; 0.5 = off).",
    "rms_mix_rate": "1 keeps the output's loudness, 0 follows the input's.",
    "filter_radius": "Median filter radius for harvest (>= 3 filters).",
    "output_sample_rate": "Resample the output to this rate (empty = the model's rate).",
    "fill_unvoiced": "Interpolate f0 through unvoiced frames (current RVC); off = classic RVC.",
    "quiet_point_rule": "How long audio is cut at quiet points: current or classic (2023) RVC.",
    "infer_steps": "Sampling steps of the flow.",
    "ds_cfg_strength": "Content/pitch guidance strength.",
    "spk_cfg_strength": "Speaker guidance strength.",
    "skip_cfg_strength": "Skip-layer guidance strength (needs cfg skip layers).",
    "cfg_skip_layers": "Blocks the skip-layer guidance leaves out: a number or a list like [6, 7].",
    "cfg_rescale": "Rescale of the guided velocity towards the conditional one's spread.",
    "robust_f0": "0: RMVPE only; 1: fill its gaps from dio/Praat; 2: median ensemble.",
    "target_lufs": "Loudness the input is normalised to before conversion.",
    "restore_loudness": "Give the output the input's loudness.",
    "solver": "ODE solver: euler is the reference's.",
    "sample_rate": "Sample rate of the voice model to train.",
    "piece_s": "Piece length (RVC uses 3.0 s on CPU and small GPUs).",
    "version": "v1 (256-d content features) or v2 (768-d).",
    "split_type": "random or stratified (per speaker) test split.",
    "only_include_speakers": "Comma-separated speakers (stratified split); empty = all.",
    "features": "Which files to write, comma-separated: mel, rms, f0, cvec.",
}
