"""RVC retrieval index files (``*.index``, faiss's own serialisation) and the reference naming rules."""

from __future__ import annotations

from pathlib import Path

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
        raise BadInputError(path, f"not a faiss index: {str(error).strip().splitlines()[0]}") from None
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        raise BadInputError(path, f"not an IVF index (found {type(index).__name__})") from None
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


def write_index(path: str | Path, index: RetrievalIndex) -> None:
    """Write ``index`` atomically in faiss's format."""
    faiss = import_faiss()
    with atomic_path(path) as tmp:
        faiss.write_index(index.index, str(tmp))
