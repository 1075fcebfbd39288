"""The workspace guard: typed paths resolve inside the workspace or are refused."""

from __future__ import annotations

import os

import pytest

from timbrel.core.errors import BadInputError
from timbrel.ui.workspace import Workspace, plain_name


@pytest.fixture
def workspace(tmp_path):
    return Workspace.create(tmp_path / "ws")


def test_create_makes_the_layout(workspace):
    assert sorted(p.name for p in workspace.root.iterdir()) == [
        "datasets", "experiments", "models", "outputs", "uploads",
    ]  # fmt: skip


def test_relative_and_absolute_paths_inside_are_accepted(workspace):
    inside = workspace.root / "models" / "a.pth"
    assert workspace.path("models/a.pth") == inside
    assert workspace.path(str(inside)) == inside
    assert workspace.path("models/../models/./a.pth") == inside
    assert workspace.path(".") == workspace.root


@pytest.mark.parametrize(
    "text", ["..", "../outside.wav", "models/../../outside.wav", "/etc/passwd", "/", "~/x", "models/\0x"]
)
def test_paths_that_leave_are_refused(workspace, text):
    if text.startswith("~"):
        # no home expansion: "~" is an ordinary folder name inside the workspace
        assert workspace.path(text) == workspace.root / "~" / "x"
        return
    with pytest.raises(BadInputError):
        workspace.path(text)


def test_sibling_folder_with_the_same_prefix_is_refused(workspace):
    sibling = workspace.root.parent / (workspace.root.name + "-other")
    sibling.mkdir()
    with pytest.raises(BadInputError, match="outside the workspace"):
        workspace.path(str(sibling))


def test_symlinks_pointing_out_are_refused(workspace, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key.txt").write_text("x")
    os.symlink(outside, workspace.root / "uploads" / "link")
    os.symlink(outside / "key.txt", workspace.root / "file-link")
    for text in ("uploads/link", "uploads/link/key.txt", "file-link", str(workspace.root / "file-link")):
        with pytest.raises(BadInputError, match="outside the workspace"):
            workspace.path(text)


def test_symlinks_staying_inside_are_followed(workspace):
    target = workspace.root / "datasets" / "real"
    target.mkdir()
    os.symlink(target, workspace.root / "uploads" / "alias")
    assert workspace.path("uploads/alias") == target


def test_workspace_root_behind_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    workspace = Workspace.create(tmp_path / "alias")
    assert workspace.root == real
    assert workspace.path(str(tmp_path / "alias" / "models")) == real / "models"


def test_must_exist_and_empty(workspace):
    with pytest.raises(BadInputError, match="no such file"):
        workspace.path("models/missing.pth", must_exist=True)
    with pytest.raises(BadInputError, match="no path"):
        workspace.path("  ")


@pytest.mark.parametrize("name", ["", "..", ".hidden", "a/b", "../x", "a b", "/abs", "x" * 101])
def test_names_must_be_plain(name):
    with pytest.raises(BadInputError):
        plain_name(name)


def test_named_folder_and_new_runs(workspace):
    assert workspace.named("experiments", " exp-1.v2 ") == workspace.root / "experiments" / "exp-1.v2"
    first = workspace.new_run("outputs", "my model")
    second = workspace.new_run("outputs", "my model")
    assert first != second and first.parent == second.parent == workspace.root / "outputs"
    assert first.name.endswith("my_model")


def test_listings(workspace):
    (workspace.root / "models" / "a").mkdir()
    (workspace.root / "models" / "a" / "a.pth").write_bytes(b"")
    (workspace.root / "models" / "a" / "a.index").write_bytes(b"")
    (workspace.root / "experiments" / "e").mkdir()
    (workspace.root / "experiments" / "e" / "b.INDEX").write_bytes(b"")
    (workspace.root / "models" / "a" / ".a.tmp.pth").write_bytes(b"")
    (workspace.root / "models" / ".ledger").mkdir()
    (workspace.root / "models" / ".ledger" / "b.pth").write_bytes(b"")
    assert workspace.files("models", (".pth", ".ckpt")) == ["models/a/a.pth"]
    assert workspace.files("", (".index",)) == ["experiments/e/b.INDEX", "models/a/a.index"]
    assert workspace.children("experiments") == ["e"]


def test_take_uploads_copies(workspace, tmp_path):
    upload = tmp_path / "clip.wav"
    upload.write_bytes(b"RIFF")
    [copy] = workspace.take_uploads([upload], workspace.root / "uploads" / "run")
    assert copy == workspace.root / "uploads" / "run" / "clip.wav" and copy.read_bytes() == b"RIFF"
