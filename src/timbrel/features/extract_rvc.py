"""RVC's extraction stage: f0 and HuBERT features for every file of an experiment's 1_16k_wavs.

Writes the reference layout, so RVC's own tools read the result:
  2a_f0/NAME.wav.npy      coarse pitch 1..255, int64, one per 10 ms frame
  2b-f0nsf/NAME.wav.npy   continuous f0 in Hz, float64
  3_feature256/NAME.npy   v1 content features [frames, 256] float32 (50 frames/s)
  3_feature768/NAME.npy   v2 content features [frames, 768] float32
Pieces of equal length (nearly all of them: preparation cuts fixed-length pieces) go through
HuBERT together in one batch; the result equals one-at-a-time since nothing is padded. HuBERT
and the pitch network run on their device; a batch that runs out of its memory is retried once in
halves (with a warning), and fails naming ``batch_size`` if that runs out too.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from timbrel.audio import io
from timbrel.core import device as devices
from timbrel.core.config import to_dict
from timbrel.core.errors import BadInputError, TimbrelError
from timbrel.core.files import atomic_path, remove_stale_temporaries, visible_files
from timbrel.core.jobs import Ledger, Outcome
from timbrel.dataset.rvc import RVCExperiment
from timbrel.features.content.hubert import HubertModel
from timbrel.features.content.rvc import rvc_content
from timbrel.features.pitch.base import PitchExtractor
from timbrel.features.pitch.rvc import rvc_training_f0

LEDGER_FOLDER = ".timbrel/extracted"


@dataclass(frozen=True)
class RVCExtractConfig:
    """version: v1 (256-d features) or v2 (768-d); f0_method None for models without pitch.
    fill_unvoiced: the current reference interpolates f0 through unvoiced frames; classic RVC
    leaves them at 0 Hz."""

    version: Literal["v1", "v2"] = field(
        default="v2", metadata={"help": "v1 (256-d content features) or v2 (768-d)."}
    )
    f0_method: str | None = field(
        default="rmvpe",
        metadata={"help": "Pitch method: pm, harvest, dio or rmvpe; none for a model without pitch."},
    )
    fill_unvoiced: bool = field(
        default=True,
        metadata={"help": "Interpolate f0 through unvoiced frames (current RVC); off = classic RVC."},
    )
    batch_size: int = 8


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def _outputs(experiment: RVCExperiment, name: str, config: RVCExtractConfig) -> list[Path]:
    """content, then coarse and continuous f0 for pitch models, of the 16 kHz piece ``name``."""
    outputs = [experiment.features(config.version) / f"{name.removesuffix('.wav')}.npy"]
    if config.f0_method is not None:
        outputs += [experiment.coarse_f0 / f"{name}.npy", experiment.f0 / f"{name}.npy"]
    return outputs


def _relative(experiment: RVCExperiment, paths: list[Path]) -> tuple[str, ...]:
    return tuple(str(path.relative_to(experiment.root)) for path in paths)


def extract_rvc_features(
    experiment_dir: str | Path,
    content_model: HubertModel,
    pitch_extractor: Callable[[str], PitchExtractor] | None,
    config: RVCExtractConfig = RVCExtractConfig(),
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Extract every ``1_16k_wavs/*.wav`` not already done with these settings -> one outcome each.
    ``progress`` is called with the number of files finished after each batch."""
    experiment = RVCExperiment(experiment_dir)
    remove_stale_temporaries(experiment.root)
    wavs = [
        p for p in visible_files(experiment.wavs_16k, "*.wav", links_and_pipes=True) if "spec" not in p.name
    ]
    if not wavs:
        raise BadInputError(experiment.wavs_16k, "no prepared 16 kHz pieces: run `timbrel prepare rvc` first")
    ledger = Ledger(experiment.root / LEDGER_FOLDER, to_dict(config))
    outcomes: dict[Path, Outcome] = {}
    pending: dict[int, list[tuple[Path, np.ndarray]]] = defaultdict(list)
    shortest = content_model.config.receptive_field
    for path in wavs:
        outputs = _outputs(experiment, path.name, config)
        if ledger.lookup(path.name, path) is not None and all(o.exists() for o in outputs):
            outcomes[path] = Outcome(str(path), "skipped", outputs=_relative(experiment, outputs))
            continue
        try:
            samples = io.load(path, sample_rate=16000).mono
        except TimbrelError as error:
            outcomes[path] = Outcome(str(path), "failed", str(error))
            continue
        if len(samples) < shortest:
            reason = f"too short: {len(samples)} samples at 16 kHz, HuBERT needs at least {shortest}"
            outcomes[path] = Outcome(str(path), "failed", str(BadInputError(path, reason)))
            continue
        pending[len(samples)].append((path, samples))
    if progress is not None and outcomes:
        progress(len(outcomes))
    for group in pending.values():
        for start in range(0, len(group), config.batch_size):
            batch = group[start : start + config.batch_size]
            for path, outcome in zip(
                (p for p, _ in batch),
                _extract_batch_retrying(experiment, batch, content_model, pitch_extractor, config),
                strict=True,
            ):
                outcomes[path] = outcome
                if outcome.status == "done":
                    ledger.record(path.name, path, outcome)
            if progress is not None:
                progress(len(batch))
    return [outcomes[path] for path in wavs]


