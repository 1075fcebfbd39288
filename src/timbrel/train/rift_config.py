"""RIFT training configuration: every key of RIFT-SVC's `config/finetune.yaml` / `pretrain.yaml` and of
its `+training.` extras (spec 5.2), typed, with dotted overrides (`training.learning_rate=5e-5`).

| RIFT-SVC | Timbrel |
|---|---|
| `model=dit-512-8` | `model.size` |
| `training.run_name` | `training.run_name` |
| `+training.pretrained_path` | `training.pretrained_path` (RIFT-SVC .ckpt or a Timbrel model) |
| `training.learning_rate`, `weight_decay`, `betas`, `warmup_ratio`, `max_grad_norm` | same names |
| `training.max_steps`, `batch_size_per_gpu`, `grad_accumulation_steps` | same names |
| `training.save_per_steps`, `test_per_steps`, `eval_sample_steps` | same names |
| `training.time_schedule` | same name (lognorm, uniform) |
| `+training.freeze_adaln_and_tembed` | `training.freeze_adaln_and_tembed` |
| `training.drop_spk_prob` | same name |
| `training.logger` (wandb, tensorboard) | same name (also none); `training.wandb_project` |
| `training.save_weights_only` | same name (the exported `.ckpt` only; Timbrel's checkpoints always resume) |
| `+training.resume_from_checkpoint`, `+training.wandb_resume_id` | same names |
| `dataset.data_dir`, `dataset.meta_info_path`, `dataset.max_frame_len` | same names |
| `seed`, `training.num_workers` | same names |

Timbrel adds: `training.device`, `training.precision`, `training.output_dir`, `training.log_dir`,
`training.export_lightning` (also write RIFT-SVC `.ckpt` files), `training.best_metric`,
`validation.vocoder_path` (the spec 5.4 metrics need a vocoder; without one the held-out flow loss is
the validation). Not carried over: `log_media_per_steps` (media logging), `optimizer_type: adamw` and
`min_lr` (the alternative optimizer), and the LoRA keys (unusable in the reference, spec 3.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from timbrel.core import device as devices
from timbrel.core.errors import ConfigError
from timbrel.dataset.rift import RIFTDataDir
from timbrel.models.rift.dit import PRESETS
from timbrel.models.rift.training import RIFTTrainSettings
from timbrel.train.loop import LoopConfig
from timbrel.train.saver import SaveCadence
from timbrel.weights.rift_export import reference_training_cfg

MODEL_SIZES = (*PRESETS, "tiny")
LOWER_IS_BETTER = {"loss": True, "mcd": True, "mse": True, "psnr": False, "si_snr": False}


@dataclass(frozen=True)
class DatasetSection:
    """data_dir: `<speaker>/<stem>.wav` with the feature files beside; meta_info_path: default
    `<data_dir>/meta_info.json`."""

    data_dir: Path = Path("data/finetune")
    meta_info_path: Path | None = None
    max_frame_len: int = 256

    def __post_init__(self) -> None:
        if self.max_frame_len < 1:
            raise ConfigError(f"dataset.max_frame_len must be positive, got {self.max_frame_len}")

    @property
    def meta_info(self) -> Path:
        return self.meta_info_path or RIFTDataDir(self.data_dir).meta_info


@dataclass(frozen=True)
class ModelSection:
    """size: a released DiT size or "tiny" (tests); None takes the pretrained or resumed file's
    architecture, else dit-512-8. content_dim: the content vectors' width (768 for ContentVec)."""

    size: str | None = None
    content_dim: int = 768

    def __post_init__(self) -> None:
        if self.size is not None and self.size not in MODEL_SIZES:
            raise ConfigError(f"model.size {self.size!r}; allowed: {list(MODEL_SIZES)}")


