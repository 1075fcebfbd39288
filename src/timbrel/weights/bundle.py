"""Timbrel's one-file voice bundle (``<name>.timbrel.zip``): everything a voice needs in one file.

Members (a plain zip, stored uncompressed):
* ``weights.safetensors``: the model's tensors as the source file stored them (RVC: the float16
  export keys without ``enc_q``; RIFT: the DiT state dict);
* ``retrieval.index``: the RVC faiss index, when given;
* ``sidecar.json``: what Timbrel keeps beside a model (the training f0 statistics for auto-key;
  per speaker for RIFT), when the source has it;
* ``timbrel.json``: ``family``, ``format_version``, ``sample_rate``, ``version`` and ``f0`` (RVC),
  ``speakers``, ``info``, ``license``, the family's config (RVC: the 18-item list and its ``sr``
  label; RIFT: the DiT config and the training config) and ``parts``: the sha256 of every other
  member. Reading checks every hash and refuses a bundle whose parts differ, by part name.
Nothing in a bundle is unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from timbrel.core.errors import BadInputError
from timbrel.core.files import write_bytes_atomic
from timbrel.models.registry import FAMILIES

FORMAT_VERSION = 1
SUFFIX = ".timbrel.zip"
CONFIG = "timbrel.json"
WEIGHTS = "weights.safetensors"
INDEX = "retrieval.index"
SIDECAR = "sidecar.json"
_PARTS = (WEIGHTS, INDEX, SIDECAR)


@dataclass(frozen=True)
class BundleContents:
    """config: the parsed timbrel.json; index: the faiss index file's bytes; sidecar: parsed JSON."""

    path: Path
    config: dict[str, Any]
    weights: dict[str, Tensor]
    index: bytes | None
    sidecar: dict[str, Any] | None

    @property
    def family(self) -> str:
        return self.config["family"]

    @property
    def name(self) -> str:
        return bundle_name(self.path)


def is_bundle(path: str | Path) -> bool:
    path = Path(path)
    return path.name.lower().endswith(".zip") and zipfile.is_zipfile(path)


def bundle_name(path: str | Path) -> str:
    name = Path(path).name
    return name[: -len(SUFFIX)] if name.lower().endswith(SUFFIX) else Path(name).stem


def write_bundle(
    path: str | Path,
    config: Mapping[str, Any],
    weights: Mapping[str, Tensor],
    index: bytes | None = None,
    sidecar: Mapping[str, Any] | None = None,
) -> Path:
    """Write a bundle atomically. ``config`` holds the family's entries (without ``parts`` and
    ``format_version``, which this adds)."""
    parts = {WEIGHTS: save_safetensors({k: v.detach().cpu().contiguous() for k, v in weights.items()})}
    if index is not None:
        parts[INDEX] = index
    if sidecar is not None:
        parts[SIDECAR] = (json.dumps(dict(sidecar), indent=2, ensure_ascii=False) + "\n").encode()
    document = {
        **dict(config),
        "format_version": FORMAT_VERSION,
        "parts": {name: hashlib.sha256(data).hexdigest() for name, data in parts.items()},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(CONFIG, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        for name, data in parts.items():
            archive.writestr(name, data)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def read_bundle(path: str | Path) -> BundleContents:
    """Read and verify a bundle: every part present, listed and matching its sha256."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise BadInputError(path, f"not a readable Timbrel bundle (zip): {error}") from None
    if CONFIG not in members:
        raise BadInputError(path, f"not a Timbrel bundle: no {CONFIG}")
    try:
        config = json.loads(members[CONFIG])
    except ValueError as error:
        raise BadInputError(path, f"{CONFIG} is not JSON: {error}") from None
    if not isinstance(config, dict) or config.get("family") not in FAMILIES:
        raise BadInputError(path, f"{CONFIG} names no known family ({' or '.join(FAMILIES)})")
    if config.get("format_version") != FORMAT_VERSION:
        raise BadInputError(
            path, f"format_version {config.get('format_version')!r}; this Timbrel reads {FORMAT_VERSION}"
        )
    parts = config.get("parts")
    if not isinstance(parts, dict) or WEIGHTS not in parts:
        raise BadInputError(path, f"{CONFIG} lists no parts (or no {WEIGHTS})")
    unlisted = sorted(set(members) - set(parts) - {CONFIG})
    if unlisted:
        raise BadInputError(path, f"holds parts its {CONFIG} does not list: {unlisted}")
    for name, digest in parts.items():
        if name not in _PARTS:
            raise BadInputError(path, f"unknown part {name!r}; known: {list(_PARTS)}")
        if name not in members:
            raise BadInputError(path, f"part {name} is missing")
        if hashlib.sha256(members[name]).hexdigest() != digest:
            raise BadInputError(
                path, f"part {name} fails its sha256 check: the bundle was altered or damaged"
            )
    try:
        weights = load_safetensors(members[WEIGHTS])
    except (SafetensorError, ValueError) as error:
        raise BadInputError(path, f"part {WEIGHTS} is not readable safetensors: {error}") from None
    sidecar = None
    if SIDECAR in members:
        try:
            sidecar = json.loads(members[SIDECAR])
        except ValueError as error:
            raise BadInputError(path, f"part {SIDECAR} is not JSON: {error}") from None
    return BundleContents(path, config, weights, members.get(INDEX), sidecar)
