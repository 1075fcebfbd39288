"""The exceptions users see. Each names the bad thing and what was expected."""

from __future__ import annotations

from pathlib import Path


def printable(path: str | Path) -> str:
    """``path`` on one line: control characters in a name (a newline) shown as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(path))


class TimbrelError(Exception):
    """Base class of every error Timbrel raises on purpose."""


class BadInputError(TimbrelError):
    """An input file that cannot be used, with the reason in one line."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{printable(self.path)}: {reason}")


class ModelOutputError(TimbrelError):
    """A model produced audio that must not be written (NaN or infinite samples)."""


class ConfigError(TimbrelError):
    """A configuration value that is missing, of the wrong type or out of range."""


class UnusableAudioError(TimbrelError):
    """Audio that decodes but that a stage cannot work with (too short, say); the caller that
    knows which file it came from names it."""


class DeviceMemoryError(TimbrelError):
    """The device ran out of memory, also after the retry with a smaller setting; names the
    setting to lower."""
