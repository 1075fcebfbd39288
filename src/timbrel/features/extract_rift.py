"""RIFT-SVC's training features (spec rift.md 2.6), written next to each `<data_dir>/<speaker>/<stem>.wav`.

| file | content | shape, float32 |
|---|---|---|
| `<stem>.mel.pt` | log-mel (2.1) | (1, 128, T) |
| `<stem>.rms.pt` | frame RMS (2.2) | (1, T) |
| `<stem>.f0.pt` | RMVPE f0 on the mel grid, Hz, 0 = unvoiced (2.3) | (T,) |
| `<stem>.cvec.pt` | ContentVec, plain and half-frame-shifted passes interleaved (2.4) | (2n, d) |

T = samples // 512 at 44.1 kHz. Each file is a plain `torch.save` of one tensor, as the reference's
scripts write them, so its training code reads Timbrel's files and the other way round.

Unlike the reference's four scripts (spawn pools of two workers, each re-importing torch), this is
one process that loads each model once, runs ContentVec's two passes as one batch of two, and batches
utterances of equal length (exact: nothing is padded). Finished utterances are recorded in a ledger
(`.timbrel/extracted-rift/` under the data folder) with the audio's size and time and the settings,
so a re-run skips them; every file is written atomically, and a bad recording becomes a failed
outcome with its reason while the others go on. A recording that is not at 44.1 kHz is resampled
with torchaudio's default sinc filter first (the reference's mel and RMS scripts assume 44.1 kHz).
"""

from __future__ import annotations

import hashlib
import io as bytes_io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from timbrel.audio import io
from timbrel.audio.sinc_resample import sinc_resample
from timbrel.core import device as devices
from timbrel.core.errors import BadInputError, ConfigError, TimbrelError
from timbrel.core.files import remove_stale_temporaries, visible_files, write_bytes_atomic
from timbrel.core.jobs import Ledger, Outcome
from timbrel.features.content.contentvec import HALF_FRAME_SAMPLES, interleave_passes, shift_left
from timbrel.features.content.hubert import HubertModel
from timbrel.features.mel import LogMelSpectrogram, MelConfig
from timbrel.features.pitch.rift import HOP_LENGTH, RMVPE_RESAMPLER_WIDTH, align_to_mel_frames
from timbrel.features.pitch.rmvpe import RmvpeExtractor
from timbrel.features.pitch.rmvpe_mel import SAMPLE_RATE as RMVPE_SAMPLE_RATE
from timbrel.features.rms import frame_rms
from timbrel.features.stft import frame_padding

SAMPLE_RATE = 44100
CONTENT_SAMPLE_RATE = 16000
FEATURES = ("mel", "rms", "f0", "cvec")
SUFFIXES = {"mel": ".mel.pt", "rms": ".rms.pt", "f0": ".f0.pt", "cvec": ".cvec.pt"}
LEDGER_FOLDER = ".timbrel/extracted-rift"
FORMAT_VERSION = 1
M = TypeVar("M")


@dataclass(frozen=True)
class RIFTExtractConfig:
    """features: which files to write (any of mel, rms, f0, cvec); batch_size: most utterances of
    equal length per model call; overwrite: recompute even what the ledger says is done."""

    features: tuple[str, ...] = field(
        default=FEATURES, metadata={"help": "Which files to write, comma-separated: mel, rms, f0, cvec."}
    )
    batch_size: int = 8
    overwrite: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.features) - set(FEATURES))
        if unknown or not self.features:
            raise ConfigError(f"unknown or no RIFT features {unknown or '[]'}; allowed: {list(FEATURES)}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")


@dataclass(frozen=True)
class RIFTFeatureModels:
    """The networks extraction needs, already loaded where they should run: the content encoder for
    cvec, RMVPE (with the RIFT decoder) for f0. Either may be None when its feature is not asked for."""

    content_model: HubertModel | None = None
    rmvpe: RmvpeExtractor | None = None


@dataclass(frozen=True)
class UtteranceFeatures:
    """One utterance's files as tensors (see the module table); a feature not computed is None."""

    mel: Tensor | None = None
    rms: Tensor | None = None
    f0_hz: Tensor | None = None
    content: Tensor | None = None

    def tensor(self, feature: str) -> Tensor | None:
        return {"mel": self.mel, "rms": self.rms, "f0": self.f0_hz, "cvec": self.content}[feature]


def feature_paths(wav: Path) -> dict[str, Path]:
    """`<dir>/<stem>.wav` -> {feature: `<dir>/<stem><suffix>`}."""
    stem = wav.name[: -len(wav.suffix)] if wav.suffix else wav.name
    return {feature: wav.with_name(stem + suffix) for feature, suffix in SUFFIXES.items()}


def list_utterances(data_dir: str | Path) -> list[Path]:
    """Every `<data_dir>/<speaker>/*.wav`, sorted (hidden folders and files left out); links and
    pipes too, so that extraction reports them."""
    root = Path(data_dir)
    if not root.is_dir():
        raise BadInputError(root, "not a folder")
    return visible_files(root, "*/*.wav", links_and_pipes=True)


