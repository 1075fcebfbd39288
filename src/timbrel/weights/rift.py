"""RIFT-SVC DiT checkpoints: PyTorch-Lightning `.ckpt` files written by RIFT-SVC's ModelCheckpoint (spec 3.6).

Layout: `state_dict` with keys `model.transformer.<DiT key>`, `hyper_parameters.cfg` with the resolved
training config (`cfg['model']` holds the DiT constructor arguments) and `cfg['spk2idx']`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from timbrel.core.errors import BadInputError
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.weights.strict import load_strict
from timbrel.weights.torch_file import read_torch_file

log = logging.getLogger(__name__)

STATE_PREFIX = "model.transformer."
SPEAKER_KEY = "spk_embed.weight"

# cfg['model'] key -> DiTConfig field. Keys mapped to None only shape training from scratch
# (initialisation) and are accepted and ignored.
_MODEL_KEYS: dict[str, str | None] = {
    "dim": "dim",
    "depth": "depth",
    "head_dim": "head_dim",
    "ff_mult": "ff_mult",
    "n_mel_channels": "n_mels",
    "cvec_dim": "content_dim",
    "kernel_size": "kernel_size",
    "zero_null_spk": None,
    "init_std": None,
    "dropout": None,
}


@dataclass(frozen=True)
class RiftCheckpoint:
    """A loaded RIFT voice model: the DiT (eval mode), speaker name -> index, and the raw training cfg."""

    model: DiT
    speakers: dict[str, int]
    config: DiTConfig
    training_config: dict[str, Any]


def read_lightning_file(path: str | Path) -> dict[str, Any]:
    """The checkpoint as plain data; never unpickles code."""
    path = Path(path)
    data = read_torch_file(path, "RIFT-SVC checkpoint")
    if not isinstance(data, dict):
        raise BadInputError(path, f"expected a dict at the top level, got {type(data).__name__}")
    return data


def dit_config_from_cfg(model_cfg: dict[str, Any], num_speakers: int, path: str | Path) -> DiTConfig:
    """cfg['model'] (RIFT-SVC constructor keywords) -> DiTConfig."""
    unknown = sorted(set(model_cfg) - set(_MODEL_KEYS))
    if unknown:
        raise BadInputError(path, f"cfg.model has unknown key(s) {unknown}; known: {sorted(_MODEL_KEYS)}")
    dropout = model_cfg.get("dropout", 0.0)
    if dropout:
        raise BadInputError(
            path, f"cfg.model.dropout is {dropout}; only 0.0 (the released value) is supported"
        )
    fields = {ours: model_cfg[theirs] for theirs, ours in _MODEL_KEYS.items() if ours and theirs in model_cfg}
    for required in ("dim", "depth"):
        if required not in fields:
            raise BadInputError(path, f"cfg.model lacks {required!r}")
    return DiTConfig(num_speakers=num_speakers, **fields)


def dit_state_dict(state_dict: dict[str, Tensor], path: str | Path) -> dict[str, Tensor]:
    """Lightning state dict -> DiT state dict (prefix `model.transformer.` removed)."""
    foreign = sorted(k for k in state_dict if not k.startswith(STATE_PREFIX))
    if foreign:
        raise BadInputError(path, f"state_dict keys outside {STATE_PREFIX!r}: {foreign[:5]}")
    return {k[len(STATE_PREFIX) :]: v for k, v in state_dict.items()}


def load_dit_strict(model: DiT, state: dict[str, Tensor], path: str | Path) -> None:
    """Copy `state` into `model`; any missing, unexpected or mis-shaped key is an error naming it."""
    load_strict(model, state, path, "DiT weights")


def load_rift_checkpoint(path: str | Path) -> RiftCheckpoint:
    """Read a RIFT-SVC `.ckpt` (fine-tuned or pretrained) and build its DiT strictly, in eval mode."""
    data = read_lightning_file(path)
    cfg = (data.get("hyper_parameters") or {}).get("cfg")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise BadInputError(path, "no hyper_parameters.cfg.model: not a RIFT-SVC Lightning checkpoint")
    if not isinstance(data.get("state_dict"), dict):
        raise BadInputError(path, "no state_dict: not a RIFT-SVC Lightning checkpoint")
    speakers = cfg.get("spk2idx")
    if not isinstance(speakers, dict) or not speakers:
        raise BadInputError(path, "cfg.spk2idx is missing or empty: the checkpoint names no speakers")
    state = dit_state_dict(data["state_dict"], path)
    rows = state.get(SPEAKER_KEY)
    if rows is not None and rows.shape[0] != len(speakers):
        raise BadInputError(
            path,
            f"{SPEAKER_KEY} has {rows.shape[0]} rows but cfg.spk2idx names {len(speakers)} speakers "
            f"({sorted(speakers)}); the speaker table and the weights disagree",
        )
    config = dit_config_from_cfg(cfg["model"], len(speakers), path)
    model = DiT(config)
    load_dit_strict(model, state, path)
    model.eval()
    return RiftCheckpoint(
        model=model,
        speakers={str(name): int(index) for name, index in speakers.items()},
        config=config,
        training_config=cfg,
    )


def load_pretrained_dit(model: DiT, path: str | Path) -> list[str]:
    """Initialise `model` from a pretrained checkpoint before fine-tuning (spec 3.6).

    The pretrained speaker table usually has another number of speakers than the fine-tuning set; it is
    then left out (the model keeps its own freshly initialised table) and reported, by log and by the
    returned list of keys left out. Every other key must fit exactly.
    """
    data = read_lightning_file(path)
    raw = data.get("state_dict", data)
    state = {k.removeprefix("model."): v for k, v in raw.items()}
    state = {k.removeprefix("transformer."): v for k, v in state.items()}
    left_out = []
    own_rows = model.spk_embed.weight.shape[0]
    rows = state.get(SPEAKER_KEY)
    if rows is None or rows.shape[0] != own_rows:
        state.pop(SPEAKER_KEY, None)
        state[SPEAKER_KEY] = model.spk_embed.weight.detach().clone()
        left_out.append(SPEAKER_KEY)
        found = "absent" if rows is None else f"{rows.shape[0]} speakers"
        log.warning(
            "%s: pretrained %s (%s) does not fit this model's %d speakers; "
            "the speaker table starts from its fresh initialisation",
            path,
            SPEAKER_KEY,
            found,
            own_rows,
        )
    load_dit_strict(model, state, path)
    return left_out
