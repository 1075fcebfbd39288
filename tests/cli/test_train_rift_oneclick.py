"""`timbrel train rift RECORDINGS/`, one click: prepare, split, extract and train a tiny model on a
synthetic two-singer corpus with the e2e fixture's tiny ContentVec, RMVPE and vocoder; the second run
skips every stage; the sidecar's per-speaker f0 statistics drive --auto-key (also through a bundle)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from timbrel import api
from timbrel.audio import io
from timbrel.audio.synthesis import make_corpus
from timbrel.cli import app
from timbrel.features.pitch.f0_stats import F0Stats
from timbrel.features.pitch.rmvpe import RmvpeConfig
from timbrel.models.rift.pipeline import RIFTConvertOptions, RIFTNoise, to_model_rate
from timbrel.weights.rvc import sidecar_path


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module", autouse=True)
def voiced_everywhere():
    """The fixture's RMVPE has random weights: its peaks stay under the voicing threshold, so every
    frame would be unvoiced. A zero threshold keeps every frame voiced at the peak's pitch."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RmvpeConfig, "rift", classmethod(lambda cls: cls(threshold=0.0, decoder="rift")))
        yield


@pytest.fixture(scope="module")
def pretrained(fixtures):
    return fixtures / "rift" / "e2e" / "pretrained"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, pretrained):
    """-> (recordings, data dir, run dir, command, first run's output) after one one-click run."""
    root = tmp_path_factory.mktemp("rift-oneclick")
    make_corpus(root / "songs", seconds_per_singer=4.0, recording_s=1.0, seed=5)
    content_dim = json.loads((pretrained / "content-vec-best" / "config.json").read_text())["hidden_size"]
    command = [
        "train", "rift", root / "songs", "--data-dir", root / "data", "--num-test-per-speaker", 1,
        "--contentvec", pretrained / "content-vec-best", "--rmvpe", pretrained / "rmvpe" / "model.pt",
        "--model", "tiny", "--run-name", "r", "--output-dir", root / "runs", "--batch-size", 2,
        "--save-every", 1, "--test-every", 2, "--logger", "none", "--max-steps", 2,
        "--set", f"model.content_dim={content_dim}", "--set", "dataset.max_frame_len=32",
        "--set", "training.eval_sample_steps=2",
    ]  # fmt: skip
    first = run_cli(*command)
    assert first.exit_code == 0, first.output
    return root / "songs", root / "data", root / "runs" / "r", command, first.output


def _files(*folders):
    return {
        path: path.stat().st_mtime_ns
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "dataset_check.json"  # a report, rewritten by each check
    }


def test_one_click_writes_the_model_and_speaker_f0_statistics(trained):
    songs, data, run, _, output = trained
    recordings = sorted(songs.glob("*/*.wav"))
    assert f"prepare: {len(recordings)} prepared, 0 already done, 0 failed" in output
    assert f"extract: {len(recordings)} extracted, 0 already done, 0 failed" in output
    assert "trained to step 2" in output
    meta = json.loads((data / "meta_info.json").read_text())
    assert len(meta["test_audios"]) == len(meta["speakers"]) == 2
    sidecar = json.loads(sidecar_path(run / "last.ckpt").read_text())
    assert sidecar == json.loads((run / "model-step=2.timbrel.json").read_text())
    assert sidecar["family"] == "rift" and sidecar["speakers"] == meta["speakers"]
    for speaker in meta["speakers"]:
        tracks = [torch.load(p, weights_only=True).numpy() for p in sorted((data / speaker).glob("*.f0.pt"))]
        voiced = np.concatenate(tracks)
        voiced = voiced[voiced > 0]
        stats = sidecar["speaker_f0_hz"][speaker]
        assert stats["voiced_frames"] == voiced.size
        assert stats["median"] == pytest.approx(float(np.median(voiced)), rel=1e-6)
        assert stats["quantiles"]["0.95"] == pytest.approx(float(np.quantile(voiced, 0.95)), rel=1e-6)


