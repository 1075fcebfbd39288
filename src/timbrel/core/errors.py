"""The exceptions users see. Each names the bad thing and what was expected."""

from __future__ import annotations

from pathlib import Path


class TimbrelError(Exception):
    """Base class of every error Timbrel raises on purpose."""


class BadInputError(TimbrelError):
    """An input file that cannot be used, with the reason in one line."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelOutputError(TimbrelError):
    """A model produced audio that must not be written (NaN or infinite samples)."""


class ConfigError(TimbrelError):
    """A configuration value that is missing, of the wrong type or out of range."""