def _extract_batch_retrying(
    experiment: RVCExperiment,
    batch: list[tuple[Path, np.ndarray]],
    content_model: HubertModel,
    pitch_extractor: Callable[[str], PitchExtractor] | None,
    config: RVCExtractConfig,
) -> list[Outcome]:
    """_extract_batch, and after an out-of-memory error once more in two halves."""
    device = next(content_model.parameters()).device
    try:
        return _extract_batch(experiment, batch, content_model, pitch_extractor, config)
    except Exception as error:
        if not devices.is_out_of_memory(error):
            raise
    devices.release_memory(device)
    half = (len(batch) + 1) // 2
    if len(batch) > 1:
        warnings.warn(
            f"out of memory on {device} with {len(batch)} pieces at once; retrying {half} at a time",
            stacklevel=2,
        )
        try:
            return [
                outcome
                for part in (batch[:half], batch[half:])
                for outcome in _extract_batch(experiment, part, content_model, pitch_extractor, config)
            ]
        except Exception as error:
            if not devices.is_out_of_memory(error):
                raise
    reason = (
        f"out of memory on {device}; lower batch_size (--set batch_size={max(1, half // 2)})"
        if len(batch) > 1
        else f"out of memory on {device} with a single piece: extract with --device cpu"
    )
    return [Outcome(str(path), "failed", f"{path}: {reason}") for path, _ in batch]


def _extract_batch(
    experiment: RVCExperiment,
    batch: list[tuple[Path, np.ndarray]],
    content_model: HubertModel,
    pitch_extractor: Callable[[str], PitchExtractor] | None,
    config: RVCExtractConfig,
) -> list[Outcome]:
    """batch: files of one length -> their outcomes, outputs written."""
    device = next(content_model.parameters()).device
    samples = torch.from_numpy(np.stack([s for _, s in batch]).astype(np.float32)).to(device)
    with torch.inference_mode():
        features = rvc_content(content_model, samples, config.version).float().cpu().numpy()
    outcomes = []
    tracks = _batched_pitch(batch, pitch_extractor, config)
    for index, ((path, audio), feature) in enumerate(zip(batch, features, strict=True)):
        if not np.isfinite(feature).all():
            outcomes.append(Outcome(str(path), "failed", f"{path}: content features contain NaN"))
            continue
        if config.f0_method is not None:
            try:
                track = (
                    tracks[index]
                    if tracks
                    else pitch_extractor(config.f0_method).extract(audio.astype(np.float64))
                )
                f0 = rvc_training_f0(track.f0_hz, config.fill_unvoiced)
            except TimbrelError as error:
                outcomes.append(Outcome(str(path), "failed", f"{path}: {error}"))
                continue
        outputs = _outputs(experiment, path.name, config)
        if config.f0_method is not None:
            _save_npy(outputs[1], f0.coarse.astype(np.int64))
            _save_npy(outputs[2], np.asarray(f0.f0_hz, dtype=np.float64))
        _save_npy(outputs[0], feature)
        outcomes.append(Outcome(str(path), "done", outputs=_relative(experiment, outputs)))
    return outcomes


def _batched_pitch(
    batch: list[tuple[Path, np.ndarray]],
    pitch_extractor: Callable[[str], PitchExtractor] | None,
    config: RVCExtractConfig,
) -> list | None:
    """The batch's pitch tracks in one network call where the method batches (RMVPE: equal
    lengths give the same numbers as one at a time); None where it does not."""
    if config.f0_method is None or len(batch) < 2:
        return None
    extractor = pitch_extractor(config.f0_method)
    if not hasattr(extractor, "extract_batch"):
        return None
    try:
        return extractor.extract_batch(np.stack([audio for _, audio in batch]))
    except TimbrelError:
        return None  # one at a time, so that only the bad piece fails
