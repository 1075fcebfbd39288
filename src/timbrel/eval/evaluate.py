"""Evaluate a folder of converted files against their sources and the target singer.

A converted file is matched to the source with the same path relative to its folder, without
the extension (``a/song1.flac`` <- ``a/song1.wav``), else to the only source with the same file
stem. ``references`` (optional) holds recordings of the target singer: all of them make the
target's speaker embedding, and one that shares a converted file's name is also its parallel
reference for MCD. With ``source_is_reference`` (a singer converted to themselves, as in
validation on the held-out split) the source is the MCD reference.

Each metric runs at its own fixed rate (f0: the extractor's; speaker: 16 kHz; DNSMOS: 16 kHz;
MCD: 24 kHz; loudness: the file's own), after a mono downmix.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from timbrel.audio import io
from timbrel.audio.resample import resample
from timbrel.core.audio import Audio
from timbrel.core.errors import BadInputError, ConfigError, TimbrelError
from timbrel.eval import dnsmos as dnsmos_metric
from timbrel.eval import mcd as mcd_metric
from timbrel.eval import speaker as speaker_metric
from timbrel.eval.dnsmos import DNSMOSScores
from timbrel.eval.f0 import F0Metrics, f0_metrics
from timbrel.eval.loudness import loudness_difference_lu
from timbrel.eval.selection import DEFAULT_BEST_METRIC, HIGHER_IS_BETTER
from timbrel.features.pitch.base import PitchExtractor
from timbrel.weights.dnsmos import load_dnsmos

METRIC_GROUPS = ("f0", "speaker", "dnsmos", "mcd", "loudness")


@dataclass(frozen=True)
class EvalConfig:
    """metrics: which groups to compute, from METRIC_GROUPS.
    key_shift_semitones: the shift the conversion applied (the converted f0 should be the source's
    times 2 ** (key_shift_semitones / 12)).
    source_is_reference: use each source as its own MCD reference (held-out reconstruction).
    voice_encoder_weights, dnsmos_model: weight files; None looks in the cache, then in the
    installed resemblyzer / speechmos packages.
    """

    metrics: tuple[str, ...] = METRIC_GROUPS
    key_shift_semitones: float = field(
        default=0.0, metadata={"help": "The key shift the conversion applied, in semitones."}
    )
    source_is_reference: bool = False
    dnsmos_personalized: bool = False
    voice_encoder_weights: Path | None = None
    dnsmos_model: Path | None = None
    best_metric: str = DEFAULT_BEST_METRIC

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(METRIC_GROUPS))
        if unknown:
            raise ConfigError(f"unknown metric group(s) {unknown}; allowed: {list(METRIC_GROUPS)}")
        if self.best_metric not in HIGHER_IS_BETTER:
            raise ConfigError(f"best_metric {self.best_metric!r}; allowed: {sorted(HIGHER_IS_BETTER)}")


@dataclass(frozen=True)
class F0Curves:
    """f0 of the source (already moved by the key shift) and of the output: (frames,), 0 unvoiced."""

    source_f0_hz: np.ndarray
    converted_f0_hz: np.ndarray
    frame_rate_hz: float


@dataclass(frozen=True)
class FileResult:
    name: str
    converted_path: Path
    source_path: Path
    reference_path: Path | None
    duration_s: float
    f0: F0Metrics | None = None
    speaker_similarity: float | None = None
    dnsmos: DNSMOSScores | None = None
    mcd_db: float | None = None
    loudness_difference_lu: float | None = None
    f0_curves: F0Curves | None = field(default=None, repr=False)

    @property
    def metrics(self) -> dict[str, float]:
        """The computed metrics by name (see selection.HIGHER_IS_BETTER for the names)."""
        values: dict[str, float] = {}
        if self.f0 is not None:
            values["f0_rmse_cents"] = self.f0.rmse_cents
            values["f0_correlation"] = self.f0.correlation
            values["vuv_error_rate"] = self.f0.vuv_error_rate
        if self.speaker_similarity is not None:
            values["speaker_similarity"] = self.speaker_similarity
        if self.dnsmos is not None:
            values["dnsmos_sig"] = self.dnsmos.sig
            values["dnsmos_bak"] = self.dnsmos.bak
            values["dnsmos_ovrl"] = self.dnsmos.ovrl
        if self.mcd_db is not None:
            values["mcd_db"] = self.mcd_db
        if self.loudness_difference_lu is not None:
            values["loudness_difference_lu"] = self.loudness_difference_lu
        return values


@dataclass(frozen=True)
class EvalReport:
    """files: one result per matched pair; skipped: (path, reason) for files left out;
    seconds_per_metric: wall time spent in each metric group on the converted files (for
    throughput figures), plus "speaker_references" for embedding the target's references."""

    config: EvalConfig
    files: tuple[FileResult, ...]
    skipped: tuple[tuple[str, str], ...]
    pitch_method: str | None
    speaker_encoder: str | None
    reference_count: int
    seconds_per_metric: dict[str, float]

    @property
    def audio_s(self) -> float:
        return sum(f.duration_s for f in self.files)

    @property
    def summary(self) -> dict[str, float]:
        """Mean of each metric over the files where it is finite (NaN when it is nowhere)."""
        names = [name for name in HIGHER_IS_BETTER if any(name in f.metrics for f in self.files)]
        result = {}
        for name in names:
            values = [f.metrics[name] for f in self.files if name in f.metrics]
            finite = [v for v in values if math.isfinite(v)]
            result[name] = float(np.mean(finite)) if finite else math.nan
        return result

    def score(self, metric: str | None = None) -> float:
        """The summary value of ``metric`` (default config.best_metric), NaN when not computed."""
        return self.summary.get(metric or self.config.best_metric, math.nan)


