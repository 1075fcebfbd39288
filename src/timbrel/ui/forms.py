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
    (anything else, typed as JSON or a bare word). help: what the option does, from the config
    field's ``metadata["help"]`` (the CLI shows the same text).
    """

    name: str
    kind: Kind
    default: Any
    optional: bool = False
    choices: tuple[Any, ...] = ()
    help: str | None = None

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
            kind, optional, allowed = _kind(hints[field.name], choices.get(name))
            fields.append(FormField(name, kind, default, optional, allowed, field.metadata.get("help")))
    return fields


def _kind(hint: Any, choices: tuple[Any, ...] | None) -> tuple[Kind, bool, tuple[Any, ...]]:
    """A field's type hint -> (kind, optional, choices)."""
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        rest = tuple(a for a in args if a is not type(None))
        hint = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007  # a runtime union
    origin = typing.get_origin(hint)
    if choices is not None:
        return "choice", optional, tuple(choices)
    if origin is Literal:
        return "choice", optional, typing.get_args(hint)
    if hint is bool:
        return "bool", optional, ()
    if hint is int:
        return "int", optional, ()
    if hint is float:
        return "float", optional, ()
    if hint is str:
        return "text", optional, ()
    if hint is Path:
        return "path", optional, ()
    if origin is tuple and typing.get_args(hint) == (str, Ellipsis):
        return "names", optional, ()
    return "value", optional, ()


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
