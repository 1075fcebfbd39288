"""The training loop: runs a TrainTask over its data for some epochs or steps.

One optimizer step takes ``accumulation_steps`` micro-batches (the last window of an epoch may
be shorter). Checkpoints are written at step boundaries by rank 0; a run started again with
the same folder continues from the newest one: same weights, optimizer and scaler states, RNG
states and data position, so the next step's losses equal the uninterrupted run's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from timbrel.core.jobs import progress_bar
from timbrel.models.base import TrainTask
from timbrel.nn.step_context import StepContext
from timbrel.train.checkpoint import CheckpointStore, Position
from timbrel.train.context import barrier
from timbrel.train.data import TrainData, to_device
from timbrel.train.loggers import Logger, NullLogger


@dataclass(frozen=True)
class LoopConfig:
    """epochs: stop after this epoch; max_steps: or after this many optimizer steps.
    save_every_epochs / save_every_steps: checkpoint cadence (None: never); a checkpoint is
    also written when the run ends. log_every_steps: scalars (and the first step's);
    media_every_steps: the task's images and audio (None: with the scalars)."""

    epochs: int = 20
    max_steps: int | None = None
    save_every_epochs: int | None = 5
    save_every_steps: int | None = None
    keep_latest_only: bool = False
    log_every_steps: int = 200
    media_every_steps: int | None = None
    num_workers: int = 0
    show_progress: bool = True


OnSave = Callable[[Position], None]


def fit(
    task: TrainTask,
    data: TrainData,
    context: StepContext,
    config: LoopConfig,
    store: CheckpointStore | None = None,
    logger: Logger | None = None,
    on_save: OnSave | None = None,
) -> Position:
    """Train until ``config.epochs`` or ``config.max_steps`` -> the final position.

    ``on_save(position)`` runs on rank 0 after each checkpoint (export, validation), and again
    for the checkpoint a run resumes from when a kill fell between that checkpoint and the end of
    its ``on_save``, so ``on_save`` must give the same files when run twice.
    The task may have ``end_epoch(epoch)`` (learning-rate schedules) and ``media()``.
    """
    logger = logger if logger is not None and context.is_main else NullLogger()
    resumed = store.resume(task, context) if store is not None else None
    position = resumed or Position()
    saved_at = position.step

    def follow_up() -> None:
        if on_save is not None and store is not None:
            on_save(position)
            store.mark_followed_up(position.step)

    if resumed is not None and context.is_main and not store.followed_up(position.step):
        follow_up()

    def save() -> None:
        nonlocal saved_at
        if store is not None and saved_at != position.step:
            if context.is_main:
                store.save(task, position, context)
                follow_up()
            saved_at = position.step
            barrier(context)

    def done() -> bool:
        return config.max_steps is not None and position.step >= config.max_steps

    while position.epoch <= config.epochs and not done():
        epoch = position.epoch
        if hasattr(data.dataset, "set_epoch"):
            data.dataset.set_epoch(epoch)
        batches = list(data.batches(epoch, context.rank, context.world_size))
        loader = torch.utils.data.DataLoader(
            data.dataset,
            batch_sampler=batches[position.batch :],
            collate_fn=data.collate,
            num_workers=config.num_workers,
            # Its own generator: drawing worker seeds from torch's global one would shift that
            # stream whenever a resumed run starts an epoch's iterator at a different moment.
            generator=torch.Generator().manual_seed(epoch),
        )
        show = config.show_progress and context.is_main
        with progress_bar(f"epoch {epoch}", len(batches), show) as advance:
            advance(position.batch)
            for index, batch in enumerate(loader, start=position.batch):
                micro = index % context.accumulation_steps
                closes = micro == context.accumulation_steps - 1 or index == len(batches) - 1
                with context.at_micro_step(micro, closes):
                    figures = task.step(to_device(batch, context.device), position.step)
                position.batch = index + 1
                advance(1)
                if not closes:
                    continue
                position.step += 1
                _log(task, logger, config, context, figures, position.step, epoch)
                if config.save_every_steps and position.step % config.save_every_steps == 0:
                    save()
                if done():
                    break
        if position.batch < len(batches):
            break
        if hasattr(task, "end_epoch"):
            task.end_epoch(epoch)
        position.epoch, position.batch = epoch + 1, 0
        if config.save_every_epochs and epoch % config.save_every_epochs == 0:
            save()
    save()
    logger.close()
    return position


def _log(
    task: Any,
    logger: Logger,
    config: LoopConfig,
    context: StepContext,
    figures: dict[str, float],
    step: int,
    epoch: int,
) -> None:
    if step % config.log_every_steps == 0 or step == 1:
        logger.scalars({**_mean_over_processes(figures, context), "epoch": float(epoch)}, step)
    every = config.media_every_steps or config.log_every_steps
    if step % every == 0 and context.is_main and hasattr(task, "media"):
        media = task.media()
        for name, image in media.get("images", {}).items():
            logger.image(name, image, step)
        for name, (samples, sample_rate) in media.get("audio", {}).items():
            logger.audio(name, samples, sample_rate, step)


def _mean_over_processes(figures: dict[str, float], context: StepContext) -> dict[str, float]:
    """Each process's figures are of its share of the batch; the log shows the mean over all."""
    if not context.distributed:
        return figures
    names = sorted(figures)
    values = torch.tensor([figures[n] for n in names], dtype=torch.float64, device=context.device)
    torch.distributed.all_reduce(values)
    return {n: v / context.world_size for n, v in zip(names, values.tolist(), strict=True)}
