"""RVC training: the data the reference trains on and its update rule (spec 5).

Data: the filelist built from an experiment folder (``0_gt_wavs``, ``3_feature{256,768}``,
``2a_f0``, ``2b-f0nsf``), items as the reference loads them, its length buckets and its
collate. Every random draw of a step (segment start, posterior noise, NSF noise) is made per
item by the dataset from (seed, epoch, item index), so a step is reproducible on its own and
data-parallel training sees the same draws as one process with the whole batch.

Update rule (RVCTrainTask): generator pass; discriminator loss on (real, generated.detach()),
backward, AdamW step; generator losses with the *updated* discriminator (adversarial, feature
matching ×2, mel L1 ×45, KL ×1), backward, AdamW step; learning rates ×0.999875 per epoch.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from torch import Tensor

from timbrel.core.files import visible_files
from timbrel.features.spectrogram import TrainSpectrogram, TrainSpectrogramConfig
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.discriminator import MultiPeriodDiscriminator
from timbrel.models.rvc.losses import discriminator_loss, feature_loss, generator_loss, kl_loss
from timbrel.models.rvc.synthesizer import Synthesizer, slice_segments
from timbrel.nn.step_context import StepContext

GT_WAVS_DIR = "0_gt_wavs"
COARSE_DIR = "2a_f0"
F0_DIR = "2b-f0nsf"
MAX_FRAMES = 900
BUCKET_BOUNDARIES = (100, 200, 300, 400, 500, 600, 700, 800, 900)
_SAMPLE_RATE_LABELS = {32000: "32k", 40000: "40k", 48000: "48k"}


def feature_dir(version: str) -> str:
    return "3_feature256" if version == "v1" else "3_feature768"


# Filelist ------------------------------------------------------------------------------------


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

    Items: the names (up to the first dot) present in 0_gt_wavs, the feature folder and, for
    pitch models, 2a_f0 and 2b-f0nsf. With ``mute_dir`` (the reference's ``logs/mute``) two
    lines of its silent sample are added, as the reference does.
    """
    root = Path(experiment_dir).absolute()
    folders = [GT_WAVS_DIR, feature_dir(version)] + ([COARSE_DIR, F0_DIR] if use_f0 else [])
    names = None
    for folder in folders:
        found = {p.name.split(".")[0] for p in visible_files(root / folder)}
        names = found if names is None else names & found
    lines = []
    for name in sorted(names or ()):
        parts = [f"{root}/{GT_WAVS_DIR}/{name}.wav", f"{root}/{feature_dir(version)}/{name}.npy"]
        if use_f0:
            parts += [f"{root}/{COARSE_DIR}/{name}.wav.npy", f"{root}/{F0_DIR}/{name}.wav.npy"]
        lines.append("|".join([*parts, str(speaker)]))
    if mute_dir is not None:
        mute = Path(mute_dir).absolute()
        label = _SAMPLE_RATE_LABELS.get(sample_rate, str(sample_rate))
        parts = [f"{mute}/{GT_WAVS_DIR}/mute{label}.wav", f"{mute}/{feature_dir(version)}/mute.npy"]
        if use_f0:
            parts += [f"{mute}/{COARSE_DIR}/mute.wav.npy", f"{mute}/{F0_DIR}/mute.wav.npy"]
        lines += ["|".join([*parts, str(speaker)])] * 2
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


# Items, batches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawShapes:
    """What one item's random draws look like: inter_channels of the posterior noise, and the
    segment in frames and samples (the NSF noise covers one segment)."""

    inter_channels: int
    segment_frames: int
    segment_samples: int

    @classmethod
    def for_model(cls, config: SynthesizerConfig) -> DrawShapes:
        return cls(
            config.inter_channels, config.segment_frames, config.segment_frames * config.upsample_factor
        )


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The random stream of one item in one epoch: independent of batching, workers and processes."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_033 + index) % (2**63))


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


