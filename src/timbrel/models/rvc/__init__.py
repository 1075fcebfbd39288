"""RVC: VITS-style synthesizer with an NSF decoder and a retrieval index."""

from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.synthesizer import SynthesisTrace, Synthesizer, TrainingOutput

__all__ = ["SynthesisTrace", "Synthesizer", "SynthesizerConfig", "TrainingOutput"]
