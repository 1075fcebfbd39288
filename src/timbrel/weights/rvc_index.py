"""RVC retrieval index files (``*.index``, faiss's own serialisation) and the reference naming rules."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from timbrel.core.errors import BadInputError
from timbrel.core.files import atomic_path
from timbrel.models.rvc.retrieval import RetrievalIndex, import_faiss


def added_index_path(path: str | Path) -> Path:
    """The reference loads the ``added`` index even when given the ``trained`` one's path."""
    return Path(str(path).replace("trained", "added"))


def read_index(path: str | Path) -> RetrievalIndex:
    """Read a faiss IVF index file (any existing RVC ``.index``)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "no such index file")
    faiss = import_faiss()
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as error:
        raise BadInputError(
            path, f"not a readable faiss index (truncated, corrupt or another format): {_faiss_reason(error)}"
        ) from None
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        raise BadInputError(path, f"not an IVF index (found {type(index).__name__})") from None
    _check_consistent(path, index, ivf, faiss)
    return RetrievalIndex(index)


def index_from_bytes(data: bytes, where: str | Path) -> RetrievalIndex:
    """A faiss IVF index from the bytes of an ``.index`` file (e.g. a bundle's part)."""
    import numpy as np

    faiss = import_faiss()
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        faiss.extract_index_ivf(index)
    except RuntimeError as error:
        raise BadInputError(where, f"not a faiss IVF index: {str(error).strip().splitlines()[0]}") from None
    return RetrievalIndex(index)


def _check_consistent(path: Path, index, ivf, faiss) -> None:
    """faiss reads the header's counts as given; a damaged header reads "successfully" and then
    breaks retrieval, so the counts are checked against the lists the file really holds."""
    if not index.is_trained:
        raise BadInputError(path, "the index is not trained: its header is damaged or it was never built")
    if ivf.quantizer.d != index.d or ivf.quantizer.ntotal != ivf.nlist:
        raise BadInputError(
            path,
            f"damaged header: {ivf.nlist} lists of dimension {index.d}, but the coarse quantizer holds "
            f"{ivf.quantizer.ntotal} centroids of dimension {ivf.quantizer.d}",
        )
    if not np.isfinite(ivf.quantizer.reconstruct_n(0, ivf.nlist)).all():
        raise BadInputError(path, "damaged centroids: the coarse quantizer holds NaN or infinite values")
    sizes = [ivf.invlists.list_size(i) for i in range(ivf.nlist)]
    if sum(sizes) != index.ntotal:
        raise BadInputError(
            path, f"damaged header: it claims {index.ntotal} vectors but its lists hold {sum(sizes)}"
        )
    for i, size in enumerate(sizes):
        ids = faiss.rev_swig_ptr(ivf.invlists.get_ids(i), size) if size else np.zeros(0)
        if size and (ids.min() < 0 or ids.max() >= index.ntotal):
            raise BadInputError(path, f"damaged list {i}: vector ids outside 0..{index.ntotal - 1}")


def _faiss_reason(error: RuntimeError) -> str:
    """faiss's message names its own source file first; keep what it says went wrong."""
    text = " ".join(str(error).split())
    match = re.search(r"Error: (.*)", text)
    return (match.group(1) if match else text)[:200]


def write_index(path: str | Path, index: RetrievalIndex) -> None:
    """Write ``index`` atomically in faiss's format."""
    faiss = import_faiss()
    with atomic_path(path) as tmp:
        faiss.write_index(index.index, str(tmp))
