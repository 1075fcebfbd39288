"""The RVC training recipe on the generic loop: models from pretrained G/D, from any G_*/D_*
checkpoint or from scratch; G_<step>.pth / D_<step>.pth in the reference format; a small
exported voice model at each save (RVC's save_every_weights); validation on held-out pieces
after each save and a ``best`` voice model (timbrel.train.saver); TensorBoard and wandb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from timbrel.audio.resample import resample
from timbrel.core.config import to_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import remove_stale_temporaries, visible_files
from timbrel.dataset.rvc import RVCExperiment
from timbrel.eval.f0 import f0_metrics
from timbrel.eval.mcd import SAMPLE_RATE as MCD_SAMPLE_RATE
from timbrel.eval.mcd import mel_cepstral_distortion
from timbrel.eval.selection import HIGHER_IS_BETTER
from timbrel.features.pitch.pm import PmConfig, PmExtractor
from timbrel.features.spectrogram import TrainSpectrogramConfig
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.data import DrawShapes, bucket_batches, collate
from timbrel.models.rvc.discriminator import DiscriminatorConfig, MultiPeriodDiscriminator
from timbrel.models.rvc.optim import RVCOptimConfig
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.models.rvc.training import RVCTrainTask
from timbrel.train.checkpoint import CheckpointStore, Position
from timbrel.train.context import RunConfig, finish_run, start_run
from timbrel.train.data import TrainData
from timbrel.train.loggers import FanOutLogger, Logger, NullLogger, TensorBoardLogger, WandbLogger
from timbrel.train.loop import LoopConfig, fit
from timbrel.train.rvc_data import FilelistEntry, RVCTrainDataset, read_splits
from timbrel.train.saver import BestRule, SaveCadence, Saver
from timbrel.weights.rvc import (
    TrainingCheckpoint,
    load_state_dict_strict,
    read_training_checkpoint,
    synthesizer_config_from_state,
    write_training_checkpoint,
    write_training_f0_stats,
    write_voice_model,
)

# The spectrogram each sample rate trains with (configs/*.json "data").
_SPECTROGRAMS = {
    32000: TrainSpectrogramConfig(32000, 1024, 320, 1024, 80),
    40000: TrainSpectrogramConfig(40000, 2048, 400, 2048, 125),
    48000: TrainSpectrogramConfig(48000, 2048, 480, 2048, 128),
}


@dataclass(frozen=True)
class RVCTrainConfig:
    """Everything a training run takes. ``model_size`` "tiny" trains SynthesizerConfig.tiny()
    (32 kHz) with DiscriminatorConfig.tiny(), for tests and demos. pretrained_g/d: pretrained
    f0G40k.pth-style files or any G_*.pth/D_*.pth, loaded strictly from their ``model`` entry.
    validation_items: pieces held out of training; best_metric: mcd_db or f0_rmse_cents.
    f0_method None trains a model without pitch guidance. wandb_project: also log to this Weights &
    Biases project (needs the wandb package)."""

    version: Literal["v1", "v2"] = field(default="v2", metadata={"help": "v1 or v2."})
    sample_rate: int = field(default=40000, metadata={"help": "32000, 40000 or 48000."})
    f0_method: str | None = field(
        default="rmvpe",
        metadata={
            "help": "Pitch method of the feature extraction: pm or rmvpe; none trains a model without pitch."
        },
    )
    model_size: Literal["full", "tiny"] = "full"
    speaker: int = 0
    batch_size: int = 4
    pretrained_g: Path | None = None
    pretrained_d: Path | None = None
    mute_dir: Path | None = None
    save_weights: bool = True
    validation_items: int = 2
    best_metric: Literal["mcd_db", "f0_rmse_cents"] = "mcd_db"
    tensorboard: bool = True
    wandb_project: str | None = None
    seed: int = 1234
    optim: RVCOptimConfig = field(default_factory=RVCOptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)

    @property
    def use_f0(self) -> bool:
        return self.f0_method is not None

    def synthesizer_config(self) -> SynthesizerConfig:
        if self.model_size == "tiny":
            return SynthesizerConfig.tiny(self.version, self.use_f0)
        return SynthesizerConfig.preset(self.version, self.sample_rate, self.use_f0)

    def discriminator_config(self) -> DiscriminatorConfig:
        return (
            DiscriminatorConfig.tiny()
            if self.model_size == "tiny"
            else DiscriminatorConfig.for_version(self.version)
        )

    def spectrogram_config(self) -> TrainSpectrogramConfig:
        return _SPECTROGRAMS[self.synthesizer_config().sample_rate]


class RVCCheckpointFormat:
    """G_<step>.pth / D_<step>.pth as the reference writes them (model, iteration = epoch,
    optimizer, learning_rate); the schedulers stay in the loop's resume state.

    RVC's discriminator is not configurable (its training code builds the v1 or v2 shape), so
    it cannot resume from a discriminator of any other shape: its optimizer then has parameter
    groups of another size. A discriminator that is not RVC's shape (the tiny preset's) is
    therefore never written under RVC's name: it goes to ``D_<step>.timbrel.pt`` (the same
    layout), which RVC's ``D_*.pth`` search does not pick up.
    """

    def __init__(self, learning_rate: float, rvc_discriminator: bool = True):
        self.learning_rate = learning_rate
        self.names = {"G": "G_{}.pth", "D": "D_{}.pth" if rvc_discriminator else "D_{}.timbrel.pt"}

    def save(self, folder: Path, step: int, epoch: int, state: dict[str, Any]) -> dict[str, Any]:
        for name, model, optimizer in (
            ("G", "generator", "optimizer_g"),
            ("D", "discriminator", "optimizer_d"),
        ):
            write_training_checkpoint(
                folder / self.names[name].format(step),
                TrainingCheckpoint(state[model], epoch, state[optimizer], self.learning_rate),
            )
        return {"scheduler_g": state["scheduler_g"], "scheduler_d": state["scheduler_d"]}

    def load(self, folder: Path, step: int, rest: dict[str, Any]) -> dict[str, Any]:
        g = read_training_checkpoint(folder / self.names["G"].format(step))
        d = read_training_checkpoint(folder / self.names["D"].format(step))
        return {
            "generator": g.model,
            "discriminator": d.model,
            "optimizer_g": g.optimizer,
            "optimizer_d": d.optimizer,
            **rest,
        }

    def remove(self, folder: Path, step: int) -> None:
        for pattern in self.names.values():
            (folder / pattern.format(step)).unlink(missing_ok=True)


def build_models(config: RVCTrainConfig) -> tuple[Synthesizer, MultiPeriodDiscriminator]:
    """Fresh generator (with enc_q) and discriminator of the configured size, or the given
    pretrained / G_*.pth / D_*.pth ones, whose sizes then come from their tensors (strict load)."""
    torch.manual_seed(config.seed)
    model_config = config.synthesizer_config()
    g_state = d_state = None
    if config.pretrained_g is not None:
        g_state = read_training_checkpoint(config.pretrained_g).model
        found = synthesizer_config_from_state(g_state)
        preset = SynthesizerConfig.preset(found.version, found.sample_rate, found.use_f0)
        model_config = replace(found, segment_frames=preset.segment_frames)
    d_config = config.discriminator_config()
    if config.pretrained_d is not None:
        d_state = read_training_checkpoint(config.pretrained_d).model
        d_config = discriminator_config_from_state(d_state, config.pretrained_d)
    generator = Synthesizer(model_config)
    discriminator = MultiPeriodDiscriminator(d_config)
    if g_state is not None:
        load_state_dict_strict(generator, g_state, config.pretrained_g)
    if d_state is not None:
        load_state_dict_strict(discriminator, d_state, config.pretrained_d)
    return generator, discriminator


def discriminator_config_from_state(state: dict[str, torch.Tensor], path: Path) -> DiscriminatorConfig:
    """Widths and groups from the tensor shapes; periods from the count of period discriminators
    (the reference's order 2, 3, 5, 7, 11, 17, 23, 37, of which v1 has the first six)."""
    try:
        scale = [state[f"discriminators.0.convs.{j}.weight_v"].shape for j in range(6)]
        period = [state[f"discriminators.1.convs.{j}.weight_v"].shape[0] for j in range(5)]
    except KeyError as error:
        raise BadInputError(path, f"not an RVC discriminator: missing {error.args[0]!r}") from None
    count = len({k.split(".")[1] for k in state if k.startswith("discriminators.")}) - 1
    all_periods = DiscriminatorConfig().periods
    if not 1 <= count <= len(all_periods):
        raise BadInputError(path, f"{count} period discriminators; RVC has at most {len(all_periods)}")
    in_channels = [1] + [shape[0] for shape in scale[:-1]]
    return DiscriminatorConfig(
        periods=all_periods[:count],
        scale_channels=tuple(int(shape[0]) for shape in scale),
        scale_groups=tuple(int(i // shape[1]) for i, shape in zip(in_channels, scale, strict=True)),
        period_channels=tuple(int(c) for c in period),
    )


@dataclass(frozen=True)
class RVCTrainResult:
    position: Position
    voice_model: Path | None
    best_voice_model: Path | None
    validation: list[dict[str, float]]


def train_rvc(
    experiment_dir: str | Path, config: RVCTrainConfig = RVCTrainConfig(), logger: Logger | None = None
) -> RVCTrainResult:
    """Train on a prepared and extracted experiment folder; restarting continues from its newest
    checkpoint. Writes filelist.txt, G_/D_ checkpoints, train_state_*.pt, weights/ (exported voice
    models, ``<exp>_best.pth``, final ``<exp>.pth``), validation.json and TensorBoard events.
    ``logger``: another logger that receives every figure too (rank 0 only)."""
    experiment = RVCExperiment(experiment_dir)
    root = experiment.root
    remove_stale_temporaries(root)
    entries, held_out = read_splits(experiment, config)
    context = start_run(config.run)
    try:
        generator, discriminator = build_models(config)
        model_config = generator.config
        if (model_config.version, model_config.use_f0) != (config.version, config.use_f0):
            raise ConfigError(
                f"the generator is {model_config.version} with use_f0={model_config.use_f0}, the run "
                f"is configured for {config.version} with use_f0={config.use_f0}"
            )
        spectrogram = _SPECTROGRAMS[model_config.sample_rate]
        dataset = RVCTrainDataset(entries, spectrogram, DrawShapes.for_model(model_config), config.seed)
        lengths = dataset.lengths()

        def batches(epoch: int, rank: int, world_size: int) -> list[list[int]]:
            return bucket_batches(lengths, config.batch_size, epoch, rank, world_size)

        if not batches(1, context.rank, context.world_size):
            raise BadInputError(
                root,
                f"no batch of {config.batch_size} pieces of 1-9 s: prepare more audio or lower batch_size",
            )
        task = RVCTrainTask(generator, discriminator, spectrogram, context, config.optim)
        rvc_discriminator = discriminator.config == DiscriminatorConfig.for_version(model_config.version)
        store = CheckpointStore(
            root,
            RVCCheckpointFormat(config.optim.learning_rate, rvc_discriminator),
            config.loop.keep_latest_only,
        )
        logger = _logger(config, experiment, context.is_main, logger)
        hooks = RVCExport(experiment, config, task, held_out, spectrogram)
        lower_is_better = not HIGHER_IS_BETTER[config.best_metric]
        rule = BestRule(config.best_metric, lower_is_better, history_file=experiment.validation)
        saver = Saver(hooks, SaveCadence(), rule, logger, "validation")
        position = fit(task, TrainData(dataset, batches, collate), context, config.loop, store, logger, saver)
        final = None
        if context.is_main:
            final = experiment.weights / f"{experiment.name}.pth"
            hooks.write(final, f"{position.last_epoch}epoch")
        best = hooks.best_path if saver.best is not None and hooks.best_path.is_file() else None
        return RVCTrainResult(position, final, best, saver.history)
    finally:
        finish_run(context)


class RVCExport:
    """RVC's side of the saver (timbrel.train.saver): a voice model at each checkpoint (RVC's
    save_every_weights), validation on the held-out pieces, ``<exp>_best.pth``."""

    def __init__(
        self,
        experiment: RVCExperiment,
        config: RVCTrainConfig,
        task: RVCTrainTask,
        held_out: list[FilelistEntry],
        spectrogram: TrainSpectrogramConfig,
    ):
        self.experiment, self.config, self.task = experiment, config, task
        self.validation = RVCValidation(held_out, spectrogram) if held_out else None
        self.best_path = experiment.weights / f"{experiment.name}_best.pth"

    def export(self, position: Position) -> None:
        if self.config.save_weights:
            epoch = position.last_epoch
            name = f"{self.experiment.name}_e{epoch}_s{position.step}.pth"
            self.write(self.experiment.weights / name, f"{epoch}epoch")

    def validate(self) -> dict[str, float] | None:
        return None if self.validation is None else self.validation.run(self.task.generator)

    def export_best(self, position: Position, metrics: dict[str, float]) -> None:
        self.write(self.best_path, f"{position.last_epoch}epoch best {self.config.best_metric}")

    def write(self, path: Path, info: str) -> None:
        """The voice model, and beside it the training set's f0 statistics (for ``auto_key``)."""
        model_config = self.task.generator.config
        write_voice_model(path, model_config, self.task.generator.state_dict(), info=info)
        if model_config.use_f0 and visible_files(self.experiment.f0, "*.npy"):
            write_training_f0_stats(path, self.experiment.f0)


def _logger(config: RVCTrainConfig, experiment: RVCExperiment, is_main: bool, extra: Logger | None) -> Logger:
    """TensorBoard and wandb as configured (rank 0), and ``extra``."""
    loggers: list[Logger] = []
    if is_main and config.tensorboard:
        loggers.append(TensorBoardLogger(experiment.tensorboard))
    if is_main and config.wandb_project is not None:
        loggers.append(
            WandbLogger(config.wandb_project, experiment.name, None, to_dict(config), "wandb_project")
        )
    loggers += [extra] if extra is not None else []
    return FanOutLogger(*loggers) if loggers else NullLogger()


class RVCValidation:
    """Held-out pieces converted to themselves (their own content and f0) with the prior path of
    the voice model: mel_l1 (training log-mel, mean |difference|), mcd_db (timbrel.eval) against
    the recording, f0_rmse_cents of pm f0 of the output against that of the recording."""

    def __init__(self, entries, spectrogram: TrainSpectrogramConfig):
        self.items = [RVCTrainDataset([e], spectrogram)[0] for e in entries]
        self.spectrogram = RVCTrainDataset([], spectrogram).spectrogram
        self.sample_rate = spectrogram.sample_rate
        self.pitch = PmExtractor(PmConfig.rvc_training())

    @torch.no_grad()
    def run(self, generator: Synthesizer) -> dict[str, float]:
        was_training = generator.training
        generator.eval()
        device = next(generator.parameters()).device
        rows = []
        for item in self.items:
            phone = item["phone"][None].to(device)
            frames = torch.tensor([phone.shape[1]], device=device)
            pitch = item["pitch"][None].to(device) if "pitch" in item else None
            f0 = item["pitchf"][None].to(device) if "pitchf" in item else None
            audio = (
                generator.infer(phone, frames, pitch, f0, item["sid"][None].to(device))
                .audio[0, 0]
                .float()
                .cpu()
            )
            wave = item["wave"][0]
            n = min(len(audio), len(wave))
            mel_l1 = (
                (self.spectrogram.mel(audio[None, :n]) - self.spectrogram.mel(wave[None, :n])).abs().mean()
            )
            ours, theirs = audio[:n].numpy(), wave[:n].numpy()
            mcd = mel_cepstral_distortion(
                resample(ours, self.sample_rate, MCD_SAMPLE_RATE),
                resample(theirs, self.sample_rate, MCD_SAMPLE_RATE),
            )
            f0_ours = self.pitch.extract(resample(ours, self.sample_rate, 16000).astype(np.float64)).f0_hz
            f0_theirs = self.pitch.extract(resample(theirs, self.sample_rate, 16000).astype(np.float64)).f0_hz
            rows.append((float(mel_l1), mcd, f0_metrics(f0_theirs, f0_ours).rmse_cents))
        generator.train(was_training)
        mel_l1, mcd, cents = (np.array(column, dtype=np.float64) for column in zip(*rows, strict=True))
        return {
            "mel_l1": float(mel_l1.mean()),
            "mcd_db": float(mcd.mean()),
            "f0_rmse_cents": float(np.nanmean(cents)) if np.isfinite(cents).any() else math.nan,
        }
