"""Writing RIFT-SVC Lightning checkpoints (spec 3.6), so that a model trained by Timbrel loads in RIFT-SVC's
infer.py (and its trainer with `+training.pretrained_path`, or `resume_from_checkpoint` for a full state).

The layout is that of ModelCheckpoint's files: `epoch`, `global_step`, `pytorch-lightning_version`,
`state_dict` (`model.transformer.<DiT key>`), `loops`, `hparams_name` = "kwargs" and `hyper_parameters` =
{"cfg": the resolved config plus `spk2idx`, "lr_scheduler": None}; with the full state also
`callbacks`, `optimizer_states` and `lr_schedulers`. Only plain data is stored, so `torch.load(...,
weights_only=True)` reads it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from timbrel.core.files import write_bytes_atomic
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.weights.rift import STATE_PREFIX

LIGHTNING_VERSION = "2.5.5"
_REFERENCE_CONTENT_DIM = 768


def model_cfg(config: DiTConfig) -> dict[str, int]:
    """DiTConfig -> cfg['model'] (the reference's constructor keywords; cvec_dim only when not 768)."""
    cfg = {
        "dim": config.dim,
        "depth": config.depth,
        "n_mel_channels": config.n_mels,
        "head_dim": config.head_dim,
        "ff_mult": config.ff_mult,
        "kernel_size": config.kernel_size,
    }
    if config.content_dim != _REFERENCE_CONTENT_DIM:
        cfg["cvec_dim"] = config.content_dim
    return cfg


def _counts(fields: tuple[str, ...], total: dict[str, int], current: dict[str, int] | None = None):
    current = total if current is None else current
    return {"total": {f: total[f] for f in fields}, "current": {f: current[f] for f in fields}}


def _loops(global_step: int, epoch: int, batches: int, batches_in_epoch: int) -> dict[str, Any]:
    """Lightning's loop counters as ModelCheckpoint saves them in on_train_batch_end: the batch that
    triggered the save is processed but not yet completed."""
    ready_done = ("ready", "completed")
    batch_fields = ("ready", "completed", "started", "processed")
    zero = dict.fromkeys(batch_fields, 0)

    def batch_counts(n: int) -> dict[str, int]:
        return {"ready": n, "completed": max(n - 1, 0), "started": n, "processed": n}

    epochs = {"ready": epoch + 1, "completed": epoch, "started": epoch + 1, "processed": epoch}
    steps = dict.fromkeys(("ready", "completed", "started"), global_step)
    empty_batches = {**_counts(batch_fields, zero), "is_last_batch": False}
    return {
        "fit_loop": {
            "state_dict": {},
            "epoch_loop.state_dict": {"_batches_that_stepped": max(global_step - 1, 0)},
            "epoch_loop.batch_progress": {
                **_counts(batch_fields, batch_counts(batches), batch_counts(batches_in_epoch)),
                "is_last_batch": False,
            },
            "epoch_loop.scheduler_progress": _counts(ready_done, zero),
            "epoch_loop.automatic_optimization.state_dict": {},
            "epoch_loop.automatic_optimization.optim_progress": {
                "optimizer": {
                    "step": _counts(ready_done, steps),
                    "zero_grad": _counts(("ready", "completed", "started"), steps),
                }
            },
            "epoch_loop.manual_optimization.state_dict": {},
            "epoch_loop.manual_optimization.optim_step_progress": _counts(ready_done, zero),
            "epoch_loop.val_loop.state_dict": {},
            "epoch_loop.val_loop.batch_progress": empty_batches,
            "epoch_progress": _counts(batch_fields, epochs),
        },
        "validate_loop": {"state_dict": {}, "batch_progress": empty_batches},
        "test_loop": {"state_dict": {}, "batch_progress": empty_batches},
        "predict_loop": {"state_dict": {}, "batch_progress": _counts(batch_fields, zero)},
    }


def lightning_checkpoint(
    model: DiT,
    speakers: Mapping[str, int],
    cfg: Mapping[str, Any],
    global_step: int,
    epoch: int = 0,
    batches: int | None = None,
    batches_in_epoch: int | None = None,
    optimizer_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict. cfg: the reference config sections other than `model` and `spk2idx`
    (seed, dataset, training; `training.betas` as the string the reference stores); the model section
    and the speaker table come from `model` and `speakers`. batches: training batches so far (global_step
    times the accumulation), batches_in_epoch: those of the current epoch (both default to global_step).
    optimizer_state: None writes the
    save_weights_only layout, else the full state (the weights must then be the train-mode ones)."""
    batches = global_step if batches is None else batches
    state_dict = {
        STATE_PREFIX + k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()
    }
    resolved = {k: v for k, v in cfg.items() if k not in ("model", "spk2idx")}
    resolved["model"] = model_cfg(model.config)
    resolved["spk2idx"] = {str(k): int(v) for k, v in speakers.items()}
    checkpoint: dict[str, Any] = {
        "epoch": epoch,
        "global_step": global_step,
        "pytorch-lightning_version": LIGHTNING_VERSION,
        "state_dict": state_dict,
        "loops": _loops(
            global_step, epoch, batches, batches if batches_in_epoch is None else batches_in_epoch
        ),
    }
    if optimizer_state is not None:
        checkpoint["callbacks"] = {}
        checkpoint["optimizer_states"] = [optimizer_state]
        checkpoint["lr_schedulers"] = []
    checkpoint["hparams_name"] = "kwargs"
    checkpoint["hyper_parameters"] = {"cfg": resolved, "lr_scheduler": None}
    return checkpoint


def save_lightning_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> Path:
    """Write a checkpoint dict from `lightning_checkpoint` atomically."""
    buffer = io.BytesIO()
    torch.save(dict(checkpoint), buffer)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def reference_training_cfg(training: Mapping[str, Any]) -> dict[str, Any]:
    """Training keys as the reference stores them: `betas` as the string "(b1, b2)"."""
    out = dict(training)
    if "betas" in out and not isinstance(out["betas"], str):
        b1, b2 = out["betas"]
        out["betas"] = f"({b1}, {b2})"
    return out
