"""`timbrel model info | extract | merge | edit-info` on the reference's tiny files (fixtures/rvc)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.models.rvc.test_training import reference_version
from timbrel.cli import app
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.weights.rvc import synthesizer_config_from_state, write_voice_model

runner = CliRunner()


def run(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def malicious_pickle(tmp_path: Path, name: str = "evil.pth") -> tuple[Path, Path]:
    """A torch file whose unpickling would create a marker file."""
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').close()",)

    path = tmp_path / name
    torch.save({"weight": {"x": Payload()}, "config": [], "model": Payload()}, path)
    return path, marker


def reference_config_list(summary: dict) -> list:
    """The config list the reference's exporter builds from a training config (spec 4.4)."""
    data, model = summary["data"], summary["model"]
    return [
        data["filter_length"] // 2 + 1, 32, model["inter_channels"], model["hidden_channels"],
        model["filter_channels"], model["n_heads"], model["n_layers"], model["kernel_size"],
        model["p_dropout"], model["resblock"], model["resblock_kernel_sizes"],
        model["resblock_dilation_sizes"], model["upsample_rates"], model["upsample_initial_channel"],
        model["upsample_kernel_sizes"], model["spk_embed_dim"], model["gin_channels"],
        data["sampling_rate"],
    ]  # fmt: skip


def random_voice(path: Path, config: SynthesizerConfig, seed: int) -> Path:
    torch.manual_seed(seed)
    model = Synthesizer(config, with_posterior=False)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.1)
    write_voice_model(path, config, model.state_dict(), info=f"seed {seed}")
    return path


def test_extract_matches_the_reference_export_format(fixtures, tmp_path):
    train = fixtures / "rvc" / "train"
    synth_summary = json.loads((fixtures / "rvc" / "synth" / "summary.json").read_text())
    summary = json.loads((train / "summary.json").read_text())["config"]
    rate = summary["data"]["sampling_rate"]
    # a model of the same rate written by the reference exporter: the file format to match
    reference = next(entry for entry in synth_summary.values() if entry["config"][-1] == rate)
    batch = torch.load(train / "train_step.pt", weights_only=True)["batch"]
    out = tmp_path / "small.pth"
    result = run("model", "extract", train / "G_1.pth", "-o", out, "--info", reference["info"])
    assert result.exit_code == 0, result.output
    written = load(out)
    assert list(written) == reference["top_level_keys"]
    assert written["config"] == reference_config_list(summary)
    assert (written["sr"], written["info"]) == (reference["sr"], reference["info"])
    assert (written["f0"], written["version"]) == (int("pitch" in batch), reference_version(batch))
    source = load(train / "G_1.pth")["model"]
    expected_keys = [k for k in source if "enc_q" not in k]
    assert list(written["weight"]) == expected_keys
    assert {str(v.dtype) for v in written["weight"].values()} == set(reference["weight_dtypes"])
    for key in expected_keys:
        assert torch.equal(written["weight"][key], source[key].half()), key


def test_info_describes_every_kind_of_file(fixtures, tmp_path):
    synth = fixtures / "rvc" / "synth"
    summary = json.loads((synth / "summary.json").read_text())
    for name, expected in summary.items():
        result = run("model", "info", synth / f"{name}.pth", "--json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.output)
        weights = load(synth / f"{name}.pth")["weight"]
        assert document["family"] == "rvc" and document["kind"] == "voice model"
        assert document["version"] == expected["version"]
        assert document["sample_rate"] == expected["config"][-1]
        assert document["use_f0"] == bool(expected["f0"])
        assert document["info"] == expected["info"]
        assert document["parameters"] == sum(v.numel() for v in weights.values())
        assert len(document["speakers"]) == weights["emb_g.weight"].shape[0]
        assert len(document["sha256"]) == 64
    g_file = fixtures / "rvc" / "train" / "G_1.pth"
    document = json.loads(run("model", "info", g_file, "--json").output)
    checkpoint = load(g_file)
    assert document["kind"] == "generator checkpoint"
    assert document["epoch"] == checkpoint["iteration"]
    assert document["parameters"] == sum(v.numel() for v in checkpoint["model"].values())
    ckpt = fixtures / "rift" / "dit_small" / "model-step=2.ckpt"
    document = json.loads(run("model", "info", ckpt, "--json").output)
    lightning = load(ckpt)
    assert document["family"] == "rift"
    assert document["step"] == lightning["global_step"]
    spk2idx = lightning["hyper_parameters"]["cfg"]["spk2idx"]
    assert document["speakers"] == sorted(spk2idx, key=spk2idx.get)
    plain = run("model", "info", synth / "v2_f0.pth")
    assert plain.exit_code == 0 and "sha256" in plain.output


def test_edit_info_keeps_the_weights_bit_for_bit(fixtures, tmp_path):
    source = fixtures / "rvc" / "synth" / "v2_nof0.pth"
    out = tmp_path / "renamed.pth"
    result = run("model", "edit-info", source, "-o", out, "--info", "my voice", "--set", "author=me")
    assert result.exit_code == 0, result.output
    before, after = load(source), load(out)
    assert after["info"] == "my voice" and after["author"] == "me"
    assert {k: v for k, v in after.items() if k not in ("info", "author", "weight")} == {
        k: v for k, v in before.items() if k not in ("info", "weight")
    }

    def storages(path: Path) -> list[bytes]:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if "/data/" in n)
            return [archive.read(n) for n in names]

    assert storages(out) == storages(source)
    refused = run("model", "edit-info", source, "-o", out, "--set", "version=v1")
    assert refused.exit_code == 2 and "version" in refused.output


