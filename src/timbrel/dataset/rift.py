"""RIFT training-set preparation: per-recording resampling and loudness, and meta_info.json.

Layout: ``<data_dir>/<speaker>/<name>.wav``; a speaker is a sub-folder holding at least one
``*.wav`` (case-sensitive). Each recording is rewritten as 16-bit PCM at 44.1 kHz, normalised to
-18 LUFS with the 0.99 peak guard (scripts/resample_normalize_audios.py), and
``meta_info.json`` lists the speakers and the train/test split (scripts/prepare_data_meta.py),
drawn from Python's Mersenne Twister in the reference's call sequence so that a seed gives the
same split.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from timbrel.audio import io
from timbrel.audio.loudness import normalize_loudness, require_one_block
from timbrel.audio.resample import resample, resample_kaiser_best
from timbrel.core.audio import Audio
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import visible_files, write_text_atomic


@dataclass(frozen=True)
class RIFTDataDir:
    """A RIFT dataset folder: ``<speaker>/<stem>.wav`` with the feature files beside each wav, and
    ``meta_info.json``; every path the stages read or write in it."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def meta_info(self) -> Path:
        return self.root / "meta_info.json"

    @property
    def dataset_check(self) -> Path:
        return self.root / "dataset_check.json"

    def wav(self, speaker: str, stem: str) -> Path:
        return self.root / speaker / f"{stem}.wav"


# Speakers the reference never puts in the stratified test set (substring match on the name).
EXCLUDED_FROM_TEST = (
    "gtsinger-DE",
    "gtsinger-ES",
    "gtsinger-FR",
    "gtsinger-IT",
    "gtsinger-KO",
    "gtsinger-RU",
    "Tenor",
    "Bass",
    "ManRaw",
)


@dataclass(frozen=True)
class RIFTPrepareConfig:
    """The reference's resample_normalize_audios.py settings. ``resampler``: resampy's kaiser_best
    as the reference, or soxr HQ (faster; it differs from kaiser_best by a few 1e-6 inside the
    signal for content well below the lower rate's Nyquist, and by up to 6e-3 for white noise,
    whose top ~10% of the band the two filters' transition bands treat differently)."""

    sample_rate: int = 44100
    target_lufs: float = -18.0
    headroom: float = 0.99
    loudness_block_s: float = 0.4
    subtype: Literal["PCM_16"] = "PCM_16"
    resampler: Literal["kaiser_best", "soxr_hq"] = "kaiser_best"

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if not 0 < self.headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {self.headroom}")
        if self.resampler not in ("kaiser_best", "soxr_hq"):
            raise ValueError(f"resampler must be kaiser_best or soxr_hq, got {self.resampler!r}")


@dataclass(frozen=True)
class RIFTRecording:
    """samples: (n,) float64 at ``sample_rate``, before quantisation to the output subtype.
    input_lufs: the loudness measured before the gain; peak_scale: the clipping factor or None."""

    samples: np.ndarray
    sample_rate: int
    input_lufs: float
    peak_scale: float | None


def prepare_recording(samples: np.ndarray, sample_rate: int, config: RIFTPrepareConfig) -> RIFTRecording:
    """samples: (n,) or (channels, n) as decoded -> mono (channel mean in float64), resampled,
    loudness-normalised. Raises ValueError for a recording shorter than one loudness block or
    silent."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"prepare_recording takes non-empty (n,) or (channels, n) samples, got {x.shape}")
    # Checked at the input rate too: resampling a few samples fails with a less useful message.
    require_one_block(x.shape[0], sample_rate, config.loudness_block_s)
    if sample_rate != config.sample_rate:
        convert = resample_kaiser_best if config.resampler == "kaiser_best" else resample
        x = convert(x, sample_rate, config.sample_rate)
    normalized = normalize_loudness(
        x, config.sample_rate, config.target_lufs, config.headroom, config.loudness_block_s
    )
    return RIFTRecording(
        normalized.samples, config.sample_rate, normalized.measured_lufs, normalized.peak_scale
    )


def write_recording(path: str | Path, recording: RIFTRecording, config: RIFTPrepareConfig) -> None:
    """Write (or overwrite) ``path`` atomically in the output subtype."""
    # float64 goes to libsndfile unrounded: rounding to float32 first changes some 16-bit codes
    io.save(path, Audio(recording.samples.reshape(1, -1), recording.sample_rate), subtype=config.subtype)


def discover_speakers(data_dir: str | Path) -> dict[str, list[str]]:
    """-> {speaker: sorted wav stems}, speakers in directory-listing order (as the reference's
    ``Path.iterdir()``, so a random split is reproducible only on the same listing order)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise ConfigError(f"data directory {root} does not exist or is not a folder")
    speakers = {}
    for entry in root.iterdir():
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        stems = [f.name[: -len(".wav")] for f in visible_files(entry, "*.wav")]
        if stems:
            speakers[entry.name] = stems
    return speakers


def _entry(speaker: str, stem: str) -> dict[str, str]:
    return {"speaker": speaker, "file_name": stem}


