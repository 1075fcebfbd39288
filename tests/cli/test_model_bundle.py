"""`timbrel model pack | unpack` and bundles in `api.load`, `timbrel convert` and the UI's library."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import soundfile
import torch

from tests.cli.test_convert import run_cli, rvc_arguments
from tests.cli.test_model_tools import load, malicious_pickle, run
from timbrel.weights.bundle import read_bundle
from timbrel.weights.rvc import sidecar_path, write_training_f0_stats
from timbrel.weights.voice_bundle import rift_checkpoint


def with_sidecar(tmp_path: Path, source: Path) -> Path:
    model = tmp_path / source.name
    shutil.copy(source, model)
    f0_folder = tmp_path / "2b-f0nsf"
    f0_folder.mkdir(exist_ok=True)
    np.save(f0_folder / "a.wav.npy", np.linspace(0.0, 400.0, 80))
    write_training_f0_stats(model, f0_folder)
    return model


def reference_index(fixtures: Path) -> Path:
    folder = fixtures / "rvc" / "index"
    return folder / json.loads((folder / "meta.json").read_text())["added_index_file"]


def rewrite_member(path: Path, name: str, change) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)


def test_pack_and_unpack_give_back_the_reference_files(fixtures, tmp_path):
    synth = fixtures / "rvc" / "synth"
    reference = json.loads((synth / "summary.json").read_text())["v2_f0"]
    index = reference_index(fixtures)
    model = with_sidecar(tmp_path, synth / "v2_f0.pth")
    bundle = tmp_path / "MyVoice.timbrel.zip"
    result = run("model", "pack", model, "--index", index, "-o", bundle, "--license", "CC-BY-4.0")
    assert result.exit_code == 0, result.output
    document = json.loads(run("model", "info", bundle, "--json").output)
    assert document["kind"] == "timbrel bundle" and document["extra"]["license"] == "CC-BY-4.0"
    assert (document["version"], document["sample_rate"]) == (reference["version"], reference["config"][-1])
    assert document["sidecar"] == json.loads(sidecar_path(model).read_text())
    with zipfile.ZipFile(bundle) as archive:
        config = json.loads(archive.read("timbrel.json"))
        assert config["family"] == "rvc" and config["format_version"] == 1
        assert config["f0"] == bool(reference["f0"]) and config["rvc"]["config"] == reference["config"]
        assert set(config["parts"]) == {"weights.safetensors", "retrieval.index", "sidecar.json"}
    out = tmp_path / "unpacked"
    result = run("model", "unpack", bundle, "-o", out)
    assert result.exit_code == 0, result.output
    unpacked, original = load(out / "MyVoice.pth"), load(synth / "v2_f0.pth")
    assert list(unpacked) == reference["top_level_keys"]
    assert {k: v for k, v in unpacked.items() if k != "weight"} == {
        k: v for k, v in original.items() if k != "weight"
    }
    assert list(unpacked["weight"]) == list(original["weight"])
    for key, value in original["weight"].items():
        assert unpacked["weight"][key].dtype == value.dtype and torch.equal(unpacked["weight"][key], value)
    assert (out / "MyVoice.index").read_bytes() == index.read_bytes()
    assert json.loads((out / "MyVoice.timbrel.json").read_text()) == document["sidecar"]
    again = run("model", "unpack", bundle, "-o", out)
    assert again.exit_code == 2 and "already holds" in again.output


def test_a_tampered_or_foreign_bundle_is_refused_by_part(fixtures, tmp_path):
    index = reference_index(fixtures)
    bundle = tmp_path / "v.timbrel.zip"
    assert (
        run(
            "model", "pack", fixtures / "rvc" / "synth" / "v1_f0.pth", "--index", index, "-o", bundle
        ).exit_code
        == 0
    )
    for part in ("weights.safetensors", "retrieval.index"):
        tampered = tmp_path / f"{part}.timbrel.zip"
        shutil.copy(bundle, tampered)
        rewrite_member(tampered, part, lambda data: data[:-1] + bytes([data[-1] ^ 1]))
        for command in (("info", tampered), ("unpack", tampered, "-o", tmp_path / "out")):
            result = run("model", *command)
            assert result.exit_code == 2 and f"part {part} fails its sha256 check" in result.output
    junk = tmp_path / "junk.timbrel.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    result = run("model", "info", junk)
    assert result.exit_code == 2 and "junk.timbrel.zip" in result.output
    evil, marker = malicious_pickle(tmp_path)
    result = run("model", "pack", evil, "-o", tmp_path / "evil.timbrel.zip")
    assert result.exit_code == 2 and "evil.pth" in result.output
    assert not marker.exists() and not (tmp_path / "evil.timbrel.zip").exists()
    assert not (tmp_path / "out").exists()


def test_rift_bundle_round_trip(fixtures, tmp_path):
    ckpt = fixtures / "rift" / "dit_small" / "model-step=2.ckpt"
    bundle = tmp_path / "rift.timbrel.zip"
    assert run("model", "pack", ckpt, "-o", bundle).exit_code == 0
    source = load(ckpt)
    dit = rift_checkpoint(read_bundle(bundle))
    state = {k.removeprefix("model.transformer."): v for k, v in source["state_dict"].items()}
    assert all(torch.equal(dit.model.state_dict()[k], v) for k, v in state.items())
    assert dit.speakers == source["hyper_parameters"]["cfg"]["spk2idx"]
    out = tmp_path / "out"
    assert run("model", "unpack", bundle, "-o", out).exit_code == 0
    unpacked = load(out / "rift.ckpt")
    assert unpacked["global_step"] == source["global_step"]
    assert unpacked["hyper_parameters"]["cfg"]["spk2idx"] == source["hyper_parameters"]["cfg"]["spk2idx"]
    assert unpacked["hyper_parameters"]["cfg"]["model"] == source["hyper_parameters"]["cfg"]["model"]
    assert all(torch.equal(unpacked["state_dict"][k], v) for k, v in source["state_dict"].items())


def test_convert_accepts_a_bundle_with_its_index(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    case = settings["cases"]["short"]
    bundle = tmp_path / "e2e.timbrel.zip"
    packed = run(
        "model", "pack", root / settings["model_file"], "--index", root / settings["index_file"], "-o", bundle
    )
    assert packed.exit_code == 0, packed.output
    arguments = rvc_arguments(root)
    at = arguments.index("--index")
    del arguments[at : at + 2]  # the bundle brings its own index
    arguments[arguments.index("--model") + 1] = bundle
    target = tmp_path / "out.wav"
    result = run_cli("convert", root / case["input_file"], "-o", target, *arguments)
    assert result.returncode == 0, result.stderr
    ours, _ = soundfile.read(str(target), dtype="int16")
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    assert ours.shape == expected.shape
    assert np.abs(ours.astype(np.int32) - expected).max() <= 4  # the tolerance of test_convert


def test_the_ui_library_reads_and_imports_a_bundle(fixtures, tmp_path):
    from timbrel.ui.library import import_model, model_rows
    from timbrel.ui.workspace import Workspace

    bundle = tmp_path / "voice.timbrel.zip"
    assert run("model", "pack", fixtures / "rvc" / "synth" / "v1_nof0.pth", "-o", bundle).exit_code == 0
    workspace = Workspace(tmp_path / "ws")
    imported = import_model(workspace, "voice", bundle)
    rows = model_rows(workspace)
    assert [row[0] for row in rows] == [workspace.relative(imported)]
    summary = json.loads((fixtures / "rvc" / "synth" / "summary.json").read_text())["v1_nof0"]
    assert rows[0][1:6] == [
        "rvc",
        summary["version"],
        "no",
        str(summary["config"][-1]),
        str(summary["config"][-3]),
    ]  # the rate, spk_embed_dim