def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Items -> a batch sorted by spectrogram length (longest first), zero-padded:
    phone (b, t, dim), phone_lengths, pitch/pitchf (b, t), spec (b, freq, t_spec), spec_lengths,
    wave (b, 1, n), wave_lengths, sid (b,), and the draws when the items have them."""
    order = sorted(range(len(items)), key=lambda i: -items[i]["spec"].shape[-1])
    items = [items[i] for i in order]

    def padded(key: str, length_dim: int) -> tuple[Tensor, Tensor]:
        lengths = torch.tensor([x[key].shape[length_dim] for x in items], dtype=torch.long)
        first = items[0][key]
        shape = list(first.shape)
        shape[length_dim] = int(lengths.max())
        out = first.new_zeros((len(items), *shape))
        for i, x in enumerate(items):
            index = [i] + [slice(None)] * first.dim()
            index[1 + length_dim] = slice(0, x[key].shape[length_dim])
            out[tuple(index)] = x[key]
        return out, lengths

    batch: dict[str, Tensor] = {}
    batch["phone"], batch["phone_lengths"] = padded("phone", 0)
    if "pitch" in items[0]:
        batch["pitch"], _ = padded("pitch", 0)
        batch["pitchf"], _ = padded("pitchf", 0)
    batch["spec"], batch["spec_lengths"] = padded("spec", 1)
    batch["wave"], batch["wave_lengths"] = padded("wave", 1)
    batch["sid"] = torch.stack([x["sid"] for x in items])
    if "slice_rand" in items[0]:
        batch["slice_rand"] = torch.stack([x["slice_rand"] for x in items])
        batch["noise_posterior"], _ = padded("noise_posterior", 1)
        batch["noise_nsf"] = torch.stack([x["noise_nsf"] for x in items])
    return batch


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    boundaries: Sequence[int] = BUCKET_BOUNDARIES,
    shuffle: bool = True,
) -> list[list[int]]:
    """The reference's DistributedBucketSampler: this process's batches (item indices) of one epoch.

    Items go to the bucket (boundaries[i], boundaries[i+1]] of their length (others are dropped);
    each bucket is filled up by repetition to a multiple of batch_size · world_size, shuffled
    with a generator seeded by the epoch, dealt to the processes, cut into batches, and the
    batches shuffled.
    """
    buckets: list[list[int]] = [[] for _ in range(len(boundaries) - 1)]
    for index, length in enumerate(lengths):
        position = bisect.bisect_left(boundaries, length)
        if 0 < position < len(boundaries):
            buckets[position - 1].append(index)
    buckets = [b for b in buckets if b]
    total = batch_size * world_size
    generator = torch.Generator().manual_seed(epoch)
    batches = []
    for bucket in buckets:
        order = (
            torch.randperm(len(bucket), generator=generator).tolist() if shuffle else list(range(len(bucket)))
        )
        missing = (total - len(bucket) % total) % total
        order = order + order * (missing // len(bucket)) + order[: missing % len(bucket)]
        mine = order[rank::world_size]
        batches += [
            [bucket[i] for i in mine[j * batch_size : (j + 1) * batch_size]]
            for j in range(len(mine) // batch_size)
        ]
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


# The update rule -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RVCOptimConfig:
    """The reference's training constants (configs/*.json ``train``)."""

    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.99)
    eps: float = 1e-9
    lr_decay: float = 0.999875
    c_mel: float = 45.0
    c_kl: float = 1.0


@dataclass(frozen=True)
class Generated:
    """One generator pass. audio (b, 1, segment_samples); y_mel, y_hat_mel (b, n_mels, segment_frames);
    mel (b, n_mels, t_spec) of the whole items; wave_slice (b, 1, segment_samples)."""

    out: Any
    mel: Tensor
    y_mel: Tensor
    y_hat_mel: Tensor
    wave_slice: Tensor