def split_meta_info(
    speaker_files: Mapping[str, Sequence[str]],
    split: Literal["random", "stratified"] = "random",
    num_test: int = 20,
    num_test_per_speaker: int = 1,
    only_include_speakers: Sequence[str] | None = None,
    seed: int = 42,
    excluded: Sequence[str] = EXCLUDED_FROM_TEST,
) -> dict[str, list]:
    """speaker_files: {speaker: sorted stems} in iteration order -> the meta_info.json content
    ``{"speakers", "train_audios", "test_audios"}``.

    The draws come from ``random.Random(seed)``, the same sequence as the reference's
    ``random.seed(seed)`` and module-level calls, without touching the global generator.
    random: one ``sample`` of ``num_test`` over all files; ``only_include_speakers`` is ignored.
    stratified: per speaker ``sample(files, num_test_per_speaker)`` (all files when fewer). A
    speaker is excluded from the test set, with no draw, when any excluded string is a substring
    of its name; with ``only_include_speakers`` the names of all other speakers are excluded
    strings too.
    """
    speakers = sorted(speaker_files)
    train: list[dict[str, str]] = []
    test: list[dict[str, str]] = []
    if split == "random":
        everything = [_entry(s, f) for s, files in speaker_files.items() for f in files]
        if num_test > len(everything):
            raise ConfigError(f"num_test={num_test} exceeds the {len(everything)} recordings found")
        test = random.Random(seed).sample(everything, num_test)
        chosen = {(e["speaker"], e["file_name"]) for e in test}
        train = [e for e in everything if (e["speaker"], e["file_name"]) not in chosen]
    elif split == "stratified":
        excluded = list(excluded)
        if only_include_speakers is not None:
            keep = set(only_include_speakers)
            excluded += [s for s in speaker_files if s not in keep]
        rng = random.Random(seed)
        for speaker, files in speaker_files.items():
            files = list(files)
            if any(name in speaker for name in excluded):
                train += [_entry(speaker, f) for f in files]
                continue
            picked = files if len(files) < num_test_per_speaker else rng.sample(files, num_test_per_speaker)
            test += [_entry(speaker, f) for f in picked]
            train += [_entry(speaker, f) for f in files if f not in set(picked)]
    else:
        raise ConfigError(f"split must be 'random' or 'stratified', got {split!r}")
    return {"speakers": speakers, "train_audios": train, "test_audios": test}


@dataclass(frozen=True)
class SplitConfig:
    """How meta_info.json divides the recordings (the reference's prepare_data_meta.py flags).
    only_include_speakers: empty means every speaker (it matters to the stratified split only)."""

    split_type: Literal["random", "stratified"] = field(
        default="random", metadata={"help": "random or stratified (per speaker) test split."}
    )
    num_test: int = field(default=20, metadata={"help": "Test files in a random split."})
    num_test_per_speaker: int = field(
        default=1, metadata={"help": "Test files per speaker in a stratified split."}
    )
    only_include_speakers: tuple[str, ...] = field(
        default=(), metadata={"help": "Comma-separated speakers (stratified split); empty = all."}
    )
    seed: int = field(default=42, metadata={"help": "Seed of the split."})


def build_meta_info(data_dir: str | Path, split: SplitConfig) -> dict[str, list]:
    """Discover ``data_dir``'s speakers and split their recordings."""
    return split_meta_info(
        discover_speakers(data_dir),
        split.split_type,
        split.num_test,
        split.num_test_per_speaker,
        split.only_include_speakers or None,
        split.seed,
    )


def write_meta_info(data_dir: str | Path, meta_info: Mapping[str, list]) -> Path:
    """Write ``<data_dir>/meta_info.json`` atomically (UTF-8, indent 4, as the reference); an
    identical file is left alone, so a resumed preparation changes nothing."""
    path = RIFTDataDir(data_dir).meta_info
    text = json.dumps(meta_info, ensure_ascii=False, indent=4)
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        write_text_atomic(path, text)
    return path


@dataclass(frozen=True)
class MetaInfo:
    """meta_info.json: speakers (sorted; their order gives the speaker indices) and the two splits as
    (speaker, file stem) pairs."""

    speakers: tuple[str, ...]
    train: tuple[tuple[str, str], ...]
    test: tuple[tuple[str, str], ...]

    @property
    def speaker_ids(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.speakers)}


def read_meta_info(path: str | Path) -> MetaInfo:
    """Parse a meta_info.json (write_meta_info writes it) with a clear error for a malformed one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        speakers = tuple(str(s) for s in data["speakers"])

        def split(key: str) -> tuple[tuple[str, str], ...]:
            return tuple((str(e["speaker"]), str(e["file_name"])) for e in data[key])

        meta = MetaInfo(speakers, split("train_audios"), split("test_audios"))
    except FileNotFoundError:
        raise BadInputError(path, "no meta_info.json: run `timbrel prepare rift` first") from None
    except (ValueError, KeyError, TypeError) as error:
        raise BadInputError(path, f"not a RIFT meta_info.json ({type(error).__name__}: {error})") from error
    unknown = sorted({s for s, _ in meta.train + meta.test} - set(meta.speakers))
    if unknown:
        raise BadInputError(path, f"entries name speakers missing from 'speakers': {unknown}")
    return meta


def split_entries(data_dir: str | Path, meta: MetaInfo, split: str) -> list[tuple[int, Path]]:
    """(speaker index, `<data_dir>/<speaker>/<stem>.wav`) for the "train" or "test" split."""
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    ids = meta.speaker_ids
    layout = RIFTDataDir(data_dir)
    return [(ids[s], layout.wav(s, stem)) for s, stem in getattr(meta, split)]
