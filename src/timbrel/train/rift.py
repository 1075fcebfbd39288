"""Training RIFT voice models (RIFT-SVC spec 5) on the generic loop (timbrel.train.loop): fine-tuning from a
pretrained DiT, pretraining from scratch, resuming, validation with the reference's metrics, checkpoints
in Timbrel's format and RIFT-SVC's.

Run it in one process, or in several with torchrun (DDP; gloo on CPU, nccl on CUDA). An epoch's
permutation depends on (seed, epoch) only; each optimizer step takes world·accumulation micro-batches of
batch_size_per_gpu consecutive items (shard s = rank·accumulation + micro-step), and each micro-batch
draws its noise, times and dropped speakers from a (seed, step, shard) generator. A resumed run
therefore continues exactly, and a run on 2 processes takes the same steps as one process accumulating 2.

Files in `<output_dir>/<run_name>/`: at each checkpoint `model-step=<k>.safetensors` + `.json` and the
loop's `train_state_<k>.pt` (optimizer state, position, RNG: a run started again continues from the
newest); `model-step=<k>.ckpt` in RIFT-SVC's layout when export_lightning (with the optimizer state
when save_weights_only is False); `last.*` links to the newest; `best.*` for the best validation; and
`metrics.jsonl`. Checkpoints are written every gcd(save_per_steps, test_per_steps) steps, because
validation runs after a checkpoint (RIFTTrainConfig.recipe).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from timbrel.core.config import to_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import remove_stale_temporaries
from timbrel.core.jobs import Outcome
from timbrel.features.mel import LogMelSpectrogram
from timbrel.models.rift import flow
from timbrel.models.rift.data import RIFTBatch, collate, step_batches
from timbrel.models.rift.dit import PRESETS, DiT, DiTConfig
from timbrel.models.rift.metrics import METRICS
from timbrel.models.rift.training import RIFTTrainTask, draw, shard_generator
from timbrel.nn.step_context import StepContext
from timbrel.train.checkpoint import CheckpointStore, Position
from timbrel.train.context import RunConfig, barrier, finish_run, start_run
from timbrel.train.data import TrainData
from timbrel.train.loggers import (
    FanOutLogger,
    JsonlLogger,
    Logger,
    NullLogger,
    TensorBoardLogger,
    WandbLogger,
)
from timbrel.train.loop import fit
from timbrel.train.rift_config import LOWER_IS_BETTER, RIFTTrainConfig
from timbrel.train.rift_data import held_out_batches, read_splits
from timbrel.train.saver import BestRule, Saver
from timbrel.vocoders.nsf_hifigan import NsfHifiGan
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import dit_config_from_cfg, dit_state_dict, load_pretrained_dit, read_lightning_file
from timbrel.weights.rift_export import (
    lightning_checkpoint,
    save_lightning_checkpoint,
)
from timbrel.weights.rift_features import speaker_f0_stats
from timbrel.weights.rift_native import (
    is_native_model,
    load_pretrained_native,
    load_rift_model,
    model_paths,
    read_config,
    save_rift_model,
    save_rift_weights,
)
from timbrel.weights.rift_voice import write_speaker_f0_stats
from timbrel.weights.rvc import sidecar_path

log = logging.getLogger(__name__)
_VALIDATION_STEP = -1  # the draws of held-out batches come from a step number training never uses


# Model --------------------------------------------------------------------------------------------------


def _architecture(config: RIFTTrainConfig, speakers: int) -> DiTConfig:
    size = config.model.size or "dit-512-8"
    content_dim = config.model.content_dim
    if size == "tiny":
        return dataclasses.replace(DiTConfig.tiny(speakers), content_dim=content_dim)
    dim, depth = PRESETS[size]
    return DiTConfig(dim=dim, depth=depth, content_dim=content_dim, num_speakers=speakers)


def _file_architecture(path: Path, speakers: int) -> DiTConfig | None:
    """The architecture a pretrained or resumed file declares (None: a bare state dict)."""
    if is_native_model(path):
        model = read_config(path)["model"]
        return dataclasses.replace(DiTConfig(**model), num_speakers=speakers)
    cfg = (read_lightning_file(path).get("hyper_parameters") or {}).get("cfg")
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        return dit_config_from_cfg(cfg["model"], speakers, path)
    return None


def _check_size(config: RIFTTrainConfig, found: DiTConfig, path: Path) -> None:
    wanted = config.model.size
    if wanted is None:
        return
    expected = _architecture(config, found.num_speakers)
    if (expected.dim, expected.depth, expected.head_dim) != (found.dim, found.depth, found.head_dim):
        raise ConfigError(
            f"model.size is {wanted} but {path} holds a DiT of dim {found.dim}, depth {found.depth}; "
            "leave model.size unset to take the file's size"
        )


def build_model(config: RIFTTrainConfig, speakers: int) -> tuple[DiT, list[str]]:
    """A DiT for `speakers` speakers: initialised as the reference does from scratch (seeded), then
    filled from the pretrained file if any -> (model, keys left at their initialisation)."""
    pretrained = config.training.pretrained_path
    architecture = _architecture(config, speakers)
    if pretrained is not None:
        pretrained = Path(pretrained)
        if not is_native_model(pretrained) and not pretrained.is_file():
            raise BadInputError(pretrained, "no such pretrained checkpoint")
        found = _file_architecture(pretrained, speakers)
        if found is not None:
            _check_size(config, found, pretrained)
            architecture = found
    model = DiT(architecture)
    model.init_weights(torch.Generator().manual_seed(config.seed))
    left_out: list[str] = []
    if pretrained is not None:
        if is_native_model(pretrained):
            left_out = load_pretrained_native(model, pretrained)
        else:
            left_out = load_pretrained_dit(model, pretrained)
    return model, left_out


# Logging ------------------------------------------------------------------------------------------------


def make_logger(
    config: RIFTTrainConfig, run_dir: Path, context: StepContext, extra: Logger | None = None
) -> Logger:
    """metrics.jsonl plus the configured logger (and ``extra``, e.g. the web UI's) on rank 0."""
    if not context.is_main:
        return NullLogger()
    training = config.training
    inner: Logger = NullLogger()
    if training.logger == "tensorboard":
        try:
            inner = TensorBoardLogger(Path(training.log_dir) / training.run_name)
        except ImportError as error:
            raise ConfigError(f"{error}; or set training.logger=none") from error
    elif training.logger == "wandb":
        inner = WandbLogger(
            training.wandb_project,
            training.run_name,
            training.wandb_resume_id,
            to_dict(config),
            "training.logger=wandb",
        )
    return JsonlLogger(run_dir / "metrics.jsonl", inner if extra is None else FanOutLogger(inner, extra))


# Validation ---------------------------------------------------------------------------------------------


@torch.no_grad()
def validate(
    task: RIFTTrainTask,
    batches: list[RIFTBatch],
    eval_sample_steps: int,
    vocoder: NsfHifiGan | None = None,
    model: DiT | None = None,
) -> dict[str, float]:
    """Held-out metrics of `model` (default: the averaged weights of `task.evaluation()`): `loss`, the
    flow loss over all valid elements with fixed draws; with a vocoder also mcd, psnr, si_snr and mse
    (spec 5.4), averaged over items."""
    if model is None:
        with task.evaluation() as averaged:
            return validate(task, batches, eval_sample_steps, vocoder, averaged)
    total = 0.0
    count = 0
    per_item: dict[str, list[float]] = {name: [] for name in METRICS}
    mel_extractor = LogMelSpectrogram().to(batches[0].mel.device) if vocoder is not None and batches else None
    for index, batch in enumerate(batches):
        generator = shard_generator(task.seed, _VALIDATION_STEP, index)
        loss, _ = task.objective(batch, draw(batch, task.settings, generator), network=model)
        valid = int(batch.frame_lengths.sum()) * batch.mel.shape[-1]
        total += float(loss) * valid
        count += valid
        if vocoder is None:
            continue
        mask = batch.mask()
        cond = model.condition(batch.f0_hz, batch.rms, batch.content, mask)

        def velocity(t: Tensor, y: Tensor, batch: RIFTBatch = batch, cond=cond) -> Tensor:
            return model.velocity(y, t, batch.speaker, cond)

        noise = torch.randn(batch.mel.shape, generator=generator).to(batch.mel.device)
        mel, _ = flow.sample(velocity, noise, batch.mel, mask, steps=eval_sample_steps)
        for i, length in enumerate(batch.frame_lengths.tolist()):
            f0 = batch.f0_hz[i : i + 1, :length]
            pair = torch.cat((mel[i : i + 1, :length], batch.mel[i : i + 1, :length])).transpose(1, 2)
            draws = vocoder.source_draws(f0.expand(2, -1), deterministic=True)
            waves = vocoder(pair, f0.expand(2, -1), draws).squeeze(1)
            est, tgt = mel_extractor(waves).clamp(flow.MEL_MIN, flow.MEL_MAX).transpose(1, 2)
            for name, metric in METRICS.items():
                per_item[name].append(float(metric(est, tgt)))
    results = {"loss": total / max(count, 1)}
    results.update({name: sum(v) / len(v) for name, v in per_item.items() if v})
    return results


# Checkpoints --------------------------------------------------------------------------------------------


def _link(target: Path, link: Path) -> None:
    """`link` -> `target` (a relative symlink, or a copy where links are not allowed)."""
    link.unlink(missing_ok=True)
    try:
        link.symlink_to(target.name)
    except OSError:
        shutil.copyfile(target, link)


class RIFTCheckpointFormat:
    """The task state at step k as `model-step=<k>.safetensors` + `.json` (the train-mode weights, a
    complete Timbrel model); the optimizer state stays in the loop's train_state file."""

    def __init__(self, config: RIFTTrainConfig, speakers: dict[str, int], model_config: DiTConfig):
        self.config, self.speakers, self.model_config = config, speakers, model_config

    def save(self, folder: Path, step: int, epoch: int, state: dict[str, Any]) -> dict[str, Any]:
        stem = folder / f"model-step={step}"
        save_rift_weights(stem, state["model"], self.model_config, self.speakers, to_dict(self.config))
        return {"optimizer": state["optimizer"]}

    def load(self, folder: Path, step: int, rest: dict[str, Any]) -> dict[str, Any]:
        loaded = load_rift_model(folder / f"model-step={step}")
        return {"model": loaded.model.state_dict(), **rest}

    def remove(self, folder: Path, step: int) -> None:
        for path in model_paths(folder / f"model-step={step}"):
            path.unlink(missing_ok=True)


class RIFTExport:
    """RIFT's side of the saver (timbrel.train.saver): RIFT-SVC export, f0 statistics and `last` links
    at save steps; validation of the averaged weights; `best.*`."""

    def __init__(
        self,
        config: RIFTTrainConfig,
        run_dir: Path,
        speakers: dict[str, int],
        task: RIFTTrainTask,
        test_batches: list[RIFTBatch],
        vocoder: NsfHifiGan | None,
        batches_per_step: int,
    ):
        self.config, self.run_dir, self.speakers, self.task = config, run_dir, speakers, task
        self.test_batches, self.vocoder = test_batches, vocoder
        self.batches_per_step = batches_per_step
        # Beside every exported model, for auto_key (the training set does not change within a run).
        self.f0_stats = speaker_f0_stats(config.dataset.data_dir, speakers)

    def export(self, position: Position) -> None:
        training = self.config.training
        name = f"model-step={position.step}"
        if training.export_lightning:
            self._lightning(self.run_dir / f"{name}.ckpt", position.step, not training.save_weights_only)
        write_speaker_f0_stats(self.run_dir / name, self.speakers, self.f0_stats)
        for path in self._files(name):
            _link(path, path.with_name("last" + path.name.removeprefix(name)))

    def validate(self) -> dict[str, float] | None:
        if not self.test_batches:
            return None
        with self.task.evaluation() as model:
            return validate(
                self.task, self.test_batches, self.config.training.eval_sample_steps, self.vocoder, model
            )

    def export_best(self, position: Position, metrics: dict[str, float]) -> None:
        save_rift_model(self.run_dir / "best", self.task.model, self.speakers, to_dict(self.config))
        write_speaker_f0_stats(self.run_dir / "best", self.speakers, self.f0_stats)
        if self.config.training.export_lightning:
            self._lightning(self.run_dir / "best.ckpt", position.step, False)

    def _files(self, name: str) -> list[Path]:
        files = [*model_paths(self.run_dir / name), sidecar_path(self.run_dir / name)]
        if self.config.training.export_lightning:
            files.append(self.run_dir / f"{name}.ckpt")
        return files

    def _lightning(self, path: Path, step: int, full: bool) -> None:
        checkpoint = lightning_checkpoint(
            self.task.model,
            self.speakers,
            self.config.reference_cfg(),
            step,
            batches=step * self.batches_per_step,
            optimizer_state=self.task.optimizer.state_dict() if full else None,
        )
        save_lightning_checkpoint(path, checkpoint)


def _import_checkpoint(path: Path, store: CheckpointStore, task: RIFTTrainTask, steps_per_epoch: int) -> None:
    """Make `path` the newest checkpoint of the run folder, so that the loop resumes from it: a Timbrel
    checkpoint of another run folder (copied), or a RIFT-SVC full-state .ckpt (converted)."""
    folder = store.folder
    context = task.context
    if path.suffix == ".ckpt":
        data = read_lightning_file(path)
        if "optimizer_states" not in data:
            raise BadInputError(
                path, "a weights-only checkpoint cannot be resumed (train with save_weights_only=False)"
            )
        task.load_state_dict(
            {"model": dit_state_dict(data["state_dict"], path), "optimizer": data["optimizer_states"][0]}
        )
        step = int(data["global_step"])
        epoch, steps_done = divmod(step, steps_per_epoch)
        if context.is_main:
            store.save(task, Position(step, epoch + 1, steps_done * context.accumulation_steps), context)
        return
    weights, _ = model_paths(path)
    step = int(weights.name.removesuffix(".safetensors").rpartition("=")[2])
    source = weights.parent
    if folder.is_dir() and source.resolve() == folder.resolve():
        if store.steps() and store.steps()[-1] != step:
            raise ConfigError(
                f"{path} is not the newest checkpoint of its run ({store.steps()[-1]}); a run resumes from "
                "its newest checkpoint: remove the newer ones or resume into another run_name"
            )
        return
    if context.is_main:
        folder.mkdir(parents=True, exist_ok=True)
        for file in (*model_paths(source / f"model-step={step}"), source / f"train_state_{step}.pt"):
            if not file.is_file():
                raise BadInputError(file, "missing: this checkpoint cannot be resumed")
            shutil.copyfile(file, folder / file.name)


# The run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RIFTTrainResult:
    """run_dir: the checkpoint folder; step: the last step taken; validations: (step, metrics) of every
    validation in this call; best: (metric, value, step) or None; stages: what the stages before
    training did (one-click: "prepare" and "extract" -> an outcome per item; timbrel.api fills it)."""

    run_dir: Path
    step: int
    validations: tuple[tuple[int, dict[str, float]], ...]
    best: tuple[str, float, int] | None
    stages: dict[str, tuple[Outcome, ...]] = dataclasses.field(default_factory=dict)


def _resumed_model(path: Path, speakers: int) -> DiT:
    if is_native_model(path):
        return DiT(dataclasses.replace(load_rift_model(path).config, num_speakers=speakers))
    found = _file_architecture(path, speakers)
    if found is None:
        raise BadInputError(path, "the checkpoint names no model architecture (hyper_parameters.cfg.model)")
    return DiT(found)


def train_rift(
    config: RIFTTrainConfig, show_progress: bool = False, extra_logger: Logger | None = None
) -> RIFTTrainResult:
    """Train as configured (see `timbrel.train.rift_config`); a run whose folder holds checkpoints
    continues from the newest. Under torchrun every process calls this."""
    training = config.training
    splits = read_splits(config)
    speakers, train_set = splits.speakers, splits.train
    accumulation = training.grad_accumulation_steps
    context = start_run(RunConfig(training.device, training.precision, accumulation, config.seed))
    try:
        shards = context.world_size * accumulation
        steps_per_epoch = len(train_set) // (training.batch_size_per_gpu * shards)
        if steps_per_epoch == 0:
            raise ConfigError(
                f"{len(train_set)} training items cannot fill one step of {shards} micro-batch(es) of "
                f"{training.batch_size_per_gpu}; lower training.batch_size_per_gpu or add recordings"
            )
        run_dir = Path(training.output_dir) / training.run_name
        resume = training.resume_from_checkpoint
        newest = CheckpointStore(run_dir).steps()
        left_out: list[str] = []
        if resume is not None:
            model = _resumed_model(Path(resume), len(speakers))
        elif newest:
            model = _resumed_model(run_dir / f"model-step={newest[-1]}", len(speakers))
        else:
            model, left_out = build_model(config, len(speakers))
        store = CheckpointStore(run_dir, RIFTCheckpointFormat(config, speakers, model.config))
        if left_out:
            log.warning("pretrained weights left out (fresh initialisation kept): %s", left_out)
        recipe = config.recipe(steps_per_epoch, show_progress)
        task = RIFTTrainTask(model, recipe.task, config.seed, context)
        if resume is not None:
            _import_checkpoint(Path(resume), store, task, steps_per_epoch)
        barrier(context)

        logger: Logger = NullLogger()
        test_batches: list[RIFTBatch] = []
        vocoder = None
        if context.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(run_dir)
            logger = make_logger(config, run_dir, context, extra_logger)
            test_batches = held_out_batches(
                splits.test, config.validation.max_items, training.batch_size_per_gpu, context.device
            )
            if config.validation.vocoder_path is not None:
                vocoder = load_nsf_hifigan(config.validation.vocoder_path).to(context.device).eval()
        hooks = RIFTExport(config, run_dir, speakers, task, test_batches, vocoder, shards)
        rule = BestRule(
            training.best_metric, LOWER_IS_BETTER[training.best_metric], best_file=run_dir / "best.json"
        )
        saver = Saver(hooks, recipe.cadence, rule, logger, "val")
        data = TrainData(
            train_set,
            step_batches(len(train_set), training.batch_size_per_gpu, accumulation, config.seed),
            collate,
        )
        position = fit(task, data, context, recipe.loop, store, logger, saver)
        best = None if saver.best is None else (training.best_metric, saver.best[0], saver.best[1])
        return RIFTTrainResult(run_dir, position.step, tuple(saver.validations), best)
    finally:
        finish_run(context)
