"""The voice models in the workspace (models/<name>/): what each file is, and importing new ones.

Metadata is read through the same loaders conversion uses (they refuse files that would run
code), and kept per file version so that listing a folder of large models stays quick.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from timbrel.core.errors import BadInputError, TimbrelError
from timbrel.dataset.rvc import RVCExperiment
from timbrel.ui.workspace import Workspace
from timbrel.weights.rift import read_lightning_file
from timbrel.weights.rvc import read_voice_model
from timbrel.weights.rvc_index import read_index

MODEL_SUFFIXES = (".pth", ".ckpt", ".zip")  # .zip: Timbrel bundles (.timbrel.zip)
INDEX_SUFFIXES = (".index",)
COLUMNS = ("model", "family", "version", "f0", "sample rate", "speakers", "index", "info")


@dataclass(frozen=True)
class ModelCard:
    """One voice model file as the models table shows it."""

    family: str
    version: str = ""
    use_f0: bool | None = None
    sample_rate: int | None = None
    speakers: str = ""
    info: str = ""


def read_card(path: Path) -> ModelCard:
    """An RVC .pth, RIFT .ckpt or Timbrel bundle -> its metadata; an unreadable file raises BadInputError."""
    stat = path.stat()
    try:
        return _read_card(path, stat.st_mtime_ns, stat.st_size)
    except TimbrelError:
        raise
    except Exception as error:
        # torch's safe unpickler lets some malformed files through as IndexError and the like
        raise BadInputError(
            path, f"cannot be read as a voice model ({type(error).__name__}: {error})"
        ) from None


@functools.lru_cache(maxsize=256)
def _read_card(path: Path, mtime_ns: int, size: int) -> ModelCard:
    suffix = path.suffix.lower()
    if suffix == ".pth":
        voice = read_voice_model(path)
        return ModelCard(
            family="rvc",
            version=voice.version,
            use_f0=voice.use_f0,
            sample_rate=voice.config.sample_rate,
            speakers=str(voice.config.n_speakers),
            info=voice.info,
        )
    if suffix == ".ckpt":
        data = read_lightning_file(path)
        cfg = (data.get("hyper_parameters") or {}).get("cfg")
        if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
            raise BadInputError(path, "no hyper_parameters.cfg.model: not a RIFT-SVC checkpoint")
        model = cfg["model"]
        speakers = cfg.get("spk2idx") or {}
        return ModelCard(
            family="rift",
            version=f"DiT dim {model.get('dim')} depth {model.get('depth')}",
            use_f0=True,
            sample_rate=44100,
            speakers=", ".join(sorted(speakers, key=speakers.get)),
            info=f"step {data.get('global_step', '?')}",
        )
    if suffix == ".zip":
        from timbrel import api

        description = api.describe_model(path)  # verifies every part of the bundle
        return ModelCard(
            family=description.family,
            version=description.version or "",
            use_f0=description.use_f0,
            sample_rate=description.sample_rate,
            speakers=", ".join(description.speakers)
            if description.family == "rift"
            else str(len(description.speakers)),
            info=description.info,
        )
    raise BadInputError(path, f"not a voice model: expected one of {list(MODEL_SUFFIXES)}")


def voice_model_files(workspace: Workspace) -> list[str]:
    """Workspace paths of the voice models: everything under models/, the exported models of RVC
    experiments (experiments/<name>/weights/*.pth; G_/D_ training checkpoints are not voice
    models), and RIFT checkpoints wherever training wrote them (not under uploads/ or outputs/)."""
    found = set(workspace.files("models", MODEL_SUFFIXES))
    found |= {p for p in workspace.files("experiments", (".pth",)) if RVCExperiment.holding(p)}
    found |= {p for p in workspace.files("", (".ckpt",)) if Path(p).parts[0] not in ("uploads", "outputs")}
    return sorted(found)


def indexes_for(path: Path) -> list[Path]:
    """The retrieval indexes that go with a model: beside it, or in its experiment folder."""
    experiment = RVCExperiment.holding(path)
    folder = experiment.root if experiment is not None else path.parent
    return sorted(folder.glob("*.index"))


def model_rows(workspace: Workspace) -> list[list[str]]:
    """One row per voice model (voice_model_files), in COLUMNS order; unreadable files say why."""
    rows = []
    for relative in voice_model_files(workspace):
        path = workspace.root / relative
        indexes = [p.name for p in indexes_for(path)]
        try:
            card = read_card(path)
        except TimbrelError as error:
            rows.append([relative, "?", "", "", "", "", ", ".join(indexes), f"unreadable: {error}"])
            continue
        rows.append(
            [
                relative,
                card.family,
                card.version,
                "" if card.use_f0 is None else ("yes" if card.use_f0 else "no"),
                "" if card.sample_rate is None else str(card.sample_rate),
                card.speakers,
                ", ".join(indexes),
                card.info,
            ]
        )
    return rows


def import_model(workspace: Workspace, name: str, model: Path, index: Path | None = None) -> Path:
    """Check ``model`` (and ``index``) and copy them into models/<name>/; returns the model's new path.
    Nothing is copied when a file is unreadable or the folder already holds a file of that name."""
    if model.suffix.lower() not in MODEL_SUFFIXES:
        raise BadInputError(model, f"not a voice model: expected one of {list(MODEL_SUFFIXES)}")
    card = read_card(model)
    if index is not None:
        if card.family != "rvc":
            raise BadInputError(index, "a retrieval index goes with an RVC .pth model only")
        if index.suffix.lower() not in INDEX_SUFFIXES:
            raise BadInputError(index, "a retrieval index is a .index file")
        read_index(index)
    folder = workspace.named("models", name)
    sources = [model] if index is None else [model, index]
    taken = [p.name for p in sources if (folder / p.name).exists()]
    if taken:
        raise BadInputError(folder, f"already holds {taken}; choose another name")
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copyfile(source, folder / source.name)
    return folder / model.name