@dataclass(frozen=True)
class StepLosses:
    """Every loss of one iteration (float32 scalars) and per-sub-discriminator terms."""

    loss_disc: Tensor
    losses_disc_r: list[Tensor]
    losses_disc_g: list[Tensor]
    loss_gen: Tensor
    losses_gen: list[Tensor]
    loss_fm: Tensor
    loss_mel: Tensor
    loss_kl: Tensor
    loss_gen_all: Tensor


def slice_starts(slice_rand: Tensor, spec_lengths: Tensor, segment_frames: int) -> Tensor:
    """slice_rand: (b,) uniform [0, 1) draws -> segment start frames (b,), as the reference's
    floor(U · (spec_lengths - segment_frames + 1))."""
    return (slice_rand * (spec_lengths - segment_frames + 1)).to(torch.long)


class RVCTrainTask:
    """Owns the generator, the discriminator, their AdamW optimizers and ExponentialLR schedulers.

    Batches are ``collate`` outputs on the context's device. Without draws in a batch the step
    is noise-free (segment start 0, posterior mean, clean NSF sine).
    """

    def __init__(
        self,
        generator: Synthesizer,
        discriminator: MultiPeriodDiscriminator,
        spectrogram: TrainSpectrogramConfig,
        context: StepContext | None = None,
        config: RVCOptimConfig = RVCOptimConfig(),
    ):
        self.context = context or StepContext()
        self.config = config
        self.generator = generator
        self.discriminator = discriminator
        self.generator_ddp = self.context.wrap(generator)
        self.discriminator_ddp = self.context.wrap(discriminator)
        self.spectrogram = TrainSpectrogram(spectrogram).to(self.context.device)
        self.hop_length = spectrogram.hop_length
        self.optimizer_g = self._adamw(generator)
        self.optimizer_d = self._adamw(discriminator)
        self.scheduler_g = torch.optim.lr_scheduler.ExponentialLR(self.optimizer_g, config.lr_decay)
        self.scheduler_d = torch.optim.lr_scheduler.ExponentialLR(self.optimizer_d, config.lr_decay)
        self.last: Generated | None = None

    def _adamw(self, module: torch.nn.Module) -> torch.optim.AdamW:
        c = self.config
        return torch.optim.AdamW(module.parameters(), lr=c.learning_rate, betas=c.betas, eps=c.eps)

    # The pieces of one iteration.

    def generate(self, batch: dict[str, Tensor]) -> Generated:
        segment = self.generator.config.segment_frames
        ids = None
        if "slice_rand" in batch:
            ids = slice_starts(batch["slice_rand"], batch["spec_lengths"], segment)
        with self.context.autocast():
            out = self.generator_ddp(
                batch["phone"],
                batch["phone_lengths"],
                batch.get("pitch"),
                batch.get("pitchf"),
                batch["spec"],
                batch["spec_lengths"],
                batch["sid"],
                ids_slice=ids,
                noise_posterior=batch.get("noise_posterior"),
                noise_nsf=batch.get("noise_nsf"),
            )
        # The mel loss runs in float32 whatever the precision, as the reference's.
        mel = self.spectrogram.spec_to_mel(batch["spec"].float())
        y_mel = slice_segments(mel, out.ids_slice, segment)
        y_hat_mel = self.spectrogram.mel(out.audio.float().squeeze(1))
        samples = out.audio.shape[-1]
        wave_slice = slice_segments(batch["wave"], out.ids_slice * self.hop_length, samples)
        return Generated(out, mel, y_mel, y_hat_mel, wave_slice)

    def discriminator_losses(self, generated: Generated) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        with self.context.autocast():
            d = self.discriminator_ddp(generated.wave_slice, generated.out.audio.detach())
        return discriminator_loss(d.real_scores, d.fake_scores)

    def generator_losses(
        self, generated: Generated
    ) -> tuple[Tensor, list[Tensor], Tensor, Tensor, Tensor, Tensor]:
        out = generated.out
        # The module itself, not its DDP wrapper: only the generator's gradients are wanted here.
        with self.context.autocast():
            d = self.discriminator(generated.wave_slice, out.audio)
        loss_mel = torch.nn.functional.l1_loss(generated.y_mel, generated.y_hat_mel) * self.config.c_mel
        loss_kl = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.y_mask) * self.config.c_kl
        loss_fm = feature_loss(d.real_fmaps, d.fake_fmaps)
        loss_gen, losses_gen = generator_loss(d.fake_scores)
        loss_gen_all = loss_gen + loss_fm + loss_mel + loss_kl
        return loss_gen, losses_gen, loss_fm, loss_mel, loss_kl, loss_gen_all

    def losses(self, batch: dict[str, Tensor]) -> tuple[Generated, StepLosses]:
        """Every loss of an iteration with the current discriminator for both passes, no update."""
        generated = self.generate(batch)
        loss_disc, r, g = self.discriminator_losses(generated)
        return generated, StepLosses(loss_disc, r, g, *self.generator_losses(generated))

    # TrainTask

    def step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        """One iteration in the reference's order -> losses, grad norms (on optimizer steps), lr."""
        ctx = self.context
        self.generator.train()
        self.discriminator.train()
        generated = self.generate(batch)
        loss_disc, losses_r, losses_g = self.discriminator_losses(generated)
        if ctx.first_micro_step:
            self.optimizer_d.zero_grad()
        with ctx.sync(self.discriminator_ddp):
            ctx.backward(loss_disc)
        figures: dict[str, float] = {}
        if ctx.last_micro_step:
            figures["grad_norm_d"] = ctx.optimizer_step(
                self.optimizer_d, list(self.discriminator.parameters())
            )
        loss_gen, losses_gen, loss_fm, loss_mel, loss_kl, loss_gen_all = self.generator_losses(generated)
        if ctx.first_micro_step:
            self.optimizer_g.zero_grad()
        parameters = list(self.generator.parameters())
        with ctx.sync(self.generator_ddp):
            ctx.backward(loss_gen_all, inputs=[p for p in parameters if p.requires_grad])
        if ctx.last_micro_step:
            figures["grad_norm_g"] = ctx.optimizer_step(self.optimizer_g, parameters)
            ctx.update()
        self.last = generated
        figures.update(
            loss_disc=loss_disc.item(),
            loss_gen=loss_gen.item(),
            loss_fm=loss_fm.item(),
            loss_mel=loss_mel.item(),
            loss_kl=loss_kl.item(),
            loss_gen_all=loss_gen_all.item(),
            learning_rate=self.optimizer_g.param_groups[0]["lr"],
        )
        for i, (r, g, gen) in enumerate(zip(losses_r, losses_g, losses_gen, strict=True)):
            figures[f"loss_disc_r/{i}"] = r.item()
            figures[f"loss_disc_g/{i}"] = g.item()
            figures[f"loss_gen/{i}"] = gen.item()
        return figures

    def end_epoch(self, epoch: int) -> None:
        """The per-epoch learning-rate decay."""
        self.scheduler_g.step()
        self.scheduler_d.step()

    def media(self) -> dict[str, dict[str, Any]]:
        """From the last step's first item: mel images (n_mels, frames) and the generated audio."""
        if self.last is None:
            return {"images": {}, "audio": {}}
        g = self.last
        return {
            "images": {
                "slice/mel_org": g.y_mel[0].detach().float().cpu().numpy(),
                "slice/mel_gen": g.y_hat_mel[0].detach().float().cpu().numpy(),
                "all/mel": g.mel[0].detach().float().cpu().numpy(),
            },
            "audio": {
                "slice/audio_gen": (
                    g.out.audio[0, 0].detach().float().cpu().numpy(),
                    self.generator.sample_rate,
                ),
                "slice/audio_org": (
                    g.wave_slice[0, 0].detach().float().cpu().numpy(),
                    self.generator.sample_rate,
                ),
            },
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "scheduler_g": self.scheduler_g.state_dict(),
            "scheduler_d": self.scheduler_d.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.scheduler_g.load_state_dict(state["scheduler_g"])
        self.scheduler_d.load_state_dict(state["scheduler_d"])
