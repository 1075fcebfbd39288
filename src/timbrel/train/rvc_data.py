"""RVC's training set on disk: the filelist built from an experiment folder and the items as the
reference's loader reads them (timbrel.dataset.rvc.RVCExperiment holds the layout)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile
import torch
from torch import Tensor

from timbrel.core.errors import BadInputError
from timbrel.core.files import visible_files, write_text_atomic
from timbrel.dataset.rvc import RVCExperiment
from timbrel.features.spectrogram import TrainSpectrogram, TrainSpectrogramConfig
from timbrel.models.rvc.data import MAX_FRAMES, DrawShapes, item_generator

if TYPE_CHECKING:
    from timbrel.train.rvc import RVCTrainConfig

_SAMPLE_RATE_LABELS = {32000: "32k", 40000: "40k", 48000: "48k"}


@dataclass(frozen=True)
class FilelistEntry:
    """One training item. coarse_path/f0_path: None for models without pitch."""

    wav_path: Path
    content_path: Path
    coarse_path: Path | None
    f0_path: Path | None
    speaker: int


def build_filelist(
    experiment_dir: str | Path,
    version: str,
    use_f0: bool,
    speaker: int = 0,
    mute_dir: str | Path | None = None,
    sample_rate: int = 40000,
    rng: random.Random | None = None,
) -> list[str]:
    """The lines of ``filelist.txt`` as the reference writes them (shuffled, order from ``rng``).

    Items: the names (up to the first dot) present in the experiment's pieces, its content
    features and, for pitch models, its coarse and continuous f0. With ``mute_dir`` (the
    reference's ``logs/mute``) two lines of its silent sample are added, as the reference does.
    """
    experiment = RVCExperiment(Path(experiment_dir).absolute())

    def folders(layout: RVCExperiment) -> list[Path]:
        pitch = [layout.coarse_f0, layout.f0] if use_f0 else []
        return [layout.gt_wavs, layout.features(version), *pitch]

    def line(layout: RVCExperiment, wav_stem: str, stem: str) -> str:
        wav, content, *pitch = folders(layout)
        files = [wav / f"{wav_stem}.wav", content / f"{stem}.npy", *(f / f"{stem}.wav.npy" for f in pitch)]
        return "|".join([*map(str, files), str(speaker)])

    names = None
    for folder in folders(experiment):
        found = {p.name.split(".")[0] for p in visible_files(folder)}
        names = found if names is None else names & found
    lines = [line(experiment, name, name) for name in sorted(names or ())]
    if mute_dir is not None:
        label = _SAMPLE_RATE_LABELS.get(sample_rate, str(sample_rate))
        lines += [line(RVCExperiment(Path(mute_dir).absolute()), f"mute{label}", "mute")] * 2
    (rng or random.Random()).shuffle(lines)
    return lines


def parse_filelist(lines: Sequence[str], use_f0: bool) -> list[FilelistEntry]:
    """Lines of ``filelist.txt`` -> entries; a line with the wrong number of fields is an error."""
    fields = 5 if use_f0 else 3
    entries = []
    for number, line in enumerate(lines, 1):
        parts = line.split("|")
        if len(parts) != fields:
            raise ValueError(f"filelist line {number} has {len(parts)} fields, expected {fields}: {line!r}")
        paths = [Path(p) for p in parts[:-1]]
        entries.append(
            FilelistEntry(
                wav_path=paths[0],
                content_path=paths[1],
                coarse_path=paths[2] if use_f0 else None,
                f0_path=paths[3] if use_f0 else None,
                speaker=int(parts[-1]),
            )
        )
    return entries


def read_splits(
    experiment: RVCExperiment, config: RVCTrainConfig
) -> tuple[list[FilelistEntry], list[FilelistEntry]]:
    """-> (training, held-out) entries: filelist.txt (written once, shuffled with the seed) minus
    the first ``validation_items`` pieces by name, which are held out."""
    path = experiment.filelist
    if not path.exists():
        lines = build_filelist(
            experiment.root,
            config.version,
            config.use_f0,
            config.speaker,
            config.mute_dir,
            config.sample_rate,
            random.Random(config.seed),
        )
        if not lines:
            raise BadInputError(
                experiment.root, "no piece has all its features: run prepare and extract first"
            )
        write_text_atomic(path, "\n".join(lines))
    entries = parse_filelist(path.read_text(encoding="utf-8").split("\n"), config.use_f0)
    real = sorted((e for e in entries if "mute" not in e.wav_path.name), key=lambda e: e.wav_path.name)
    held_names = (
        {e.wav_path for e in real[: config.validation_items]}
        if len(real) > config.validation_items
        else set()
    )
    train = [e for e in entries if e.wav_path not in held_names]
    held_out = [e for e in real if e.wav_path in held_names]
    return train, held_out


class RVCTrainDataset(torch.utils.data.Dataset):
    """Items as the reference's loader builds them: content features repeated ×2 to 100 fps and
    cut to 900 frames, pitch cut alike, the wave as stored (float32), its linear spectrogram,
    everything cut to the shorter of the feature and spectrogram frame counts.

    With ``draws`` each item also carries its random draws (``slice_rand`` (), ``noise_posterior``
    (inter, t), ``noise_nsf`` (segment_samples,)) from ``item_generator(seed, epoch, index)``.
    """

    def __init__(
        self,
        entries: Sequence[FilelistEntry],
        spectrogram: TrainSpectrogramConfig,
        draws: DrawShapes | None = None,
        seed: int = 1234,
    ):
        self.entries = list(entries)
        self.spectrogram_config = spectrogram
        self.spectrogram = TrainSpectrogram(spectrogram)
        self.draws = draws
        self.seed = seed
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def lengths(self) -> list[int]:
        """The reference's length estimate for bucketing: file size // (3 · hop)."""
        hop = self.spectrogram_config.hop_length
        return [e.wav_path.stat().st_size // (3 * hop) for e in self.entries]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        entry = self.entries[index]
        hop = self.spectrogram_config.hop_length
        content = np.repeat(np.load(entry.content_path), 2, axis=0)
        n = min(content.shape[0], MAX_FRAMES)
        item: dict[str, Tensor] = {"phone": torch.from_numpy(np.ascontiguousarray(content[:n], np.float32))}
        if entry.coarse_path is not None:
            item["pitch"] = torch.from_numpy(np.load(entry.coarse_path)[:n].astype(np.int64))
            item["pitchf"] = torch.from_numpy(np.load(entry.f0_path)[:n].astype(np.float32))
        wave, sample_rate = soundfile.read(entry.wav_path, dtype="float32", always_2d=False)
        expected_rate = self.spectrogram_config.sample_rate
        if sample_rate != expected_rate:
            raise ValueError(f"{entry.wav_path}: {sample_rate} Hz, the model trains at {expected_rate} Hz")
        wave = torch.from_numpy(wave)[None]
        with torch.no_grad():
            spec = self.spectrogram.linear(wave)[0]
        if item["phone"].shape[0] != spec.shape[-1]:
            frames = min(item["phone"].shape[0], spec.shape[-1])
            spec = spec[:, :frames]
            wave = wave[:, : frames * hop]
            for key in ("phone", "pitch", "pitchf"):
                if key in item:
                    item[key] = item[key][:frames]
        item.update(spec=spec, wave=wave, sid=torch.tensor(entry.speaker))
        if self.draws is not None:
            generator = item_generator(self.seed, self.epoch, index)
            item["slice_rand"] = torch.rand((), generator=generator)
            item["noise_posterior"] = torch.randn(
                (self.draws.inter_channels, spec.shape[-1]), generator=generator
            )
            item["noise_nsf"] = torch.randn((self.draws.segment_samples,), generator=generator)
        return item
