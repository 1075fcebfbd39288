"""An RVC voice from its files: the exported model (.pth, or a bundle's), HuBERT, the pitch
networks and the retrieval index. ``timbrel.models.registry`` names these entry points."""

from __future__ import annotations

from pathlib import Path

import torch

from timbrel.core.errors import BadInputError
from timbrel.features.pitch.f0_stats import F0Stats
from timbrel.models.registry import WeightPaths
from timbrel.models.rvc.pipeline import RVCVoice
from timbrel.models.rvc.retrieval import RetrievalIndex
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.weights.bundle import BundleContents
from timbrel.weights.cache import find_weight
from timbrel.weights.hubert import load_hubert
from timbrel.weights.pitch_models import PitchModels
from timbrel.weights.rvc import build_synthesizer, load_voice_model, read_training_f0_stats
from timbrel.weights.rvc_index import index_from_bytes, read_index
from timbrel.weights.voice_bundle import rvc_voice_file


def load_voice(source: Path | BundleContents, weights: WeightPaths, device: torch.device) -> RVCVoice:
    """An RVC .pth or a verified bundle -> its voice on ``device``; an index given in ``weights``
    replaces a bundled one, and must match the model's content width."""
    synthesizer = _synthesizer(source)
    path = source.path if isinstance(source, BundleContents) else source
    retrieval = _retrieval(source, weights.index)
    if retrieval is not None and retrieval.dim != synthesizer.config.content_dim:
        raise BadInputError(
            weights.index,
            f"holds {retrieval.dim}-dimensional features; the {synthesizer.config.version} model "
            f"{path.name} uses {synthesizer.config.content_dim}",
        )
    return RVCVoice(
        synthesizer.to(device),
        load_hubert(find_weight("hubert", weights.hubert)).to(device),
        PitchModels(weights.rmvpe, device),
        retrieval,
        _training_f0_stats(source),
    )


def export_onnx(
    source: Path | BundleContents, output_dir: Path, name: str, vocoder: str | Path | None
) -> list[Path]:
    """The synthesizer with RVC's ONNX inputs -> ``output_dir/<name>.onnx`` (RVC has no vocoder)."""
    from timbrel.weights.onnx_graphs import export_rvc_synthesizer

    path = source.path if isinstance(source, BundleContents) else source
    return [export_rvc_synthesizer(_synthesizer(source), output_dir / f"{name}.onnx", path)]


def use_onnx_synthesizer(voice: RVCVoice, source: Path) -> None:
    """Swap the voice's synthesizer for its ONNX export (in a temporary folder) opened in
    onnxruntime, on the CPU."""
    import tempfile

    from timbrel.weights.onnx_graphs import OnnxSynthesizer, export_rvc_synthesizer

    with tempfile.TemporaryDirectory(prefix="timbrel-onnx-") as folder:
        graph = export_rvc_synthesizer(voice.synthesizer.cpu(), Path(folder) / "synthesizer.onnx", source)
        voice.synthesizer = OnnxSynthesizer.open(graph)


def _synthesizer(source: Path | BundleContents) -> Synthesizer:
    if isinstance(source, BundleContents):
        return build_synthesizer(rvc_voice_file(source))
    return load_voice_model(source)


def _retrieval(source: Path | BundleContents, index: str | Path | None) -> RetrievalIndex | None:
    if index is not None:
        return read_index(index)
    if isinstance(source, BundleContents) and source.index is not None:
        return index_from_bytes(source.index, source.path)
    return None


def _training_f0_stats(source: Path | BundleContents) -> F0Stats | None:
    if not isinstance(source, BundleContents):
        return read_training_f0_stats(source)
    stats = source.sidecar.get("training_f0_hz") if source.sidecar else None
    return F0Stats.from_dict(stats) if stats else None
