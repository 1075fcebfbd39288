"""Training RIFT voice models (RIFT-SVC spec 5): fine-tuning from a pretrained DiT, pretraining from scratch,
resuming, validation with the reference's metrics, checkpoints in Timbrel's format and RIFT-SVC's.

Run it in one process, or in several with torchrun (DDP; gloo on CPU, nccl on CUDA). Every step is a
pure function of (seed, step): step k reads the k-th slice of its epoch's permutation (epoch = k // steps
per epoch), and each micro-batch of each process draws its noise from its own (seed, step, shard)
generator. A resumed run therefore continues exactly, and a run on 2 processes takes the same steps as a
run on 1 process accumulating 2 micro-batches.

Files in `<output_dir>/<run_name>/`: `model-step=<k>.safetensors` + `.json` every save_per_steps (with
`.state.pt` beside it when save_weights_only is False), `model-step=<k>.ckpt` (RIFT-SVC's layout) when
export_lightning, `last.*` links to the newest, `best.*` for the best validation, and `metrics.jsonl`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader

from timbrel.core.config import to_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.features.mel import LogMelSpectrogram
from timbrel.models.rift import flow
from timbrel.models.rift.data import (
    RIFTBatch,
    RIFTSegments,
    collate,
    read_meta_info,
    split_entries,
)
from timbrel.models.rift.dit import PRESETS, DiT, DiTConfig
from timbrel.models.rift.metrics import METRICS
from timbrel.models.rift.training import RIFTTrainSettings, RIFTTrainTask, draw, shard_generator
from timbrel.train.rift_config import LOWER_IS_BETTER, RIFTTrainConfig
from timbrel.vocoders.nsf_hifigan import NsfHifiGan
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import dit_config_from_cfg, dit_state_dict, load_pretrained_dit, read_lightning_file
from timbrel.weights.rift_export import (
    lightning_checkpoint,
    reference_training_cfg,
    save_lightning_checkpoint,
)
from timbrel.weights.rift_features import load_utterance_features
from timbrel.weights.rift_native import (
    is_native_model,
    load_pretrained_native,
    load_training_state,
    model_paths,
    read_config,
    save_rift_model,
    save_training_state,
    state_path,
)

log = logging.getLogger(__name__)
STATE_FORMAT_VERSION = 1
_VALIDATION_STEP = -1  # the draws of held-out batches come from a step number training never uses


@dataclass(frozen=True)
class Process:
    """This process's place in the run: rank, world size and device."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_process(device: str) -> Process:
    """One process, or one of torchrun's (RANK and WORLD_SIZE in the environment): joins the process group
    (nccl on CUDA, gloo otherwise) and picks its device (cuda:LOCAL_RANK for "cuda")."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    chosen = torch.device(device)
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Process(rank, world, chosen)


def _mean_across(process: Process, value: float) -> float:
    if process.world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor) / process.world


def _barrier(process: Process) -> None:
    if process.world > 1:
        dist.barrier()


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


# Data ---------------------------------------------------------------------------------------------------


class StepSchedule:
    """Which training items each micro-batch of each step reads.

    A step takes world·accumulation micro-batches of batch_size items, shard s = rank·accumulation + i,
    from consecutive slices of a per-epoch permutation; the tail of an epoch that fills no step is
    dropped (drop_last)."""

    def __init__(self, n_items: int, batch_size: int, shards: int, seed: int):
        self.batch_size = batch_size
        self.shards = shards
        self.seed = seed
        self.n_items = n_items
        self.steps_per_epoch = n_items // (batch_size * shards)
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"{n_items} training items cannot fill one step of {shards} micro-batch(es) of "
                f"{batch_size}; lower training.batch_size_per_gpu or add recordings"
            )

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def _permutation(self, epoch: int) -> list[int]:
        digest = hashlib.blake2b(f"rift-order/{self.seed}/{epoch}".encode(), digest_size=8).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
        return torch.randperm(self.n_items, generator=generator).tolist()

    def micro_batches(self, step: int, shards: range) -> list[list[tuple[int, int]]]:
        """-> for each shard in `shards`: its (epoch, item index) keys."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = self._permutation(epoch)
        first = position * self.batch_size * self.shards
        return [
            [(epoch, i) for i in order[first + s * self.batch_size : first + (s + 1) * self.batch_size]]
            for s in shards
        ]


