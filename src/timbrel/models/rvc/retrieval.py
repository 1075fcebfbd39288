"""The retrieval index: build it from training features, search it, blend retrieved features in.

The index is a faiss ``IVF<n>,Flat`` index over squared L2 distance, built the reference way
(``train/train_index.py``): rows shuffled, reduced to k-means centroids above a size
threshold, IVF list count ``max(1, min(int(16·√n), n // 39))``, vectors added in batches.
faiss is imported only here and only when used (extra ``[index]``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    import faiss

REDUCE_ABOVE_VECTORS = 200_000
REDUCED_CENTROIDS = 10_000
ADD_BATCH_ROWS = 8192
SEARCH_K = 8


class Permutation(Protocol):
    """What shuffles the rows: ``np.random.RandomState`` (as the reference's global RNG) or a Generator."""

    def permutation(self, n: int) -> np.ndarray: ...


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            "the retrieval index needs faiss: pip install 'timbrel[index]' (faiss-cpu)"
        ) from error
    return faiss


def ivf_list_count(n_vectors: int) -> int:
    """The reference's number of IVF lists for n vectors (after any k-means reduction)."""
    return max(1, min(int(16 * math.sqrt(n_vectors)), n_vectors // 39))


def index_file_name(stage: str, n_lists: int, experiment: str, version: str) -> str:
    """The reference file name, e.g. ``added_IVF21_Flat_nprobe_1_tinyexp_v2.index``.

    stage: "trained" (after training the IVF lists) or "added" (with every vector added).
    """
    if stage not in ("trained", "added"):
        raise ValueError(f"stage {stage!r} is not 'trained' or 'added'")
    return f"{stage}_IVF{n_lists}_Flat_nprobe_1_{experiment}_{version}.index"


class RetrievalIndex:
    """A faiss IVF-Flat index with the reference's search and blending rules."""

    def __init__(self, index: faiss.Index):
        self.index = index
        self._vectors: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def n_vectors(self) -> int:
        return int(self.index.ntotal)

    @property
    def n_lists(self) -> int:
        return int(import_faiss().extract_index_ivf(self.index).nlist)

    @property
    def vectors(self) -> np.ndarray:
        """(n_vectors, dim) float32, every stored vector in id order (reconstructed once)."""
        if self._vectors is None:
            self._vectors = self.index.reconstruct_n(0, self.n_vectors)
        return self._vectors

    def search(
        self, queries: np.ndarray, k: int = SEARCH_K, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """queries: (t, dim) float32 -> squared L2 distances (t, k) float32, ids (t, k) int64.

        ``nprobe`` (lists visited) defaults to the value stored in the index (1 for reference files).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (t, {self.dim}), got {queries.shape}")
        if nprobe is None:
            return self.index.search(queries, k)
        ivf = import_faiss().extract_index_ivf(self.index)
        stored = ivf.nprobe
        ivf.nprobe = nprobe
        try:
            return self.index.search(queries, k)
        finally:
            ivf.nprobe = stored

    def retrieve(self, queries: np.ndarray, k: int = SEARCH_K, nprobe: int | None = None) -> np.ndarray:
        """queries: (t, dim) -> (t, dim): the k nearest stored vectors weighted by 1/distance².

        Distances are already squared L2, so the weights fall off as 1/‖·‖⁴. Where a query
        coincides with stored vectors (distance 0) the reference divides by zero and returns
        NaN; here the weights take their limit, an equal share for the zero-distance vectors.
        Missing neighbours (id -1) index from the end as in the reference; their distance is
        the float maximum, so their weight is 0.
        """
        distances, ids = self.search(queries, k, nprobe)
        with np.errstate(divide="ignore"):
            weight = np.square(1 / distances)
        exact = distances == 0
        exact_rows = exact.any(axis=1)
        weight[exact_rows] = exact[exact_rows].astype(np.float32)
        weight /= weight.sum(axis=1, keepdims=True)
        return np.sum(self.vectors[ids] * np.expand_dims(weight, axis=2), axis=1)


def blend_features(features: Tensor, retrieved: Tensor, index_rate: float) -> Tensor:
    """features, retrieved: (..., t, dim) -> index_rate·retrieved + (1 - index_rate)·features."""
    if not 0.0 <= index_rate <= 1.0:
        raise ValueError(f"index_rate {index_rate} is outside [0, 1]")
    return retrieved.to(features.dtype) * index_rate + (1 - index_rate) * features


def retrieve_and_blend(
    index: RetrievalIndex, features: Tensor, index_rate: float, k: int = SEARCH_K, nprobe: int | None = None
) -> Tensor:
    """features: (1, t, dim) or (t, dim) float32 content features at 50 fps -> blended, same shape.

    index_rate 0 returns the features unchanged without searching, as the reference does.
    """
    if index_rate == 0:
        return features
    frames = features.reshape(-1, features.shape[-1])
    retrieved = index.retrieve(frames.detach().cpu().numpy(), k, nprobe)
    retrieved_t = torch.from_numpy(retrieved).to(features.device).reshape(features.shape)
    return blend_features(features, retrieved_t, index_rate)


def build_index(
    features: np.ndarray,
    rng: Permutation | None = None,
    *,
    reduce_above: int = REDUCE_ABOVE_VECTORS,
    reduced_centroids: int = REDUCED_CENTROIDS,
    kmeans_seed: int = 1234,
    add_batch_rows: int = ADD_BATCH_ROWS,
) -> tuple[RetrievalIndex, RetrievalIndex]:
    """features: (n, dim) float32, the training features in sorted file order -> (trained, added).

    ``rng`` shuffles the rows (the reference uses numpy's global RNG: pass
    ``np.random.RandomState(seed)`` to reproduce a run seeded with ``np.random.seed(seed)``; None
    gives an unseeded shuffle). Above ``reduce_above`` vectors the set is replaced by
    ``reduced_centroids`` k-means centroids (the reference uses scikit-learn's unseeded
    MiniBatchKMeans; this uses faiss's k-means with ``kmeans_seed``, so that step matches the
    reference only in kind). Returns the index right after training (empty, the reference's
    ``trained_*`` file) and after adding every vector (its ``added_*`` file).
    """
    faiss = import_faiss()
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty (n, dim) array, got shape {features.shape}")
    rng = rng if rng is not None else np.random.default_rng()
    big = features[rng.permutation(features.shape[0])]
    if big.shape[0] > reduce_above:
        kmeans = faiss.Kmeans(big.shape[1], reduced_centroids, seed=kmeans_seed)
        kmeans.train(np.ascontiguousarray(big))
        big = kmeans.centroids.astype(np.float32)
    big = np.ascontiguousarray(big)
    n_lists = ivf_list_count(big.shape[0])
    index = faiss.index_factory(big.shape[1], f"IVF{n_lists},Flat")
    faiss.extract_index_ivf(index).nprobe = 1
    index.train(big)
    trained = faiss.clone_index(index)
    for start in range(0, big.shape[0], add_batch_rows):
        index.add(big[start : start + add_batch_rows])
    return RetrievalIndex(trained), RetrievalIndex(index)
