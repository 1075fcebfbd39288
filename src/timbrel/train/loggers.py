"""Where training figures go, for both families. TensorBoard is imported only when a
TensorBoardLogger is made (extra [train]), wandb only when a WandbLogger is; NullLogger is for
processes other than rank 0 and for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from timbrel.core.errors import ConfigError


class Logger(Protocol):
    def scalars(self, values: dict[str, float], step: int) -> None: ...

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        """image: (h, w) values of any range, drawn with row 0 at the bottom (spectrograms)."""
        ...

    def audio(self, name: str, samples: np.ndarray, sample_rate: int, step: int) -> None:
        """samples: (n,) in [-1, 1]."""
        ...

    def close(self) -> None: ...


class NullLogger:
    def scalars(self, values: dict[str, float], step: int) -> None:
        pass

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        pass

    def audio(self, name: str, samples: np.ndarray, sample_rate: int, step: int) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardLogger:
    """Event files under ``log_dir`` (``tensorboard --logdir`` shows them)."""

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: pip install 'timbrel[train]'"
            ) from error
        self.writer = SummaryWriter(str(log_dir))

    def scalars(self, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        low, high = float(np.min(image)), float(np.max(image))
        scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
        self.writer.add_image(name, scaled[::-1].copy(), step, dataformats="HW")

    def audio(self, name: str, samples: np.ndarray, sample_rate: int, step: int) -> None:
        self.writer.add_audio(name, np.clip(samples, -1, 1)[None], step, sample_rate=sample_rate)

    def close(self) -> None:
        self.writer.close()


class FanOutLogger:
    """Every call to each of several loggers (e.g. TensorBoard and a web page's live plot)."""

    def __init__(self, *loggers: Logger):
        self.loggers = loggers

    def scalars(self, values: dict[str, float], step: int) -> None:
        for logger in self.loggers:
            logger.scalars(values, step)

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        for logger in self.loggers:
            logger.image(name, image, step)

    def audio(self, name: str, samples: np.ndarray, sample_rate: int, step: int) -> None:
        for logger in self.loggers:
            logger.audio(name, samples, sample_rate, step)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


class JsonlLogger:
    """Scalars to a JSONL file (one JSON object per call), and to another logger."""

    def __init__(self, path: Path, inner: Logger):
        self.path, self.inner = path, inner

    def scalars(self, values: dict[str, float], step: int) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"step": step, **values}) + "\n")
        self.inner.scalars(values, step)

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        self.inner.image(name, image, step)

    def audio(self, name: str, samples: np.ndarray, sample_rate: int, step: int) -> None:
        self.inner.audio(name, samples, sample_rate, step)

    def close(self) -> None:
        self.inner.close()


class WandbLogger:
    """Weights & Biases: a run of ``project`` named ``name``, resumed when ``run_id`` names one.
    ``setting``: the option that asked for wandb, named when the package is missing."""

    def __init__(self, project: str, name: str, run_id: str | None, config: dict[str, Any], setting: str):
        try:
            import wandb
        except ImportError as error:
            raise ConfigError(f"{setting} needs the wandb package (pip install wandb)") from error
        self.wandb = wandb
        self.run = wandb.init(project=project, name=name, id=run_id, resume="allow", config=config)

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.run.log(dict(values), step=step)

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        self.run.log({name: self.wandb.Image(image[::-1])}, step=step)

    def audio(self, name: str, samples: np.ndarray, sample_rate: int, step: int) -> None:
        self.run.log({name: self.wandb.Audio(samples, sample_rate=sample_rate)}, step=step)

    def close(self) -> None:
        self.run.finish()