class _StepSampler:
    """The micro-batch keys of this process for steps start..stop-1, in order (a DataLoader batch_sampler)."""

    def __init__(self, schedule: StepSchedule, shards: range, start: int, stop: int):
        self.schedule, self.shards, self.start, self.stop = schedule, shards, start, stop

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.stop):
            yield from self.schedule.micro_batches(step, self.shards)

    def __len__(self) -> int:
        return (self.stop - self.start) * len(self.shards)


# Logging ------------------------------------------------------------------------------------------------


class RunLog:
    """metrics.jsonl in the run folder, plus TensorBoard (`<log_dir>/<run_name>`) or Weights & Biases."""

    def __init__(self, config: RIFTTrainConfig, run_dir: Path):
        self.path = run_dir / "metrics.jsonl"
        self.writer = None
        self.wandb_run = None
        training = config.training
        if training.logger == "tensorboard":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as error:
                raise ConfigError(
                    "training.logger=tensorboard needs the tensorboard package (pip install "
                    "'timbrel[train]'), or set training.logger=none"
                ) from error
            self.writer = SummaryWriter(str(Path(training.log_dir) / training.run_name))
        elif training.logger == "wandb":
            try:
                import wandb
            except ImportError as error:
                raise ConfigError(
                    "training.logger=wandb needs the wandb package (pip install wandb)"
                ) from error
            self.wandb_run = wandb.init(
                project=training.wandb_project,
                name=training.run_name,
                id=training.wandb_resume_id,
                resume="allow",
                config=to_dict(config),
            )

    def log(self, step: int, values: Mapping[str, float]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)
        if self.wandb_run is not None:
            self.wandb_run.log(dict(values), step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()


# Validation ---------------------------------------------------------------------------------------------


@torch.no_grad()
def validate(
    task: RIFTTrainTask,
    batches: list[RIFTBatch],
    eval_sample_steps: int,
    vocoder: NsfHifiGan | None = None,
) -> dict[str, float]:
    """Held-out metrics with the model as it is (call inside task.evaluation()): `loss`, the flow loss
    over all valid elements with fixed draws; with a vocoder also mcd, psnr, si_snr and mse (spec 5.4),
    averaged over items."""
    model = task.model
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


def _is_better(metric: str, value: float, best: float | None) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if LOWER_IS_BETTER[metric] else value > best


# Checkpoints --------------------------------------------------------------------------------------------


def reference_cfg(config: RIFTTrainConfig) -> dict[str, Any]:
    """The config as RIFT-SVC stores it in hyper_parameters.cfg (without model and spk2idx)."""
    t = config.training
    training = {
        "optimizer_type": "adamwsf",
        "learning_rate": t.learning_rate,
        "betas": t.betas,
        "weight_decay": t.weight_decay,
        "batch_size_per_gpu": t.batch_size_per_gpu,
        "grad_accumulation_steps": t.grad_accumulation_steps,
        "max_grad_norm": t.max_grad_norm,
        "max_steps": t.max_steps,
        "warmup_ratio": t.warmup_ratio,
        "save_per_steps": t.save_per_steps,
        "test_per_steps": t.test_per_steps,
        "log_media_per_steps": t.test_per_steps,
        "wandb_project": t.wandb_project,
        "run_name": t.run_name,
        "save_weights_only": t.save_weights_only,
        "num_workers": t.num_workers,
        "eval_sample_steps": t.eval_sample_steps,
        "drop_spk_prob": t.drop_spk_prob,
        "time_schedule": t.time_schedule,
        "logger": t.logger,
    }
    if t.pretrained_path is not None:
        training["pretrained_path"] = str(t.pretrained_path)
    if t.freeze_adaln_and_tembed:
        training["freeze_adaln_and_tembed"] = True
    dataset = config.dataset
    return {
        "seed": config.seed,
        "dataset": {
            "data_dir": str(dataset.data_dir),
            "meta_info_path": str(dataset.meta_info),
            "max_frame_len": dataset.max_frame_len,
        },
        "training": reference_training_cfg(training),
    }


def _link(target: Path, link: Path) -> None:
    """`link` -> `target` (a relative symlink, or a copy where links are not allowed)."""
    link.unlink(missing_ok=True)
    try:
        link.symlink_to(target.name)
    except OSError:
        shutil.copyfile(target, link)


@dataclass
class _Saver:
    config: RIFTTrainConfig
    run_dir: Path
    speakers: dict[str, int]
    batches_per_step: int

    def save(self, name: str, task: RIFTTrainTask, step: int, extra: Mapping[str, Any], full: bool) -> Path:
        stem = self.run_dir / name
        weights = save_rift_model(stem, task.model, self.speakers, to_dict(self.config))
        if full:
            state = {
                "format_version": STATE_FORMAT_VERSION,
                "step": step,
                "task": task.state_dict(),
                **extra,
            }
            save_training_state(stem, state)
        if self.config.training.export_lightning:
            checkpoint = lightning_checkpoint(
                task.model,
                self.speakers,
                reference_cfg(self.config),
                step,
                batches=step * self.batches_per_step,
                optimizer_state=task.optimizer.state_dict() if full else None,
            )
            save_lightning_checkpoint(stem.with_name(name + ".ckpt"), checkpoint)
        return weights

    def link_last(self, name: str, full: bool) -> None:
        stem = self.run_dir / name
        files = [*model_paths(stem)]
        if full:
            files.append(state_path(stem))
        if self.config.training.export_lightning:
            files.append(stem.with_name(name + ".ckpt"))
        for path in files:
            _link(path, path.with_name("last" + path.name.removeprefix(name)))


def _resume(path: Path, task: RIFTTrainTask) -> tuple[int, dict[str, Any]]:
    """Load a training state (Timbrel's, or a RIFT-SVC full-state .ckpt) -> (step, extra loop state)."""
    if path.suffix == ".ckpt":
        data = read_lightning_file(path)
        if "optimizer_states" not in data:
            raise BadInputError(
                path, "a weights-only checkpoint cannot be resumed (train with save_weights_only=False)"
            )
        task.load_state_dict(
            {"model": dit_state_dict(data["state_dict"], path), "optimizer": data["optimizer_states"][0]}
        )
        return int(data["global_step"]), {}
    state = load_training_state(path)
    if state.get("format_version") != STATE_FORMAT_VERSION:
        raise BadInputError(path, f"training state format {state.get('format_version')!r} is not supported")
    task.load_state_dict(state["task"])
    return int(state["step"]), {k: v for k, v in state.items() if k not in ("task", "step", "format_version")}


# The run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RIFTTrainResult:
    """run_dir: the checkpoint folder; step: the last step taken; last_train: the last step's
    figures; validations: (step, metrics) of every validation; best: (metric, value, step) or None."""

    run_dir: Path
    step: int
    last_train: dict[str, float]
    validations: tuple[tuple[int, dict[str, float]], ...]
    best: tuple[str, float, int] | None


def _settings(config: RIFTTrainConfig) -> RIFTTrainSettings:
    t = config.training
    return RIFTTrainSettings(
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        betas=t.betas,
        warmup_steps=t.warmup_steps,
        time_schedule=t.time_schedule,
        drop_speaker_probability=t.drop_spk_prob,
        max_grad_norm=t.max_grad_norm,
        freeze_adaln_and_time_embedding=t.freeze_adaln_and_tembed,
        precision=t.precision,
    )


def _resumed_architecture(path: Path, speakers: int) -> DiTConfig:
    found = _file_architecture(path, speakers)
    if found is None:
        raise BadInputError(path, "the checkpoint names no model architecture (hyper_parameters.cfg.model)")
    return found


def train_rift(config: RIFTTrainConfig, show_progress: bool = False) -> RIFTTrainResult:
    """Train as configured (see `timbrel.train.rift_config`). Under torchrun every process calls this."""
    training = config.training
    process = start_process(training.device)
    meta = read_meta_info(config.dataset.meta_info)
    speakers = meta.speaker_ids
    resume = training.resume_from_checkpoint
    if resume is not None:
        resume = Path(resume)
        model = DiT(_resumed_architecture(resume, len(speakers)))
        left_out: list[str] = []
    else:
        model, left_out = build_model(config, len(speakers))
    model.to(process.device)
    network = model
    if process.world > 1:
        device_ids = [process.device.index] if process.device.type == "cuda" else None
        network = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    accumulation = training.grad_accumulation_steps
    task = RIFTTrainTask(
        model, _settings(config), config.seed, network=network, shard_offset=process.rank * accumulation
    )
    start, loop_state = (0, {}) if resume is None else _resume(resume, task)
    best_value = loop_state.get("best_value")
    best_step = loop_state.get("best_step")

    train_set = RIFTSegments(
        split_entries(config.dataset.data_dir, meta, "train"),
        load_utterance_features,
        config.dataset.max_frame_len,
        train=True,
        seed=config.seed,
    )
    test_set = RIFTSegments(
        split_entries(config.dataset.data_dir, meta, "test"),
        load_utterance_features,
        config.dataset.max_frame_len,
        train=False,
    )
    schedule = StepSchedule(
        len(train_set), training.batch_size_per_gpu, process.world * accumulation, config.seed
    )
    shards = range(process.rank * accumulation, (process.rank + 1) * accumulation)
    loader = DataLoader(
        train_set,
        batch_sampler=_StepSampler(schedule, shards, start, training.max_steps),
        collate_fn=collate,
        num_workers=training.num_workers,
    )
    run_dir = Path(training.output_dir) / training.run_name
    saver = _Saver(config, run_dir, speakers, process.world * accumulation)
    run_log = None
    vocoder = None
    test_batches: list[RIFTBatch] = []
    if process.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        run_log = RunLog(config, run_dir)
        if left_out:
            log.warning("pretrained weights left out (fresh initialisation kept): %s", left_out)
        indices = list(range(len(test_set)))
        if config.validation.max_items:
            indices = indices[: config.validation.max_items]
        size = training.batch_size_per_gpu
        test_batches = [
            collate([test_set[i] for i in indices[k : k + size]]).to(process.device)
            for k in range(0, len(indices), size)
        ]
        if config.validation.vocoder_path is not None:
            vocoder = load_nsf_hifigan(config.validation.vocoder_path).to(process.device).eval()

    validations: list[tuple[int, dict[str, float]]] = []
    last: dict[str, float] = {}
    step = start
    micro: list[RIFTBatch] = []
    progress = _progress(show_progress and process.main, training.max_steps, start)
    try:
        for batch in loader:
            micro.append(batch.to(process.device))
            if len(micro) < accumulation:
                continue
            figures = task.step(micro, step)
            micro = []
            step += 1
            last = {
                "train/loss": _mean_across(process, figures["loss"]),
                "train/grad_norm": figures["grad_norm"],
                "train/lr": task.optimizer.param_groups[0]["scheduled_lr"],
            }
            if run_log is not None:
                run_log.log(step, last)
            progress(step, last["train/loss"])
            full = not training.save_weights_only
            if step % training.save_per_steps == 0 or step == training.max_steps:
                if process.main:
                    extra = {"best_value": best_value, "best_step": best_step}
                    saver.save(f"model-step={step}", task, step, extra, full)
                    saver.link_last(f"model-step={step}", full)
                _barrier(process)
            if (step % training.test_per_steps == 0 or step == training.max_steps) and test_set.entries:
                with task.evaluation():
                    if process.main:
                        metrics = validate(task, test_batches, training.eval_sample_steps, vocoder)
                    _barrier(process)
                if process.main:
                    validations.append((step, metrics))
                    run_log.log(step, {f"val/{k}": v for k, v in metrics.items()})
                    value = metrics.get(training.best_metric)
                    if value is not None and _is_better(training.best_metric, value, best_value):
                        best_value, best_step = value, step
                        saver.save("best", task, step, {"best_value": value, "best_step": step}, False)
    finally:
        if run_log is not None:
            run_log.close()
    best = None if best_value is None else (training.best_metric, best_value, best_step)
    return RIFTTrainResult(run_dir, step, last, tuple(validations), best)


def _progress(enabled: bool, total: int, start: int):
    """A rich progress bar on stderr (no-op when disabled) -> update(step, loss)."""
    if not enabled:
        return lambda step, loss: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("training rift"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
    )
    bar.start()
    task = bar.add_task("train", total=total, completed=start, loss="-")

    def update(step: int, loss: float) -> None:
        bar.update(task, completed=step, loss=f"{loss:.4f}")
        if step >= total:
            bar.stop()

    return update
