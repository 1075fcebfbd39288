"""The models table and model import, on the RVC and RIFT end-to-end fixture models."""

from __future__ import annotations

import json
import shutil

import pytest

from timbrel.core.errors import BadInputError
from timbrel.ui.library import COLUMNS, import_model, model_rows, voice_model_files
from timbrel.ui.workspace import Workspace
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rvc import read_voice_model


@pytest.fixture
def workspace(tmp_path):
    return Workspace.create(tmp_path / "ws")


def rvc_files(fixtures):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    return root / settings["model_file"], root / settings["index_file"]


def rift_file(fixtures):
    return next((fixtures / "rift" / "e2e").glob("*.ckpt"))


def test_import_and_list_rvc_and_rift(workspace, fixtures):
    model, index = rvc_files(fixtures)
    imported = import_model(workspace, "tiny", model, index)
    assert imported == workspace.root / "models" / "tiny" / model.name
    assert (workspace.root / "models" / "tiny" / index.name).is_file()
    import_model(workspace, "rift", rift_file(fixtures))
    rows = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in model_rows(workspace)}
    voice = read_voice_model(model)
    assert rows[f"models/tiny/{model.name}"] == {
        "model": f"models/tiny/{model.name}",
        "family": "rvc",
        "version": voice.version,
        "f0": "yes" if voice.use_f0 else "no",
        "sample rate": str(voice.config.sample_rate),
        "speakers": str(voice.config.n_speakers),
        "index": index.name,
        "info": voice.info,
    }
    rift = rows[f"models/rift/{rift_file(fixtures).name}"]
    speakers = load_rift_checkpoint(rift_file(fixtures)).speakers
    assert rift["family"] == "rift"
    assert rift["speakers"] == ", ".join(sorted(speakers, key=speakers.get))


def test_trained_models_are_listed_but_not_training_checkpoints(workspace, fixtures):
    model, index = rvc_files(fixtures)
    experiment = workspace.root / "experiments" / "exp"
    (experiment / "weights").mkdir(parents=True)
    shutil.copyfile(model, experiment / "weights" / "exp.pth")
    shutil.copyfile(model, experiment / "G_2.pth")
    shutil.copyfile(index, experiment / index.name)
    (workspace.root / "ckpts" / "run").mkdir(parents=True)
    shutil.copyfile(rift_file(fixtures), workspace.root / "ckpts" / "run" / "model.ckpt")
    shutil.copyfile(rift_file(fixtures), workspace.root / "uploads" / "upload.ckpt")
    (workspace.root / "models" / ".tmp").mkdir()
    (workspace.root / "models" / ".tmp" / "half.pth").write_bytes(b"")
    assert voice_model_files(workspace) == ["ckpts/run/model.ckpt", "experiments/exp/weights/exp.pth"]
    rows = {row[0]: row for row in model_rows(workspace)}
    assert rows["experiments/exp/weights/exp.pth"][6] == index.name


def test_unreadable_model_is_listed_with_the_reason(workspace):
    folder = workspace.root / "models" / "bad"
    folder.mkdir()
    (folder / "bad.pth").write_bytes(b"not a torch file")
    [row] = model_rows(workspace)
    assert row[1] == "?" and row[-1].startswith("unreadable: ") and "bad.pth" in row[-1]


def test_import_refuses_bad_files_and_taken_names(workspace, fixtures, tmp_path):
    model, index = rvc_files(fixtures)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"junk")
    with pytest.raises(BadInputError, match="not a PyTorch checkpoint"):
        import_model(workspace, "junk", junk)
    with pytest.raises(BadInputError, match="not a voice model"):
        import_model(workspace, "idx", index)
    with pytest.raises(BadInputError, match=r"RVC \.pth model only"):
        import_model(workspace, "r", rift_file(fixtures), index)
    with pytest.raises(BadInputError, match="a name is"):
        import_model(workspace, "../escape", model)
    import_model(workspace, "tiny", model)
    with pytest.raises(BadInputError, match="already holds"):
        import_model(workspace, "tiny", model)
    assert not (workspace.root / "models" / "junk").exists()


def test_models_reached_through_a_copy_are_read_again_after_a_change(workspace, fixtures):
    model, _ = rvc_files(fixtures)
    folder = workspace.root / "models" / "m"
    folder.mkdir()
    shutil.copyfile(model, folder / "m.pth")
    assert model_rows(workspace)[0][1] == "rvc"
    (folder / "m.pth").write_bytes(b"broken now")
    assert model_rows(workspace)[0][1] == "?"
