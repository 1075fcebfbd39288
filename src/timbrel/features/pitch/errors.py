"""Errors of pitch extraction that a user can meet."""

from __future__ import annotations

from timbrel.core.errors import TimbrelError


class PitchError(TimbrelError):
    """A signal or f0 curve the requested pitch step cannot work with."""


class AllUnvoicedError(PitchError):
    """No frame is voiced, so there is nothing to interpolate from (RVC skips such files)."""
