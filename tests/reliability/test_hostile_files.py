"""Files built to run code when unpickled, under the name of every weight file Timbrel reads.

Each payload opens (creates) a marker file when unpickled. Plain ``pickle`` or an unrestricted
``torch.load`` of the same bytes does create it (the control), so a loader that refuses the file
and leaves no marker has run nothing. Payloads come in torch's zip format, its legacy format,
and as bare pickles (protocols 2 and 0), either as the whole file or hidden inside an otherwise
valid structure.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from timbrel import api
from timbrel.core.errors import BadInputError
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.weights.hubert import load_hubert
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rift_native import load_rift_model, model_paths, save_rift_model
from timbrel.weights.rmvpe import load_rmvpe
from timbrel.weights.rvc import read_training_checkpoint, read_voice_model
from timbrel.weights.rvc_index import read_index
from timbrel.weights.train_state import read_state


class OpensAFile:
    """Unpickling calls ``builtins.open(marker, "w")``: the marker appears iff code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class ExecutesText:
    """Unpickling calls ``builtins.exec`` on source that creates the marker."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


PAYLOADS = (OpensAFile, ExecutesText)


def _encodings(obj) -> dict[str, Callable[[Path], None]]:
    """How a hostile object reaches the disk: file writers by encoding name."""

    def torch_zip(path: Path) -> None:
        torch.save(obj, path)

    def torch_legacy(path: Path) -> None:
        torch.save(obj, path, _use_new_zipfile_serialization=False)

    def pickle_2(path: Path) -> None:
        path.write_bytes(pickle.dumps(obj, protocol=2))

    def pickle_0(path: Path) -> None:
        path.write_bytes(pickle.dumps(obj, protocol=0))

    return {"zip": torch_zip, "legacy": torch_legacy, "pickle2": pickle_2, "pickle0": pickle_0}


def _rvc_model(fixtures: Path, payload) -> dict:
    root = fixtures / "rvc" / "e2e"
    model = root / json.loads((root / "settings.json").read_text())["model_file"]
    data = torch.load(model, weights_only=True)
    return {**data, "info": payload}


# loader name -> (file name it reads, structure holding the payload, how to call the loader on the file)
def _loaders(fixtures: Path) -> dict[str, tuple[str, Callable, Callable[[Path], object]]]:
    hubert_config = fixtures / "rvc" / "e2e" / "hubert" / "config.json"
    vocoder_config = fixtures / "rift" / "e2e" / "pretrained" / "nsf_hifigan_44.1k_hop512_128bin_2024.02"

    def in_folder(config: Path, loader):
        def call(path: Path):
            shutil.copy(config, path.parent / "config.json")
            return loader(path.parent)

        return call

    return {
        "RVC voice model (.pth)": ("voice.pth", lambda p: _rvc_model(fixtures, p), read_voice_model),
        "RVC voice model via api.load": ("voice2.pth", lambda p: _rvc_model(fixtures, p), api.load),
        "RVC G_*.pth": ("G_10.pth", lambda p: {"model": {}, "iteration": p}, read_training_checkpoint),
        "RVC D_*.pth": ("D_10.pth", lambda p: {"model": {"w": p}}, read_training_checkpoint),
        "hubert_base.pt": ("hubert_base.pt", lambda p: {"model": {}, "cfg": p}, load_hubert),
        "HuBERT folder pytorch_model.bin": (
            "hubert/pytorch_model.bin",
            lambda p: {"encoder.layer_norm.weight": p},
            in_folder(hubert_config, load_hubert),
        ),
        "rmvpe.pt": ("rmvpe.pt", lambda p: {"unet.encoder.bn.weight": p}, load_rmvpe),
        "RIFT-SVC .ckpt": (
            "model-step=2.ckpt",
            lambda p: {"state_dict": {}, "hyper_parameters": {"cfg": p}},
            load_rift_checkpoint,
        ),
        "RIFT-SVC .ckpt via api.load": ("voice.ckpt", lambda p: {"state_dict": p}, api.load),
        "NSF-HiFiGAN model.ckpt": (
            "vocoder/model.ckpt",
            lambda p: {"generator": {"conv_pre.weight": p}},
            in_folder(vocoder_config / "config.json", load_nsf_hifigan),
        ),
        "RVC .index": ("added.index", lambda p: p, read_index),
        "training state": ("train_state_5.pt", lambda p: {"format_version": 1, "state": p}, read_state),
        "Timbrel RIFT model (.safetensors)": ("voice.safetensors", lambda p: {"w": p}, _native_rift),
    }


def _native_rift(path: Path):
    """A valid config beside the hostile weights, so the weights file is what gets read."""
    template = save_rift_model(path.parent / "template", DiT(DiTConfig.tiny()), {"a": 0, "b": 1})
    shutil.copy(model_paths(template)[1], model_paths(path)[1])
    return load_rift_model(path)


def test_the_payloads_run_code_when_unpickled_unsafely(tmp_path):
    for payload in PAYLOADS:
        marker = tmp_path / "marker"
        for encoding, write in _encodings({"x": payload(marker)}).items():
            write(tmp_path / encoding)
            if encoding.startswith("pickle"):
                pickle.loads((tmp_path / encoding).read_bytes())
            else:
                torch.load(tmp_path / encoding, weights_only=False)
            assert marker.exists(), (payload.__name__, encoding)
            marker.unlink()


def test_every_loader_refuses_every_hostile_file_and_runs_nothing(fixtures, tmp_path):
    refused: dict[str, int] = {}
    for loader_name, (file_name, structure, load) in _loaders(fixtures).items():
        for payload in PAYLOADS:
            for hidden in (False, True):
                marker = tmp_path / "marker"
                hostile = payload(marker)
                obj = structure(hostile) if hidden else hostile
                for encoding, write in _encodings(obj).items():
                    folder = tmp_path / f"{len(refused)}-{payload.__name__}-{hidden}-{encoding}"
                    path = folder / file_name
                    path.parent.mkdir(parents=True)
                    write(path)
                    with pytest.raises(BadInputError) as info:
                        load(path)
                    assert not marker.exists(), (loader_name, payload.__name__, encoding, hidden)
                    message = str(info.value)
                    assert path.name in message and "\n" not in message, (loader_name, message)
                    refused[loader_name] = refused.get(loader_name, 0) + 1
    counts = {name: count for name, count in refused.items()}
    (tmp_path / "refused.json").write_text(json.dumps(counts))
    expected = len(PAYLOADS) * 2 * len(_encodings(None))
    assert counts == {name: expected for name in _loaders(fixtures)}, counts