def _without_suffix(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def match_files(
    converted_dir: Path, source_dir: Path
) -> tuple[list[tuple[str, Path, Path]], list[tuple[str, str]]]:
    """-> ([(name, converted, source)], [(converted path, why unmatched)])."""
    sources = io.audio_files_under(source_dir)
    by_name = {_without_suffix(p, source_dir): p for p in sources}
    by_stem: dict[str, list[Path]] = {}
    for p in sources:
        by_stem.setdefault(p.stem, []).append(p)
    pairs, unmatched = [], []
    for converted in io.audio_files_under(converted_dir):
        name = _without_suffix(converted, converted_dir)
        if name in by_name:
            pairs.append((name, converted, by_name[name]))
        elif len(by_stem.get(converted.stem, [])) == 1:
            pairs.append((name, converted, by_stem[converted.stem][0]))
        else:
            candidates = len(by_stem.get(converted.stem, []))
            why = "no source with that name" if candidates == 0 else f"{candidates} sources share that stem"
            unmatched.append((str(converted), why))
    return pairs, unmatched


def _at(audio: Audio, sample_rate: int) -> np.ndarray:
    samples = audio.mono
    if audio.sample_rate != sample_rate:
        samples = resample(samples, audio.sample_rate, sample_rate)
    return samples


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, group: str, start: float) -> None:
        self.seconds[group] = self.seconds.get(group, 0.0) + time.perf_counter() - start