def test_second_run_skips_every_stage(trained):
    songs, data, run, command, _ = trained
    before = _files(data, run)
    again = run_cli(*command)
    assert again.exit_code == 0, again.output
    n = len(list(songs.glob("*/*.wav")))
    assert f"prepare: 0 prepared, {n} already done, 0 failed" in again.output
    assert f"extract: 0 extracted, {n} already done, 0 failed" in again.output
    assert "trained to step 2" in again.output
    assert _files(data, run) == before


def test_auto_key_follows_the_speaker_statistics(trained, pretrained, fixtures, tmp_path):
    _, _, run, _, _ = trained
    weights = {"contentvec": pretrained / "content-vec-best", "rmvpe": pretrained / "rmvpe" / "model.pt"}
    weights["vocoder"] = pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02"
    voice = api.load(run / "last.ckpt", **weights)
    sidecar = json.loads(sidecar_path(run / "last.ckpt").read_text())
    speaker = voice.speakers[1]
    assert voice.f0_stats[speaker] == F0Stats.from_dict(sidecar["speaker_f0_hz"][speaker])

    # Put the speaker's median 5 semitones above the input's: auto-key must then shift by 5.
    samples = to_model_rate(io.decode(fixtures / "rift" / "e2e" / "input.wav"))
    options = RIFTConvertOptions(speaker=speaker, infer_steps=2)
    features = [voice.segment_features(samples[a:b], options) for a, b in _spans(samples, options)]
    f0 = torch.cat([item.f0_hz for item in features]).numpy()
    assert (f0 > 0).any()
    shifted = float(np.median(f0[f0 > 0])) * 2 ** (5 / 12)
    model = tmp_path / "voice.ckpt"
    model.symlink_to(run / "last.ckpt")
    sidecar["speaker_f0_hz"][speaker]["median"] = shifted
    sidecar_path(model).write_text(json.dumps(sidecar))
    voice = api.load(model, **weights)
    automatic = voice.convert_44k(
        samples, RIFTConvertOptions(speaker=speaker, infer_steps=2, auto_key=True), _noise()
    )
    by_hand = voice.convert_44k(
        samples, RIFTConvertOptions(speaker=speaker, infer_steps=2, key_shift_semitones=5.0), _noise()
    )
    np.testing.assert_array_equal(automatic, by_hand)

    bundle = api.pack_voice(model, tmp_path / "voice.timbrel.zip")
    assert api.load(bundle, **weights).f0_stats == voice.f0_stats


def _spans(samples, options):
    from timbrel.audio.slicing import slice_spans
    from timbrel.models.rift.segment_features import SAMPLE_RATE

    return slice_spans(samples, SAMPLE_RATE, options.slicer)


def _noise():
    return RIFTNoise(generator=torch.Generator().manual_seed(0), vocoder_source="zeros")


def test_convert_refuses_formant_shift_and_auto_key_without_statistics(
    trained, pretrained, fixtures, tmp_path
):
    _, _, run, _, _ = trained
    weights = [
        "--contentvec", pretrained / "content-vec-best", "--rmvpe", pretrained / "rmvpe" / "model.pt",
        "--vocoder", pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02",
    ]  # fmt: skip
    source = fixtures / "rift" / "e2e" / "input.wav"
    refused = run_cli("convert", source, "-o", tmp_path / "a.wav", "-m", run / "last.ckpt", *weights,
                      "--formant-shift", 2)  # fmt: skip
    assert refused.exit_code == 2 and "RIFT cannot shift formants" in refused.output
    bare = tmp_path / "bare.ckpt"
    bare.symlink_to(run / "last.ckpt")  # no sidecar beside it
    missing = run_cli("convert", source, "-o", tmp_path / "b.wav", "-m", bare, *weights, "--auto-key",
                      "--infer-steps", 2)  # fmt: skip
    assert missing.exit_code != 0
    assert "training f0 statistics" in missing.output + str(missing.exception)