def test_merge_is_the_weighted_sum_and_refuses_other_kinds(fixtures, tmp_path):
    g_file = fixtures / "rvc" / "train" / "G_1.pth"
    config = synthesizer_config_from_state(load(g_file)["model"])
    a = tmp_path / "a.pth"
    assert run("model", "extract", g_file, "-o", a).exit_code == 0
    b = random_voice(tmp_path / "b.pth", config.with_speakers(config.n_speakers - 1), seed=1)
    out = tmp_path / "c.pth"
    result = run("model", "merge", a, b, "-o", out, "--alpha", "0.25", "--group", "dec=1")
    assert result.exit_code == 0, result.output
    wa, wb, merged = load(a)["weight"], load(b)["weight"], load(out)
    rows = wb["emb_g.weight"].shape[0]
    assert merged["config"][:15] == load(a)["config"][:15] and merged["config"][15] == rows
    assert merged["info"] == load(a)["info"]
    for key, value in merged["weight"].items():
        assert value.dtype == torch.float16
        x, y = wa[key].float(), wb[key].float()
        if key == "emb_g.weight":
            x, y = x[:rows], y[:rows]
        alpha = 1.0 if key.startswith("dec.") else 0.25
        expected = (alpha * x + (1 - alpha) * y).half()
        assert torch.equal(value, expected), key
    assert run("model", "info", out).exit_code == 0
    other_rate = fixtures / "rvc" / "synth" / "v2_f0.pth"  # 48 kHz
    refused = run("model", "merge", a, other_rate, "-o", tmp_path / "d.pth")
    assert refused.exit_code == 2
    assert "sample rate" in refused.output and "v2_f0.pth" in refused.output
    nof0 = fixtures / "rvc" / "synth" / "v1_nof0.pth"
    refused = run("model", "merge", fixtures / "rvc" / "synth" / "v1_f0.pth", nof0, "-o", tmp_path / "e.pth")
    assert refused.exit_code == 2 and "cannot merge" in refused.output
    assert not (tmp_path / "d.pth").exists() and not (tmp_path / "e.pth").exists()


def test_commands_refuse_bad_files_and_their_own_input(fixtures, tmp_path):
    evil, marker = malicious_pickle(tmp_path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    voice = fixtures / "rvc" / "synth" / "v1_f0.pth"
    commands = [
        ("info", "{}"),
        ("extract", "{}", "-o", tmp_path / "x.pth"),
        ("merge", "{}", voice, "-o", tmp_path / "x.pth"),
        ("edit-info", "{}", "-o", tmp_path / "x.pth", "--info", "x"),
    ]
    for bad in (evil, junk):
        for command in commands:
            args = [bad if a == "{}" else a for a in command]
            result = run("model", *args)
            assert result.exit_code == 2, (command, result.output)
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert bad.name in result.output and len(lines) <= 2, result.output
    assert not marker.exists()
    assert not (tmp_path / "x.pth").exists()
    copy = tmp_path / "copy.pth"
    copy.write_bytes(voice.read_bytes())
    refused = run("model", "edit-info", copy, "-o", copy, "--info", "x")
    assert refused.exit_code == 2 and "also an input" in refused.output
    assert copy.read_bytes() == voice.read_bytes()
    discriminator = tmp_path / "D_1.pth"
    torch.save({"model": {"discriminators.0.conv_post.bias": torch.zeros(1)}, "iteration": 1}, discriminator)
    refused = run("model", "extract", discriminator, "-o", tmp_path / "y.pth")
    assert refused.exit_code == 2 and "discriminator" in refused.output


@pytest.mark.parametrize("name", ["v1_f0", "v2_nof0"])
def test_extracted_and_merged_models_load_through_the_api(fixtures, tmp_path, name):
    from timbrel.weights.rvc import load_voice_model

    source = fixtures / "rvc" / "synth" / f"{name}.pth"
    out = tmp_path / "self.pth"
    assert run("model", "merge", source, source, "-o", out, "--alpha", "0.3").exit_code == 0
    a, b = load(source)["weight"], load(out)["weight"]
    # a model merged with itself: 0.3·w + 0.7·w in float32, rounded to float16, is w again
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_voice_model(out).config.sample_rate == load(source)["config"][-1]