def evaluate_folder(
    converted_dir: str | Path,
    source_dir: str | Path,
    references: str | Path | None = None,
    config: EvalConfig = EvalConfig(),
    *,
    pitch_extractor: PitchExtractor | None = None,
    speaker_encoder: speaker_metric.SpeakerEncoder | None = None,
    dnsmos_session: Any = None,
    device: torch.device | str = "cpu",
) -> EvalReport:
    """Every metric of ``config.metrics`` for each converted file matched to a source.

    pitch_extractor is required for the "f0" group. The speaker encoder and the DNSMOS session
    are loaded from ``config``'s weight paths when not given (the encoder on ``device``).
    Speaker similarity needs ``references``; without them it is left out. A file that cannot be
    decoded is skipped with its reason; an error is raised when no pair is left.
    """
    converted_dir, source_dir = Path(converted_dir), Path(source_dir)
    for folder in (converted_dir, source_dir, references):
        if folder is not None and not Path(folder).is_dir():
            raise BadInputError(folder, "not a folder")
    groups = set(config.metrics)
    if "f0" in groups and pitch_extractor is None:
        raise ConfigError("the f0 metrics need a pitch extractor: pass pitch_extractor, or leave 'f0' out")
    pairs, skipped = match_files(converted_dir, source_dir)
    if not pairs:
        raise BadInputError(converted_dir, f"no converted audio file matches a source in {source_dir}")
    timer = _Timer()
    reference_files = io.audio_files_under(references) if references is not None else []
    references_by_name = {_without_suffix(p, Path(references)): p for p in reference_files}
    target_embedding = None
    if "speaker" in groups and reference_files:
        start = time.perf_counter()
        speaker_encoder = speaker_encoder or speaker_metric.ResemblyzerEncoder.load(
            config.voice_encoder_weights, device
        )
        clips = [_at(io.load(p), speaker_encoder.sample_rate) for p in reference_files]
        target_embedding = speaker_metric.speaker_embedding(speaker_encoder, clips)
        timer.add("speaker_references", start)
    if "dnsmos" in groups and dnsmos_session is None:
        dnsmos_session = load_dnsmos(config.dnsmos_model, config.dnsmos_personalized)

    results = []
    for name, converted_path, source_path in pairs:
        try:
            converted, source = io.load(converted_path), io.load(source_path)
        except BadInputError as error:
            skipped.append((str(error.path), error.reason))
            continue
        try:
            reference_path = source_path if config.source_is_reference else references_by_name.get(name)
            values: dict[str, Any] = {}
            if "f0" in groups:
                start = time.perf_counter()
                source_track = pitch_extractor.extract(_at(source, pitch_extractor.sample_rate))
                converted_track = pitch_extractor.extract(_at(converted, pitch_extractor.sample_rate))
                values["f0"] = f0_metrics(
                    source_track.f0_hz, converted_track.f0_hz, config.key_shift_semitones
                )
                shifted = np.where(
                    source_track.f0_hz > 0, source_track.f0_hz * 2 ** (config.key_shift_semitones / 12), 0.0
                )
                values["f0_curves"] = F0Curves(shifted, converted_track.f0_hz, source_track.frame_rate_hz)
                timer.add("f0", start)
            if target_embedding is not None:
                start = time.perf_counter()
                embedding = speaker_encoder.embed(_at(converted, speaker_encoder.sample_rate))
                values["speaker_similarity"] = speaker_metric.cosine_similarity(embedding, target_embedding)
                timer.add("speaker", start)
            if "dnsmos" in groups:
                start = time.perf_counter()
                values["dnsmos"] = dnsmos_metric.dnsmos(
                    _at(converted, dnsmos_metric.SAMPLE_RATE), dnsmos_session, config.dnsmos_personalized
                )
                timer.add("dnsmos", start)
            if "mcd" in groups and reference_path is not None:
                start = time.perf_counter()
                reference = source if config.source_is_reference else io.load(reference_path)
                values["mcd_db"] = mcd_metric.mel_cepstral_distortion(
                    _at(converted, mcd_metric.SAMPLE_RATE), _at(reference, mcd_metric.SAMPLE_RATE)
                )
                timer.add("mcd", start)
            if "loudness" in groups:
                start = time.perf_counter()
                values["loudness_difference_lu"] = loudness_difference_lu(
                    converted.mono, converted.sample_rate, source.mono, source.sample_rate
                )
                timer.add("loudness", start)
        except TimbrelError as error:  # one file the metrics cannot take must not end the evaluation
            skipped.append((str(converted_path), getattr(error, "reason", str(error))))
            continue
        results.append(
            FileResult(
                name=name,
                converted_path=converted_path,
                source_path=source_path,
                reference_path=reference_path if "mcd" in groups else None,
                duration_s=converted.duration_s,
                **values,
            )
        )
    if not results:
        path, reason = skipped[-1]
        raise BadInputError(converted_dir, f"no matched pair could be decoded (last: {path}: {reason})")
    return EvalReport(
        config=config,
        files=tuple(results),
        skipped=tuple(skipped),
        pitch_method=pitch_extractor.name if pitch_extractor is not None and "f0" in groups else None,
        speaker_encoder=speaker_encoder.name if target_embedding is not None else None,
        reference_count=len(reference_files),
        seconds_per_metric=timer.seconds,
    )
