"""The retrieval index: reference search results, blending, and building the reference's file."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from tests import parity
from tests.conftest import require_module
from tests.parity import magnitude
from timbrel.models.rvc.retrieval import (
    blend_features,
    build_index,
    import_faiss,
    index_file_name,
    ivf_list_count,
    retrieve_and_blend,
)
from timbrel.weights.rvc_index import read_index

require_module("faiss", "the retrieval index needs the [index] extra (faiss-cpu)")


@pytest.fixture(scope="module")
def index_dir(fixtures):
    return fixtures / "rvc" / "index"


@pytest.fixture(scope="module")
def index_io(index_dir):
    return torch.load(index_dir / "index_io.pt", weights_only=True)


@pytest.fixture(scope="module")
def meta(index_dir):
    return json.loads((index_dir / "meta.json").read_text())


def assert_distances_close(got, expected, queries, vectors) -> None:
    """faiss's float32 squared L2 over dim terms, ‖q‖² + ‖x‖² − 2q·x on some paths: its rounding
    is relative to ‖q‖² + ‖x‖², not to the (smaller) distance."""
    scale = float(
        (queries.astype(np.float64) ** 2).sum(-1).max() + (vectors.astype(np.float64) ** 2).sum(-1).max()
    )
    parity.float32_close(got, expected, terms=queries.shape[-1], scale=scale, what="faiss distances")


def assert_retrieved_close(got, expected, vectors) -> None:
    """Σ w·x over the neighbours with w ∝ 1/distance²: a distance's relative rounding (float32 over
    dim terms) enters the weights twice."""
    scale = magnitude(vectors)
    tolerance = 2 * parity.float32_tolerance(scale, vectors.shape[-1])
    parity.within(got, expected, tolerance, kind="float32 retrieval", scale=scale, what="retrieved")


def _features(index_io) -> np.ndarray:
    by_file = index_io["features_by_file"]
    return np.concatenate([by_file[name].numpy() for name in sorted(by_file)])


def test_reference_index_search_and_blend(index_dir, index_io, meta):
    index = read_index(index_dir / meta["added_index_file"])
    assert (index.n_vectors, index.dim, index.n_lists) == (meta["ntotal"], meta["d"], meta["nlist"])
    queries = index_io["queries"].numpy()
    distances, ids = index.search(queries, k=index_io["search_k8_ids"].shape[1])
    assert np.array_equal(ids, index_io["search_k8_ids"].numpy())
    assert_distances_close(distances, index_io["search_k8_distances"], queries, index.vectors)
    retrieved = index.retrieve(queries)
    assert_retrieved_close(retrieved, index_io["retrieved_weighted"], index.vectors)
    (blend_key,) = [key for key in index_io if key.startswith("blended_index_rate_")]
    index_rate = float(blend_key.removeprefix("blended_index_rate_").replace("_", "."))
    blended = retrieve_and_blend(index, index_io["queries"][None], index_rate)
    assert blended.shape == (1, *index_io["queries"].shape)
    assert_retrieved_close(blended[0], index_io[blend_key], index.vectors)


def test_building_reproduces_the_reference_file(index_dir, index_io, meta):
    features = _features(index_io)
    assert ivf_list_count(features.shape[0]) == meta["nlist"]
    # the experiment and version are in the reference's file name, the seed in meta.json's note
    experiment, version = re.fullmatch(
        r"added_IVF\d+_Flat_nprobe_\d+_(.+)_(v[12])\.index", meta["added_index_file"]
    ).groups()
    name = index_file_name("added", meta["nlist"], experiment, version)
    assert name == meta["added_index_file"]
    assert index_file_name("trained", meta["nlist"], experiment, version) == meta["trained_index_file_name"]
    # The reference shuffled with numpy's global RNG seeded before the script ran.
    seed = int(re.search(r"seeded to (\d+)", meta["note"])[1])
    trained, added = build_index(features, np.random.RandomState(seed))
    assert trained.n_vectors == 0 and added.n_vectors == features.shape[0]
    reference = read_index(index_dir / name)
    queries = index_io["queries"].numpy()
    distances, ids = added.search(queries)
    assert np.array_equal(ids, index_io["search_k8_ids"].numpy())
    assert_distances_close(distances, index_io["search_k8_distances"], queries, added.vectors)
    assert np.array_equal(added.vectors, reference.vectors)
    faiss = import_faiss()
    assert faiss.serialize_index(added.index).tobytes() == (index_dir / name).read_bytes()


def test_large_sets_are_reduced_to_centroids():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((600, 16)).astype(np.float32)
    _, added = build_index(features, np.random.RandomState(0), reduce_above=500, reduced_centroids=50)
    assert added.n_vectors == 50
    assert added.n_lists == ivf_list_count(50) == 1


def test_ivf_list_count_rule():
    assert ivf_list_count(855) == 21
    assert ivf_list_count(10) == 1
    assert ivf_list_count(10_000) == min(16 * 100, 10_000 // 39)


def test_exact_match_gets_the_limit_weight_not_nan(index_dir, meta):
    index = read_index(index_dir / meta["added_index_file"])
    stored = index.vectors[:3]
    retrieved = index.retrieve(stored)
    assert np.isfinite(retrieved).all()
    np.testing.assert_array_equal(retrieved, stored)
    # The limit the exact match takes: a query δ away weighs its nearest vector by 1/|δ|⁴, so the
    # retrieved vector approaches the stored one as δ⁴ (an answer that echoed the query: as δ).
    direction = np.random.default_rng(0).standard_normal(stored.shape).astype(np.float32)
    direction *= (
        0.05
        * np.linalg.norm(stored, axis=1, keepdims=True)
        / np.linalg.norm(direction, axis=1, keepdims=True)
    )
    error = [np.linalg.norm(index.retrieve(stored + direction / 2**n) - stored, axis=1) for n in (0, 1)]
    assert np.all(error[0] / error[1] > 8)


def test_index_rate_zero_skips_and_bad_rate_is_refused(index_dir, meta, index_io):
    index = read_index(index_dir / meta["added_index_file"])
    features = index_io["queries"]
    assert retrieve_and_blend(index, features, 0.0) is features
    with pytest.raises(ValueError, match=r"1\.5"):
        blend_features(features, features, 1.5)


def test_reference_conversion_search_and_blend(fixtures):
    """The e2e fixture's index, searched with the HuBERT features of its short input."""
    e2e = fixtures / "rvc" / "e2e"
    settings = json.loads((e2e / "settings.json").read_text())
    (chunk,) = torch.load(e2e / "intermediates_short.pt", weights_only=True)["chunks"]
    index = read_index(e2e / settings["index_file"])
    assert (index.n_vectors, index.n_lists) == (settings["index"]["ntotal"], settings["index"]["nlist"])
    features = chunk["feats_before_blend"]
    distances, ids = index.search(features[0].numpy())
    assert np.array_equal(ids, chunk["search_ids"].numpy())
    assert_distances_close(distances, chunk["search_distances"], features[0].numpy(), index.vectors)
    blended = retrieve_and_blend(index, features, settings["settings"]["index_rate"])
    assert_retrieved_close(blended, chunk["feats_after_blend"], index.vectors)


def test_probing_every_list_is_exhaustive_search(index_dir, meta, index_io):
    index = read_index(index_dir / meta["added_index_file"])
    queries = index_io["queries"].numpy()
    distances, ids = index.search(queries, k=5, nprobe=index.n_lists)
    brute = ((queries[:, None, :].astype(np.float64) - index.vectors[None].astype(np.float64)) ** 2).sum(-1)
    assert np.array_equal(ids, np.argsort(brute, axis=1, kind="stable")[:, :5])
    assert_distances_close(distances, np.sort(brute, axis=1)[:, :5], queries, index.vectors)
    assert np.array_equal(index.search(queries)[1], index_io["search_k8_ids"].numpy())  # stored nprobe kept
