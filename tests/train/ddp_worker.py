"""One training process of the data-parallel test (started by torch.multiprocessing.spawn)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from timbrel.models.rvc.data import DrawShapes, collate
from timbrel.models.rvc.optim import RVCOptimConfig
from timbrel.models.rvc.training import RVCTrainTask
from timbrel.train.context import RunConfig, finish_run, start_run
from timbrel.train.data import TrainData
from timbrel.train.loop import LoopConfig, fit
from timbrel.train.rvc import RVCTrainConfig, build_models
from timbrel.train.rvc_data import RVCTrainDataset, parse_filelist


class Recorder:
    def __init__(self):
        self.figures: dict[int, dict[str, float]] = {}

    def scalars(self, values, step):
        self.figures[step] = dict(values)

    def image(self, name, image, step):
        pass

    def audio(self, name, samples, sample_rate, step):
        pass

    def close(self):
        pass


def train(
    rank: int,
    world_size: int,
    folder: str,
    global_batches: list[list[int]],
    out: str,
    port: int,
    version: str,
) -> None:
    """Train the tiny model of ``version`` for len(global_batches) steps, each process taking its
    share of every global batch; rank 0 saves the weights and the logged figures to ``out``."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )  # fmt: skip
    torch.set_num_threads(1)
    # AdamW's first step moves a weight by about ±lr whatever its gradient's size, so a gradient
    # that is rounding noise (the two runs sum the batch in different orders) decides the sign of
    # the step and the second step's figures drift apart. An eps far above that noise (about 1e-6
    # here) makes the step continuous in the gradient: |Δstep| <= lr·|Δgrad|/eps.
    optim = replace(RVCOptimConfig(), eps=1e-3)
    config = RVCTrainConfig(model_size="tiny", version=version, sample_rate=32000, optim=optim)
    context = start_run(RunConfig(device="cpu"))
    try:
        lines = (Path(folder) / "filelist.txt").read_text().split("\n")
        entries = parse_filelist(lines, use_f0=True)
        spectrogram = config.spectrogram_config()
        dataset = RVCTrainDataset(entries, spectrogram, DrawShapes.for_model(config.synthesizer_config()))
        generator, discriminator = build_models(config)
        task = RVCTrainTask(generator, discriminator, spectrogram, context, config.optim)

        def batches(epoch, rank, world_size):
            return [batch[rank::world_size] for batch in global_batches]

        recorder = Recorder()
        loop = LoopConfig(epochs=1, save_every_epochs=None, log_every_steps=1, show_progress=False)
        fit(task, TrainData(dataset, batches, collate), context, loop, logger=recorder)
        if context.is_main:
            torch.save(
                {
                    "generator": generator.state_dict(),
                    "discriminator": discriminator.state_dict(),
                    "gradient_average_g": _first_moments(task.optimizer_g),
                    "gradient_average_d": _first_moments(task.optimizer_d),
                    "figures": recorder.figures,
                },
                out,
            )
    finally:
        finish_run(context)


def _first_moments(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """AdamW's exp_avg per parameter: a running average of the gradients, continuous in them."""
    return [optimizer.state[p]["exp_avg"] for p in optimizer.param_groups[0]["params"]]
