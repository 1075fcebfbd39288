"""Reading and writing RVC .index files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_module
from timbrel.core.errors import BadInputError
from timbrel.models.rvc.retrieval import build_index, index_file_name
from timbrel.weights.rvc_index import added_index_path, read_index, write_index

require_module("faiss", "the retrieval index needs the [index] extra (faiss-cpu)")


def test_write_read_round_trip(tmp_path):
    features = np.random.default_rng(0).standard_normal((300, 32)).astype(np.float32)
    _, added = build_index(features, np.random.RandomState(0))
    path = tmp_path / index_file_name("added", added.n_lists, "exp", "v2")
    write_index(path, added)
    again = read_index(path)
    assert np.array_equal(again.vectors, added.vectors)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_trained_path_is_redirected_to_added():
    assert added_index_path("logs/x/trained_IVF21_Flat_nprobe_1_x_v2.index") == Path(
        "logs/x/added_IVF21_Flat_nprobe_1_x_v2.index"
    )


def test_bad_files_are_named(tmp_path):
    with pytest.raises(BadInputError, match="no such index file"):
        read_index(tmp_path / "absent.index")
    junk = tmp_path / "junk.index"
    junk.write_bytes(b"not an index at all")
    with pytest.raises(BadInputError, match=r"junk\.index"):
        read_index(junk)