@dataclass(frozen=True)
class TrainingSection:
    run_name: str = "rift-finetune"
    output_dir: Path = Path("ckpts")
    log_dir: Path = Path("logs")
    pretrained_path: Path | None = None
    resume_from_checkpoint: Path | None = None
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_ratio: float = 0.05
    max_grad_norm: float = 0.0
    max_steps: int = 10000
    batch_size_per_gpu: int = 64
    grad_accumulation_steps: int = 1
    save_per_steps: int = 1000
    test_per_steps: int = 1000
    eval_sample_steps: int = 32
    time_schedule: Literal["lognorm", "uniform"] = "lognorm"
    freeze_adaln_and_tembed: bool = False
    drop_spk_prob: float = 0.0
    logger: Literal["tensorboard", "wandb", "none"] = "tensorboard"
    wandb_project: str = "RIFT-SVC-FT"
    wandb_resume_id: str | None = None
    save_weights_only: bool = True
    export_lightning: bool = True
    best_metric: Literal["loss", "mcd", "mse", "psnr", "si_snr"] = "loss"
    num_workers: int = 0
    device: str = "cpu"
    precision: devices.PrecisionChoice = "fp32"

    def __post_init__(self) -> None:
        positive = ("max_steps", "batch_size_per_gpu", "grad_accumulation_steps", "save_per_steps")
        for name in (*positive, "test_per_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"training.{name} must be positive, got {getattr(self, name)}")
        if self.eval_sample_steps < 2:
            raise ConfigError(f"training.eval_sample_steps must be ≥ 2, got {self.eval_sample_steps}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ConfigError(f"training.warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
        if not 0 <= self.drop_spk_prob <= 1:
            raise ConfigError(f"training.drop_spk_prob must be in [0, 1], got {self.drop_spk_prob}")
        if self.num_workers < 0:
            raise ConfigError(f"training.num_workers must be ≥ 0, got {self.num_workers}")
        if not self.run_name or "/" in self.run_name:
            raise ConfigError(f"training.run_name must be a plain folder name, got {self.run_name!r}")

    @property
    def warmup_steps(self) -> int:
        return int(self.max_steps * self.warmup_ratio)


@dataclass(frozen=True)
class ValidationSection:
    """vocoder_path: an NSF-HiFiGAN folder or model.ckpt; with it, validation reports RIFT-SVC's mcd,
    psnr, si_snr and mse (spec 5.4), else only the held-out flow loss. max_items: held-out items used
    (0 = all)."""

    vocoder_path: Path | None = None
    max_items: int = 0


@dataclass(frozen=True)
class RIFTTrainConfig:
    seed: int = 2025
    dataset: DatasetSection = field(default_factory=DatasetSection)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    validation: ValidationSection = field(default_factory=ValidationSection)

    @classmethod
    def finetune(cls) -> RIFTTrainConfig:
        """config/finetune.yaml."""
        return cls()

    @classmethod
    def pretrain(cls) -> RIFTTrainConfig:
        """config/pretrain.yaml: from scratch on data/pretrain."""
        return cls(
            dataset=DatasetSection(data_dir=Path("data/pretrain")),
            model=ModelSection(size="dit-512-8"),
            training=TrainingSection(
                run_name="rift-pretrain",
                learning_rate=1e-3,
                max_steps=100000,
                save_per_steps=10000,
                test_per_steps=2000,
                drop_spk_prob=0.2,
                wandb_project="RIFT-SVC",
            ),
        )

    def with_data_dir(self, data_dir: str | Path) -> RIFTTrainConfig:
        return replace(self, dataset=replace(self.dataset, data_dir=Path(data_dir)))

    def reference_cfg(self) -> dict[str, Any]:
        """The config as RIFT-SVC stores it in hyper_parameters.cfg (without model and spk2idx)."""
        t = self.training
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
        dataset = self.dataset
        return {
            "seed": self.seed,
            "dataset": {
                "data_dir": str(dataset.data_dir),
                "meta_info_path": str(dataset.meta_info),
                "max_frame_len": dataset.max_frame_len,
            },
            "training": reference_training_cfg(training),
        }

    def recipe(self, steps_per_epoch: int, show_progress: bool = False) -> RIFTRecipe:
        """The RIFT-SVC `training` section as the generic loop's, the task's and the saver's settings.
        Checkpoints come every gcd(save_per_steps, test_per_steps) steps, because validation runs
        after a checkpoint."""
        t = self.training
        loop = LoopConfig(
            epochs=t.max_steps // steps_per_epoch + 2,
            max_steps=t.max_steps,
            save_every_epochs=None,
            save_every_steps=math.gcd(t.save_per_steps, t.test_per_steps),
            log_every_steps=1,
            num_workers=t.num_workers,
            show_progress=show_progress,
        )
        task = RIFTTrainSettings(
            learning_rate=t.learning_rate,
            weight_decay=t.weight_decay,
            betas=t.betas,
            warmup_steps=t.warmup_steps,
            time_schedule=t.time_schedule,
            drop_speaker_probability=t.drop_spk_prob,
            max_grad_norm=t.max_grad_norm,
            freeze_adaln_and_time_embedding=t.freeze_adaln_and_tembed,
        )
        return RIFTRecipe(loop, task, SaveCadence(t.save_per_steps, t.test_per_steps, t.max_steps))


@dataclass(frozen=True)
class RIFTRecipe:
    loop: LoopConfig
    task: RIFTTrainSettings
    cadence: SaveCadence
