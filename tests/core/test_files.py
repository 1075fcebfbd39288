from __future__ import annotations

import os

import pytest

from timbrel.core.files import (
    atomic_path,
    is_temporary,
    remove_stale_temporaries,
    visible_files,
    write_text_atomic,
)


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_atomic_write_gives_the_mode_a_plain_write_gives(tmp_path):
    plain, atomic = tmp_path / "plain.txt", tmp_path / "atomic.txt"
    plain.write_text("x")
    write_text_atomic(atomic, "x")
    assert atomic.stat().st_mode == plain.stat().st_mode
    os.chmod(atomic, 0o640)
    write_text_atomic(atomic, "y")
    assert atomic.stat().st_mode & 0o777 == 0o640


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.wav"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".wav"
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_a_killed_writers_temporary_is_recognised_and_removed(tmp_path):
    target = tmp_path / "features" / "0_1.wav.npy"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    stale = tmp  # what a SIGKILL before the rename leaves behind
    stale.write_bytes(b"half")
    kept = [target, tmp_path / "features" / ".hidden-notes", tmp_path / "x.tmp", tmp_path / ".x.tmp"]
    for path in kept[1:]:
        path.write_bytes(b"keep")
    assert is_temporary(stale) and not any(is_temporary(p) for p in kept)
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert all(p.exists() for p in kept) and not stale.exists()


def test_visible_files_leave_out_hidden_files_and_folders(tmp_path):
    for name in ("b/1.npy", "a/2.npy", "a/.3.abcd1234.tmp.npy", ".ledger/4.npy", "a/5.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "a" / "dir.npy").mkdir()
    assert visible_files(tmp_path, "*/*.npy") == [tmp_path / "a" / "2.npy", tmp_path / "b" / "1.npy"]
    assert visible_files(tmp_path / "a", "*.npy") == [tmp_path / "a" / "2.npy"]
    assert visible_files(tmp_path / "absent") == []
