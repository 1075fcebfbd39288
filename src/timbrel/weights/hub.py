"""`timbrel download`: the standard weights from the Hugging Face Hub into Timbrel's cache.

Every file is checked before it is placed: against the sha256 recorded in the catalogue, else the
sha256 the Hub reports for an LFS file (its ETag), else the git blob hash the Hub reports for a small
file. A file that does not match is removed and the download refused. Transfers go to
``<cache>/.partial/`` first; a transfer cut short resumes where it stopped, both within a run
(huggingface_hub retries with a Range request) and in the next run (the partial file is kept).
A checked file is moved into place with one rename, so a reader never sees half a file.

``HF_ENDPOINT`` selects a mirror and ``HF_HUB_OFFLINE=1`` forbids network access; both are read
when a download starts, not when the module is imported. Offline, files already in the cache are
checked against the recorded checksums and anything missing is an error that says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from timbrel.core.errors import ConfigError, TimbrelError
from timbrel.core.files import sha256_of, write_text_atomic
from timbrel.weights.cache import MissingWeightError, cache_dir
from timbrel.weights.catalogue import GROUPS, STANDARD_WEIGHTS, HubFile, HubSource, StandardWeight

DEFAULT_ENDPOINT = "https://huggingface.co"
PARTIAL_DIR = ".partial"
# What was verified and placed, so that a later run (offline too) can check files without the Hub.
CHECKSUMS_FILE = "checksums.json"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")
_TRUE = {"1", "ON", "YES", "TRUE"}


class DownloadError(TimbrelError):
    """A download that could not be made or could not be trusted."""


class ChecksumMismatchError(DownloadError):
    """A downloaded file whose content is not the expected one; it has been removed."""

    def __init__(self, name: str, path_in_repo: str, expected: str, actual: str):
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{name}: {path_in_repo} failed its checksum (expected {expected}, got {actual}); "
            "the file was removed. Try again, or check the mirror set in HF_ENDPOINT."
        )


@dataclass(frozen=True)
class FileOutcome:
    """One file of a weight: where it is, its sha256, and what this run did for it."""

    path: Path
    sha256: str
    size_bytes: int
    downloaded_bytes: int = 0
    resumed_from_bytes: int = 0
    verified: bool = True


@dataclass(frozen=True)
class DownloadOutcome:
    name: str
    path: Path
    files: tuple[FileOutcome, ...]

    @property
    def downloaded_bytes(self) -> int:
        return sum(f.downloaded_bytes for f in self.files)

    @property
    def verified(self) -> bool:
        return all(f.verified for f in self.files)


def is_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set to a true value."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in _TRUE


def hub_endpoint() -> str:
    """The Hub or mirror to download from: $HF_ENDPOINT, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def resolve(names: Iterable[str]) -> list[StandardWeight]:
    """Weights named directly or through a group, each once, in the order given."""
    chosen: dict[str, StandardWeight] = {}
    for name in names:
        if name == "all":
            members: Sequence[str] = list(STANDARD_WEIGHTS)
        elif name in GROUPS:
            members = GROUPS[name]
        elif name in STANDARD_WEIGHTS:
            members = (name,)
        else:
            raise ConfigError(
                f"unknown weight {name!r}; choose from the groups {sorted(GROUPS)} or 'all', "
                f"or the single weights {sorted(STANDARD_WEIGHTS)}"
            )
        for member in members:
            chosen.setdefault(member, STANDARD_WEIGHTS[member])
    return list(chosen.values())


def licence_notice(weights: Iterable[StandardWeight]) -> str:
    """The licence of each weight, with the non-commercial ones called out."""
    weights = [w for w in weights if w.source is not None]
    width = max((len(w.name) for w in weights), default=0)
    lines = ["Licences of the weights to download:"]
    lines += [f"  {w.name:<{width}}  {w.source.licence}" for w in weights]
    restricted = [w for w in weights if w.source.non_commercial]
    if restricted:
        lines.append(
            "NON-COMMERCIAL: "
            + ", ".join(w.name for w in restricted)
            + " may be used for non-commercial purposes only. Read the terms before using them,"
            " or anything made with them, commercially:"
        )
        upstreams = dict.fromkeys(w.source.upstream for w in restricted if w.source.upstream)
        lines += [f"  {url}" for url in upstreams]
    return "\n".join(lines)


