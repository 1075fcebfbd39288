"""RIFT-SVC's frame loudness (RMSExtractor): linear RMS on the log-mel's framing.

The squared signal is reflect-padded like the mel's STFT input and averaged over unwindowed
frames of window_length every hop_length, so RMS frame i lines up with mel frame i.
"""

from __future__ import annotations

import torch

from timbrel.features.stft import reflect_pad_for_frames


def frame_rms(samples: torch.Tensor, hop_length: int = 512, window_length: int = 2048) -> torch.Tensor:
    """samples: (b, n) -> rms (b, n // hop_length), linear amplitude."""
    squared = reflect_pad_for_frames(samples.square(), window_length, hop_length)
    frames = squared.unfold(-1, window_length, hop_length)
    return frames.mean(dim=-1).sqrt()