def min_samples(models: RIFTFeatureModels) -> int:
    """The shortest 44.1 kHz utterance every asked model can take: more than the mel's reflect padding
    and, for cvec, one content frame at 16 kHz."""
    shortest = frame_padding(MelConfig().n_fft, HOP_LENGTH) + 1
    if models.content_model is not None:
        frames = models.content_model.config.receptive_field
        shortest = max(shortest, -(-frames * SAMPLE_RATE // CONTENT_SAMPLE_RATE) + 1)
    return shortest


@torch.inference_mode()
def utterance_features(
    samples: Tensor, models: RIFTFeatureModels, features: Sequence[str] = FEATURES
) -> list[UtteranceFeatures]:
    """samples: (b, n) float32 44.1 kHz utterances of one length -> their features (float32, CPU).

    Batching equal-length utterances changes nothing: no model sees padding it would not see alone.
    """
    if samples.dim() != 2:
        raise ValueError(f"expected (batch, n) samples, got {tuple(samples.shape)}")
    b = samples.shape[0]
    columns: dict[str, list[Tensor]] = {}
    if "mel" in features:
        columns["mel"] = list(LogMelSpectrogram()(samples).unsqueeze(1))
    if "rms" in features:
        columns["rms"] = list(frame_rms(samples).unsqueeze(1))
    if "f0" in features:
        columns["f0_hz"] = _training_f0(_require(models.rmvpe, "f0", "rmvpe"), samples)
    if "cvec" in features:
        columns["content"] = _train_content(_require(models.content_model, "cvec", "content_model"), samples)
    return [
        UtteranceFeatures(**{name: values[i].float().cpu().clone() for name, values in columns.items()})
        for i in range(b)
    ]


def _require(model: M | None, feature: str, name: str) -> M:
    if model is None:
        raise ConfigError(f"the {feature} feature needs RIFTFeatureModels.{name}")
    return model


def _training_f0(rmvpe: RmvpeExtractor, samples: Tensor) -> list[Tensor]:
    """prepare_f0.py: RMVPE on its own 16 kHz resampling, mapped onto the mel frames -> (n // 512,) each."""
    samples_16k = sinc_resample(
        samples.float(), SAMPLE_RATE, RMVPE_SAMPLE_RATE, RMVPE_RESAMPLER_WIDTH, precision="transform"
    )
    salience = rmvpe.salience(samples_16k)
    n_frames = samples.shape[-1] // HOP_LENGTH + 1
    return [
        torch.from_numpy(align_to_mel_frames(rmvpe.decode(s), n_frames, cut_last=True)).float()
        for s in salience
    ]


def _train_content(model: HubertModel, samples: Tensor) -> list[Tensor]:
    """prepare_cvec.py: the plain and half-frame-shifted passes of every utterance in one batch -> (2n, d)."""
    parameter = next(model.parameters())
    samples_16k = sinc_resample(samples.float(), SAMPLE_RATE, CONTENT_SAMPLE_RATE)
    both = torch.cat((samples_16k, shift_left(samples_16k, HALF_FRAME_SAMPLES)))
    hidden = model(both.to(device=parameter.device, dtype=parameter.dtype))
    b = samples.shape[0]
    return list(interleave_passes(hidden[:b], hidden[b:]))


def _models_device(models: RIFTFeatureModels) -> torch.device:
    module = models.content_model if models.content_model is not None else models.rmvpe.network
    return next(module.parameters()).device


def save_tensor(path: Path, tensor: Tensor) -> None:
    """torch.save of one tensor (its own storage, so nothing else rides along), written atomically."""
    buffer = bytes_io.BytesIO()
    torch.save(tensor.contiguous().clone(), buffer)
    write_bytes_atomic(path, buffer.getvalue())


def models_fingerprint(models: RIFTFeatureModels) -> dict[str, str | None]:
    """A digest of each model's weights, so that features made by other weights are not taken as done."""

    def digest(module: nn.Module | None) -> str | None:
        if module is None:
            return None
        h = hashlib.sha256()
        for name, tensor in module.state_dict().items():
            h.update(name.encode())
            h.update(str(tuple(tensor.shape)).encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    return {
        "content_model": digest(models.content_model),
        "rmvpe": digest(models.rmvpe.network if models.rmvpe is not None else None),
        "rmvpe_decoder": None if models.rmvpe is None else f"{models.rmvpe.config}",
    }


def _load_utterance(path: Path) -> Tensor:
    """(n,) float32 mono 44.1 kHz, or a BadInputError saying why not."""
    audio = io.decode(path)
    samples = torch.from_numpy(np.ascontiguousarray(audio.samples, dtype=np.float32))
    return sinc_resample(samples, audio.sample_rate, SAMPLE_RATE).mean(dim=0)


def _length_44k(path: Path) -> int:
    """The utterance's length once at 44.1 kHz, from its header."""
    header = io.info(path)
    return math.ceil(header.num_samples * SAMPLE_RATE / header.sample_rate)


def extract_rift_features(
    data_dir: str | Path,
    models: RIFTFeatureModels,
    config: RIFTExtractConfig = RIFTExtractConfig(),
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Write the feature files of every `<data_dir>/<speaker>/*.wav` (`list_utterances`) -> one Outcome per
    utterance in that order; outputs are the written files relative to data_dir, a failed one carries its
    reason. ``progress`` is called with the number of utterances finished after each batch.

    Utterances are read in order of length, a batch at a time, so memory holds one batch of audio.
    """
    root = Path(data_dir)
    if "f0" in config.features:
        _require(models.rmvpe, "f0", "rmvpe")
    if "cvec" in config.features:
        _require(models.content_model, "cvec", "content_model")
    remove_stale_temporaries(root)
    wavs = list_utterances(root)
    settings = {
        "format_version": FORMAT_VERSION,
        "features": sorted(config.features),
        "models": models_fingerprint(models),
    }
    ledger = Ledger(root / LEDGER_FOLDER, settings)
    shortest = min_samples(models)
    outcomes: dict[Path, Outcome] = {}

    def finish(results: list[tuple[Path, Outcome]]) -> None:
        for wav, outcome in results:
            outcomes[wav] = outcome
            if outcome.status == "done":
                ledger.record(str(wav.relative_to(root)), wav, outcome)
        if progress is not None and results:
            progress(len(results))

    pending: list[tuple[Path, int]] = []
    settled: list[tuple[Path, Outcome]] = []
    for wav in wavs:
        outputs = tuple(str(feature_paths(wav)[f].relative_to(root)) for f in config.features)
        entry = None if config.overwrite else ledger.lookup(str(wav.relative_to(root)), wav)
        if entry is not None and all((root / name).exists() for name in outputs):
            settled.append((wav, Outcome(str(wav), "skipped", outputs=outputs, details=entry["details"])))
            continue
        try:
            n_samples = _length_44k(wav)
            if n_samples < shortest:
                raise BadInputError(wav, f"too short: {n_samples} samples at 44.1 kHz, need {shortest}")
        except TimbrelError as error:
            settled.append((wav, Outcome(str(wav), "failed", str(error))))
            continue
        pending.append((wav, n_samples))
    finish(settled)
    pending.sort(key=lambda item: item[1])
    for _, same_length in groupby(pending, key=lambda item: item[1]):
        paths = [wav for wav, _ in same_length]
        for first in range(0, len(paths), config.batch_size):
            loaded, results = [], []
            for wav in paths[first : first + config.batch_size]:
                try:
                    loaded.append((wav, _load_utterance(wav)))
                except TimbrelError as error:
                    results.append((wav, Outcome(str(wav), "failed", str(error))))
            finish(results + _extract_batch(loaded, root, models, config))
    return [outcomes[wav] for wav in wavs]


def _extract_batch(
    batch: list[tuple[Path, Tensor]], root: Path, models: RIFTFeatureModels, config: RIFTExtractConfig
) -> list[tuple[Path, Outcome]]:
    """Compute one batch and write its files; if the batch fails, each utterance is retried alone so
    that only the bad one fails."""
    if not batch:
        return []
    try:
        computed = utterance_features(torch.stack([s for _, s in batch]), models, config.features)
    except Exception as error:  # a bug or an odd file must not take the other files down
        if devices.is_out_of_memory(error):
            devices.release_memory(_models_device(models))
            if len(batch) > 1:
                warnings.warn(
                    f"out of memory with {len(batch)} utterances at once; retrying one at a time",
                    stacklevel=2,
                )
            else:
                wav = batch[0][0]
                device = _models_device(models)
                reason = f"{wav}: out of memory on {device} with one utterance: extract with --device cpu"
                return [(wav, Outcome(str(wav), "failed", reason))]
        if len(batch) > 1:
            return [pair for item in batch for pair in _extract_batch([item], root, models, config)]
        wav = batch[0][0]
        return [(wav, Outcome(str(wav), "failed", f"{wav}: unexpected {type(error).__name__}: {error}"))]
    results = []
    for (wav, samples), features in zip(batch, computed, strict=True):
        paths = feature_paths(wav)
        try:
            for feature in config.features:
                save_tensor(paths[feature], features.tensor(feature))
        except OSError as error:
            results.append((wav, Outcome(str(wav), "failed", f"{wav}: cannot write features ({error})")))
            continue
        outputs = tuple(str(paths[f].relative_to(root)) for f in config.features)
        details = {"samples": int(samples.shape[0]), "frames": int(samples.shape[0]) // HOP_LENGTH}
        results.append((wav, Outcome(str(wav), "done", outputs=outputs, details=details)))
    return results
