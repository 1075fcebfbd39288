"""Finding weight files inside installed packages without importing them."""

from __future__ import annotations

import hashlib

import pytest

from timbrel.core.errors import BadInputError
from timbrel.core.files import sha256_of
from timbrel.weights.packaged import find_packaged_file, package_folder


def test_missing_package_says_where_it_looked_and_how_to_install():
    with pytest.raises(BadInputError) as error:
        find_packaged_file("timbrel_no_such_package", "assets/x.pt", "pip install --no-deps nothing==1")
    message = str(error.value)
    assert "'timbrel_no_such_package' is not installed" in message
    assert "pip install --no-deps nothing==1" in message


def test_missing_file_in_an_installed_package_names_the_path():
    folder = package_folder("timbrel")
    assert folder is not None and (folder / "__init__.py").is_file()
    with pytest.raises(BadInputError, match=str(folder / "assets" / "none.pt")):
        find_packaged_file("timbrel", "assets/none.pt", "pip install timbrel")


def test_user_path_wins_and_must_exist(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"abc")
    assert find_packaged_file("timbrel_no_such_package", "x", "hint", path) == path
    assert sha256_of(path) == hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(BadInputError, match="no such weight file"):
        find_packaged_file("timbrel", "x", "hint", tmp_path / "absent.pt")
