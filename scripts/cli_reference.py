"""Write docs/cli.md from the CLI itself: every command, its arguments and options with their help.

.venv/bin/python scripts/cli_reference.py          # rewrite docs/cli.md
.venv/bin/python scripts/cli_reference.py --check  # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import typer

from timbrel.cli import app

TARGET = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    found = []
    for name in sorted(group.commands):
        command = group.commands[name]
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            found += _commands(command, path)
        else:
            found.append((path, command))
    return found


def _row(parameter: click.Parameter) -> str:
    if parameter.param_type_name == "argument":
        name = f"`{parameter.name.upper()}`" + (" ..." if parameter.nargs == -1 else "")
        return f"| {name} | {getattr(parameter, 'help', '') or ''} |"
    names = ", ".join(f"`{n}`" for n in parameter.opts + parameter.secondary_opts)
    default = parameter.default
    shown = "" if default in (None, (), [], False) or callable(default) else f" (default: `{default}`)"
    required = " **required**" if parameter.required else ""
    return f"| {names} | {(parameter.help or '').replace('|', '/')}{shown}{required} |"


def render() -> str:
    root = typer.main.get_command(app)
    lines = [
        "# Command-line reference",
        "",
        "Generated from the CLI by `scripts/cli_reference.py`; do not edit by hand.",
        "",
    ]
    for path, command in _commands(root, "timbrel"):
        lines += [f"## `{path}`", "", (command.help or "").strip(), ""]
        rows = [_row(p) for p in command.params if p.name != "help"]
        if rows:
            lines += ["| name | meaning |", "|---|---|", *rows, ""]
    return "\n".join(lines)


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run scripts/cli_reference.py", file=sys.stderr)
            sys.exit(1)
        return
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)


if __name__ == "__main__":
    main()
