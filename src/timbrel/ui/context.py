"""What every tab shares: the workspace, the standard weights the server was started with, and
the voice model loaded last (loading one takes seconds; converting many clips reuses it)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from timbrel import api
from timbrel.core.device import CPU, Placement
from timbrel.models.base import VoiceModel
from timbrel.ui.workspace import Workspace


@dataclass
class UIContext:
    """hubert, rmvpe, contentvec, vocoder: standard weights given when the server started (None:
    the cache of `timbrel download`). They are server settings, not page fields, so the page
    cannot point the server at any file. placement: where conversion and extraction run (a server
    setting too)."""

    workspace: Workspace
    hubert: Path | None = None
    rmvpe: Path | None = None
    contentvec: Path | None = None
    vocoder: Path | None = None
    placement: Placement = CPU
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _voice_key: tuple | None = field(default=None, repr=False)
    _voice: VoiceModel | None = field(default=None, repr=False)

    def voice(self, model: Path, index: Path | None) -> VoiceModel:
        """The loaded model, reused while neither file has changed."""
        key = tuple((str(p), p.stat().st_mtime_ns) if p is not None else None for p in (model, index))
        with self._lock:
            if self._voice_key != key:
                self._voice = api.load(
                    model,
                    index=index,
                    hubert=self.hubert,
                    rmvpe=self.rmvpe,
                    contentvec=self.contentvec,
                    vocoder=self.vocoder,
                    device=str(self.placement.device),
                    precision=self.placement.precision,
                )
                self._voice_key = key
            return self._voice
