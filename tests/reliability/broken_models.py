"""Broken variants of a good model file, built from the fixture models: each one is what a
damaged download, a wrong export or a hand-edited file could look like, paired with the words
its error must contain (the file's problem and, where there is one, the key)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Edit = Callable[[dict[str, Any]], Any]


def _without(key: str) -> Edit:
    return lambda data: {k: v for k, v in data.items() if k != key}


def _weights(edit: Callable[[dict[str, torch.Tensor]], None]) -> Edit:
    def apply(data: dict[str, Any]) -> dict[str, Any]:
        weights = dict(data["weight"])
        edit(weights)
        return {**data, "weight": weights}

    return apply


def _set(key: str, value: Any) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda weights: weights.__setitem__(key, value(weights[key]) if callable(value) else value)


def _drop(key: str) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda weights: weights.pop(key)


def _with_config(edit: Callable[[list], list]) -> Edit:
    return lambda data: {**data, "config": edit(list(data["config"]))}


def _nan_everywhere(weights: dict[str, torch.Tensor]) -> None:
    for key, value in weights.items():
        weights[key] = torch.full_like(value, float("nan"))


# name -> (edit of the loaded dict, words the error must contain)
RVC_EDITS: dict[str, tuple[Edit, tuple[str, ...]]] = {
    "top_level_tensor": (lambda data: torch.zeros(3), ("'weight' and 'config'",)),
    "top_level_list": (lambda data: [1, 2, 3], ("'weight' and 'config'",)),
    "missing_weight": (_without("weight"), ("'weight'",)),
    "missing_config": (_without("config"), ("'config'",)),
    "weight_not_a_dict": (lambda data: {**data, "weight": [1, 2]}, ("'weight'",)),
    "missing_content_key": (_weights(_drop("enc_p.emb_phone.weight")), ("enc_p.emb_phone.weight",)),
    "missing_speaker_key": (_weights(_drop("emb_g.weight")), ("emb_g.weight",)),
    "missing_decoder_key": (_weights(_drop("dec.conv_post.weight")), ("dec.conv_post.weight",)),
    "unexpected_key": (_weights(_set("dec.extra.weight", torch.zeros(2))), ("dec.extra.weight",)),
    "wrong_shape": (
        _weights(_set("dec.conv_pre.weight", lambda t: t[:, :, :1].clone())),
        ("dec.conv_pre.weight",),
    ),
    "wrong_content_width": (
        _weights(_set("enc_p.emb_phone.weight", lambda t: torch.zeros(t.shape[0], 5, dtype=t.dtype))),
        ("enc_p.emb_phone.weight",),
    ),
    "integer_dtype": (_weights(_set("dec.conv_pre.weight", lambda t: t.long())), ("dec.conv_pre.weight",)),
    "not_a_tensor": (_weights(_set("dec.conv_pre.bias", "zeros")), ("'weight'",)),
    "nan_weights": (_weights(_nan_everywhere), ("NaN",)),
    "inf_in_one_key": (
        _weights(_set("dec.conv_post.weight", lambda t: torch.full_like(t, float("inf")))),
        ("dec.conv_post.weight", "NaN or infinite"),
    ),
    "config_too_short": (_with_config(lambda c: c[:5]), ("config",)),
    "config_strings": (_with_config(lambda c: ["x"] * len(c)), ("config",)),
    "config_negative_rate": (_with_config(lambda c: [*c[:-1], -40000]), ("config",)),
    "config_not_a_list": (lambda data: {**data, "config": "40k"}, ("config",)),
    "version_unknown": (lambda data: {**data, "version": "v3"}, ("version",)),
    "version_not_a_string": (lambda data: {**data, "version": ["v2"]}, ("version",)),
    "f0_unknown": (lambda data: {**data, "f0": 2}, ("f0",)),
    "f0_mismatch": (lambda data: {**data, "f0": 0}, ("f0",)),
}


def raw_variants(good: Path) -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """Byte-level damage to ``good``: name -> (file bytes, words the error must contain)."""
    data = good.read_bytes()
    garbage_zip = io.BytesIO()
    with zipfile.ZipFile(garbage_zip, "w") as archive:
        archive.writestr("notes.txt", "hello")
        archive.writestr("archive/data.pkl", b"\x00\x01garbage")
    return {
        "empty": (b"", ("empty",)),
        "random_bytes": (bytes(range(7, 250)) * 40, ("not a PyTorch",)),
        "text": (b"this is a voice model, honest\n", ("not a PyTorch",)),
        "png": (b"\x89PNG\r\n\x1a\n" + bytes(200), ("not a PyTorch",)),
        "truncated_half": (data[: len(data) // 2], ("truncated or corrupt",)),
        "truncated_head": (data[:100], ("truncated or corrupt",)),
        "zip_of_garbage": (garbage_zip.getvalue(), ("truncated or corrupt",)),
        "legacy_header_only": (b"\x80\x02garbage", ("",)),
    }


def write_broken_rvc_models(good: Path, folder: Path) -> dict[Path, tuple[str, ...]]:
    """Every broken variant of the RVC voice model ``good`` under ``folder`` -> the words each
    file's error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[Path, tuple[str, ...]] = {}
    for name, (content, words) in raw_variants(good).items():
        path = folder / f"{name}.pth"
        path.write_bytes(content)
        written[path] = words
    loaded = torch.load(good, map_location="cpu", weights_only=True)
    for name, (edit, words) in RVC_EDITS.items():
        path = folder / f"{name}.pth"
        torch.save(edit(dict(loaded)), path)
        written[path] = words
    return written