def download(
    weights: Iterable[StandardWeight],
    *,
    endpoint: str | None = None,
    offline: bool | None = None,
    say: Callable[[str], None] | None = None,
) -> list[DownloadOutcome]:
    """Fetch each weight into the cache (or confirm the cached copy), in order.

    ``endpoint`` and ``offline`` default to $HF_ENDPOINT and $HF_HUB_OFFLINE. Raises
    ChecksumMismatchError, DownloadError, or MissingWeightError (offline and not cached).
    """
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    offline = is_offline() if offline is None else offline
    return [fetch(weight, endpoint=endpoint, offline=offline, say=say) for weight in weights]


def fetch(
    weight: StandardWeight,
    *,
    endpoint: str,
    offline: bool,
    say: Callable[[str], None] | None = None,
) -> DownloadOutcome:
    """One weight: every file checked, missing or damaged ones downloaded, then placed atomically."""
    source = weight.source
    if source is None:
        raise ConfigError(f"{weight.name} has no download source; get it with {weight.how_to_get}")
    root = cache_dir()
    target = root / source.target
    (root / PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
    # One process at a time per weight: a second `timbrel download` waits, then finds the files
    # in place instead of appending to the same partial file.
    with _lock(root / PARTIAL_DIR / f"{weight.name}.lock"):
        records = _read_records(root)
        staged: list[tuple[HubFile, Path, FileOutcome]] = []
        kept: list[FileOutcome] = []
        for hub_file in source.files:
            final = target / hub_file.basename if source.folder else target
            outcome, part = _ensure_file(weight, source, hub_file, final, records, endpoint, offline, say)
            if part is None:
                kept.append(outcome)
            else:
                staged.append((hub_file, part, outcome))
        if staged:
            _place(source, target, [(part, outcome.path) for _, part, outcome in staged])
            _record(root, source, [(hub_file, outcome) for hub_file, _, outcome in staged])
    by_path = {o.path: o for o in kept} | {o.path: o for _, _, o in staged}
    files = tuple(by_path[target / f.basename if source.folder else target] for f in source.files)
    return DownloadOutcome(weight.name, target, files)


def _ensure_file(
    weight: StandardWeight,
    source: HubSource,
    hub_file: HubFile,
    final: Path,
    records: dict[str, dict],
    endpoint: str,
    offline: bool,
    say: Callable[[str], None] | None,
) -> tuple[FileOutcome, Path | None]:
    """The cached file if it checks out (part None), else a verified download staged at ``part``."""
    rel = final.relative_to(cache_dir()).as_posix()
    expected = hub_file.sha256 or records.get(rel, {}).get("sha256")
    present_sha = sha256_of(final) if final.is_file() else None
    if present_sha is not None and present_sha == expected:
        return FileOutcome(final, present_sha, final.stat().st_size), None
    if offline:
        if present_sha is not None and expected is None:
            # Placed by hand and never downloaded: there is nothing to check it against offline.
            return FileOutcome(final, present_sha, final.stat().st_size, verified=False), None
        state = "does not match its checksum" if present_sha is not None else "is not in the cache"
        raise MissingWeightError(
            f"{weight.name}: {final} {state}, and HF_HUB_OFFLINE is set so it cannot be downloaded. "
            f"Unset HF_HUB_OFFLINE and run `timbrel download {weight.name}`, or {weight.how_to_get}."
        )

    get_hf_file_metadata, hf_hub_url = _hub_client()
    url = hf_hub_url(source.repo_id, hub_file.path, revision=source.revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, endpoint=endpoint)
    except Exception as error:  # the Hub client raises its HTTP library's own types
        raise DownloadError(f"{weight.name}: cannot get {url}: {error}") from error
    hub_etag = (metadata.etag or "").lower()
    hub_sha256 = hub_etag if _SHA256.fullmatch(hub_etag) else None
    hub_git_sha1 = hub_etag if _GIT_SHA1.fullmatch(hub_etag) else None
    if hub_file.sha256 and hub_sha256 and hub_sha256 != hub_file.sha256:
        raise DownloadError(
            f"{weight.name}: {endpoint} serves a different {hub_file.path} (sha256 {hub_sha256}) than "
            f"the one Timbrel expects ({hub_file.sha256}); nothing was downloaded"
        )
    if hub_file.size_bytes and metadata.size and metadata.size != hub_file.size_bytes:
        raise DownloadError(
            f"{weight.name}: {endpoint} serves {hub_file.path} with {metadata.size} bytes, "
            f"expected {hub_file.size_bytes}; nothing was downloaded"
        )
    want_sha256 = hub_file.sha256 or hub_sha256
    if want_sha256 is None and hub_git_sha1 is None:
        raise DownloadError(
            f"{weight.name}: {endpoint} gives no checksum for {hub_file.path} (ETag {metadata.etag!r}), "
            "so the download cannot be verified; refusing it"
        )
    if present_sha is not None and (
        present_sha == want_sha256 or (want_sha256 is None and git_blob_sha1_of(final) == hub_git_sha1)
    ):
        return FileOutcome(final, present_sha, final.stat().st_size), None

    part_dir = cache_dir() / PARTIAL_DIR
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / f"{source.repo_id.replace('/', '--')}--{want_sha256 or hub_git_sha1}.part"
    resumed_from = part.stat().st_size if part.exists() else 0
    if metadata.size is not None and resumed_from > metadata.size:
        part.unlink()
        resumed_from = 0
    if say is not None:
        resumed = f", resuming at {resumed_from} bytes" if resumed_from else ""
        say(f"{weight.name}: downloading {source.repo_id}/{hub_file.path}{resumed}")
    _transfer(metadata.location, url, part, resumed_from, metadata.size, hub_file.path, weight.name)

    actual_sha256 = sha256_of(part)
    if want_sha256 is not None and actual_sha256 != want_sha256:
        part.unlink()
        raise ChecksumMismatchError(weight.name, hub_file.path, want_sha256, actual_sha256)
    if want_sha256 is None and (actual_git := git_blob_sha1_of(part)) != hub_git_sha1:
        part.unlink()
        raise ChecksumMismatchError(weight.name, hub_file.path, f"git {hub_git_sha1}", f"git {actual_git}")
    size = part.stat().st_size
    return FileOutcome(final, actual_sha256, size, size - resumed_from, resumed_from), part


def _hub_client():
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
    except ImportError:
        raise DownloadError(
            "downloads need huggingface_hub: pip install 'timbrel[hub]' (or pip install huggingface_hub)"
        ) from None
    return get_hf_file_metadata, hf_hub_url


def _transfer(
    location: str, url: str, part: Path, resume_size: int, size: int | None, label: str, name: str
) -> None:
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers()
    if urlparse(location).netloc != urlparse(url).netloc:
        headers.pop("authorization", None)  # a redirect to a CDN must not receive the Hub token
    try:
        # Append mode: the bytes already in the partial file are kept and the rest is requested.
        with part.open("ab") as stream:
            http_get(
                location,
                stream,
                resume_size=resume_size,
                headers=headers,
                expected_size=size,
                displayed_filename=label,
            )
    except Exception as error:  # network and HTTP errors of the Hub client's HTTP library
        kept = part.stat().st_size if part.exists() else 0
        raise DownloadError(
            f"{name}: the download of {label} failed ({error}); {kept} bytes are kept in {part} "
            "and the next run resumes from there"
        ) from error


def _place(source: HubSource, target: Path, moves: list[tuple[Path, Path]]) -> None:
    """Move verified files into place, each with one rename.

    A folder that does not exist yet is assembled beside the cache and renamed into place whole,
    so `find_weight` never finds a folder with some of its files missing.
    """
    if source.folder and not target.exists():
        staging = target.parent / PARTIAL_DIR / f"{target.name}.{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        for part, final in moves:
            os.replace(part, staging / final.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)
        return
    for part, final in moves:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, final)


def git_blob_sha1_of(path: Path) -> str:
    """The hash git (and the Hub's ETag for a file outside LFS) gives a file's content."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _lock(path: Path):
    from filelock import FileLock  # a dependency of huggingface_hub

    return FileLock(str(path))


def _record(root: Path, source: HubSource, placed: list[tuple[HubFile, FileOutcome]]) -> None:
    """Add the placed files to the checksum records (re-read under a lock: other weights may be
    downloading in other processes)."""
    with _lock(root / PARTIAL_DIR / "records.lock"):
        records = _read_records(root)
        for hub_file, outcome in placed:
            records[outcome.path.relative_to(root).as_posix()] = {
                "sha256": outcome.sha256,
                "size_bytes": outcome.size_bytes,
                "repo_id": source.repo_id,
                "path_in_repo": hub_file.path,
                "revision": source.revision,
            }
        _write_records(root, records)


def _read_records(root: Path) -> dict[str, dict]:
    try:
        return json.loads((root / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_records(root: Path, records: dict[str, dict]) -> None:
    write_text_atomic(root / CHECKSUMS_FILE, json.dumps(records, indent=2, sort_keys=True) + "\n")
