"""Broken model and index files: each gets a one-line error naming the file and the problem
(and the key, where one is at fault), from the loaders and from `timbrel convert`, never a
traceback; a model that produces NaN writes nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from tests.models.rvc.test_pipeline import e2e_version
from timbrel import api
from timbrel.cli import app
from timbrel.core.errors import BadInputError
from timbrel.weights.hubert import load_hubert
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import STATE_PREFIX as RIFT_STATE_PREFIX
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rmvpe import load_rmvpe
from timbrel.weights.rvc import load_voice_model
from timbrel.weights.rvc_index import read_index

from .broken_models import write_broken_rvc_models


@pytest.fixture(scope="module")
def e2e(fixtures):
    root = fixtures / "rvc" / "e2e"
    return root, json.loads((root / "settings.json").read_text())


@pytest.fixture(scope="module")
def broken_models(e2e, tmp_path_factory):
    root, settings = e2e
    return write_broken_rvc_models(root / settings["model_file"], tmp_path_factory.mktemp("broken"))


def test_there_are_at_least_twelve_kinds_of_broken_model(broken_models):
    assert len(broken_models) >= 12


def test_every_broken_model_is_named_with_its_problem(broken_models):
    for path, words in broken_models.items():
        with pytest.raises(BadInputError) as info:
            load_voice_model(path)
        message = str(info.value)
        assert message.startswith(str(path)), message
        assert "\n" not in message, message
        for word in words:
            assert word in message, (path.name, message)


def _convert(runner: CliRunner, root, model, tmp_path, *extra):
    return runner.invoke(
        app,
        ["convert", str(root / "input_short.wav"), "-o", str(tmp_path / "out.wav"), "--model", str(model),
         "--hubert", str(root / "hubert"), "--f0-method", "pm", "--device", "cpu", *map(str, extra)],
    )  # fmt: skip


def _assert_one_line_error(result, named: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not an escaped exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], result.stderr


def test_convert_reports_each_broken_model_in_one_line(e2e, broken_models, tmp_path):
    root, _ = e2e
    runner = CliRunner()
    for path in broken_models:
        result = _convert(runner, root, path, tmp_path)
        _assert_one_line_error(result, path.name)
        assert not (tmp_path / "out.wav").exists()


def _damaged_index_files(good, folder):
    data = good.read_bytes()
    header = bytearray(data)
    header[8:16] = (10**9).to_bytes(8, "little")  # ntotal: the vectors the header claims
    return {
        "random.index": bytes(range(256)) * 20,
        "empty.index": b"",
        "truncated.index": data[: len(data) // 2],
        "header.index": bytes(header),
        "text.index": b"an index, trust me\n",
    }


def test_damaged_indexes_are_named(e2e, tmp_path):
    root, settings = e2e
    good = root / settings["index_file"]
    assert read_index(good).n_vectors == settings["index"]["ntotal"]
    for name, content in _damaged_index_files(good, tmp_path).items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BadInputError) as info:
            read_index(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name)) and "\n" not in str(info.value)
    with pytest.raises(BadInputError, match="claims 1000000000 vectors"):
        read_index(tmp_path / "header.index")


def test_convert_reports_a_damaged_index_and_one_of_the_wrong_width(e2e, fixtures, tmp_path):
    root, settings = e2e
    good = root / settings["index_file"]
    damaged = tmp_path / "header.index"
    damaged.write_bytes(_damaged_index_files(good, tmp_path)["header.index"])
    runner = CliRunner()
    _assert_one_line_error(
        _convert(runner, root, root / settings["model_file"], tmp_path, "--index", damaged), "header.index"
    )
    # a voice model of the other version than the fixture index's: 768-d features against 256-d
    # content, or the other way round
    other = "v1" if e2e_version(root) == "v2" else "v2"
    mismatched = fixtures / "rvc" / "synth" / f"{other}_f0.pth"
    _assert_one_line_error(_convert(runner, root, mismatched, tmp_path, "--index", good), good.name)
    assert not (tmp_path / "out.wav").exists()


def test_nan_output_writes_nothing(e2e, tmp_path):
    """Weights that pass the load check but make the network overflow: the output check refuses."""
    root, settings = e2e
    voice = api.load(root / settings["model_file"], hubert=root / "hubert")
    with torch.no_grad():
        voice.synthesizer.dec.conv_post.weight.fill_(float("nan"))
    options = api.convert_options(voice, {"f0_method": "pm"})
    outcomes = api.convert(voice, [root / "input_short.wav"], tmp_path / "out.wav", options)
    assert [o.status for o in outcomes] == ["failed"]
    assert "NaN or infinite" in outcomes[0].reason and "input_short.wav" in outcomes[0].reason
    assert not (tmp_path / "out.wav").exists()


def test_real_entry_point_prints_no_traceback(e2e, broken_models, tmp_path):
    root, _ = e2e
    for name in ("nan_weights.pth", "random_bytes.pth"):
        model = next(path for path in broken_models if path.name == name)
        result = subprocess.run(
            [sys.executable, "-m", "timbrel", "convert", root / "input_short.wav", "-o", tmp_path / "o.wav",
             "--model", model, "--hubert", root / "hubert", "--f0-method", "pm"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and name in result.stderr
    assert not (tmp_path / "o.wav").exists()


def _state_of(data: dict) -> dict:
    """The tensor table inside a loaded weight file (rmvpe: 'model'; RIFT: 'state_dict'; the
    vocoder: 'generator'; fairseq HuBERT: 'model')."""
    for key in ("model", "state_dict", "generator"):
        if isinstance(data.get(key), dict):
            return data[key]
    return data


def _damaged_states(data: dict) -> dict[str, tuple[dict, str]]:
    """name -> (damaged copy of the loaded file, the key its error must name)."""
    state = _state_of(data)
    key = max((k for k, v in state.items() if v.is_floating_point() and v.dim() >= 1), key=len)
    tensor = state[key]

    def replaced(value) -> dict:
        copy = {k: (dict(v) if v is state else v) for k, v in data.items()}
        target = _state_of(copy) if state is not data else copy
        if value is None:
            del target[key]
        else:
            target[key] = value
        return copy

    return {
        "missing": (replaced(None), key),
        "wrong_shape": (replaced(torch.zeros(*tensor.shape[:-1], tensor.shape[-1] + 1)), key),
        "wrong_dtype": (replaced(torch.zeros(tensor.shape, dtype=torch.int64)), key),
        "nan": (replaced(torch.full_like(tensor, float("nan"))), key),
        "not_a_tensor": (replaced("weights"), key),
    }


def _other_loaders(fixtures):
    rift = fixtures / "rift"
    vocoder = rift / "e2e" / "pretrained" / "nsf_hifigan_44.1k_hop512_128bin_2024.02"
    return {
        "rmvpe.pt": (rift / "rmvpe_small" / "model.pt", None, load_rmvpe),
        "RIFT-SVC .ckpt": (rift / "dit_small" / "model-step=2.ckpt", None, load_rift_checkpoint),
        "NSF-HiFiGAN model.ckpt": (vocoder / "model.ckpt", vocoder / "config.json", load_nsf_hifigan),
        "hubert_base.pt": (fixtures / "rvc" / "hubert" / "hubert_tiny_fairseq_layout.pt", None, load_hubert),
    }


def test_every_loader_names_the_file_and_key_of_damaged_weights(fixtures, tmp_path):
    """Truncated files, random bytes, and a missing, mis-shaped, mistyped, NaN or non-tensor
    entry: each loader's error names the file, and the key where one is at fault."""
    for name, (good, companion, load) in _other_loaders(fixtures).items():
        data = torch.load(good, map_location="cpu", weights_only=True)
        variants = {
            kind: (lambda path, d=damaged: torch.save(d, path), key)
            for kind, (damaged, key) in _damaged_states(data).items()
        }
        head = good.read_bytes()[: good.stat().st_size // 3]
        variants["truncated"] = (lambda path, head=head: path.write_bytes(head), "")
        variants["random"] = (lambda path: path.write_bytes(bytes(range(3, 200)) * 9), "")
        for kind, (write, key) in variants.items():
            folder = tmp_path / name / kind
            folder.mkdir(parents=True)
            path = folder / good.name
            write(path)
            if companion is not None:
                shutil.copy(companion, folder / companion.name)
            with pytest.raises(BadInputError) as info:
                load(path)
            message = str(info.value)
            assert message.startswith(str(path)) and "\n" not in message, (name, kind, message)
            assert key.removeprefix(RIFT_STATE_PREFIX) in message, (name, kind, message)
