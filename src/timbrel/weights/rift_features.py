"""RIFT-SVC's per-utterance feature files (spec 2.6): `<stem>.{mel,rms,f0,cvec}.pt` next to `<stem>.wav`,
each a plain `torch.save` of one float32 tensor (Timbrel's extraction writes the same files)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from torch import Tensor

from timbrel.core.errors import BadInputError
from timbrel.features.pitch.f0_stats import F0Stats
from timbrel.models.rift.data import UtteranceFeatures
from timbrel.weights.torch_file import read_torch_file

SUFFIXES = {"mel": ".mel.pt", "rms": ".rms.pt", "f0_hz": ".f0.pt", "content": ".cvec.pt"}
_RANKS = {"mel": 3, "rms": 2, "f0_hz": 1, "content": 2}


def _read_tensor(path: Path) -> Tensor:
    if not path.exists():
        raise BadInputError(path, "feature file missing: run `timbrel extract rift` first")
    tensor = read_torch_file(path, "feature file", mmap=True)
    if not isinstance(tensor, Tensor):
        raise BadInputError(path, f"expected one tensor, found {type(tensor).__name__}")
    return tensor


def load_utterance_features(wav: str | Path) -> UtteranceFeatures:
    """`<dir>/<stem>.wav` -> the four tensors stored beside it, shapes checked."""
    wav = Path(wav)
    stem = wav.name[: -len(wav.suffix)] if wav.suffix else wav.name
    tensors = {}
    for name, suffix in SUFFIXES.items():
        path = wav.with_name(stem + suffix)
        tensor = _read_tensor(path)
        if tensor.dim() != _RANKS[name]:
            raise BadInputError(path, f"expected a {_RANKS[name]}-D tensor, got shape {tuple(tensor.shape)}")
        tensors[name] = tensor
    return UtteranceFeatures(**tensors)


def speaker_f0_stats(data_dir: str | Path, speakers: Iterable[str]) -> dict[str, F0Stats]:
    """Each speaker's voiced f0 statistics over the extracted tracks `<data_dir>/<speaker>/*.f0.pt`;
    a speaker without voiced frames has none (auto_key then refuses that speaker, naming it)."""
    stats = {}
    for speaker in speakers:
        folder = Path(data_dir) / speaker
        files = sorted(folder.glob("*" + SUFFIXES["f0_hz"]))
        if not files:
            raise BadInputError(folder, "no f0 tracks (*.f0.pt): run `timbrel extract rift` first")
        tracks = [_read_tensor(path).numpy() for path in files]
        if any((track > 0).any() for track in tracks):
            stats[speaker] = F0Stats.from_f0(tracks)
    return stats
