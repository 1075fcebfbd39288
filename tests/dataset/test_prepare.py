"""Folder preparation for both families: bad inputs, resume, outputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from timbrel import api
from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.core.audio import Audio
from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig
from timbrel.dataset.rvc import RVCPrepareConfig

RVC_CONFIG = RVCPrepareConfig(sample_rate=32000, piece_s=3.0)


def write_bad_and_odd_inputs(folder: Path) -> dict[str, str | None]:
    """Files of every awkward kind -> {name: expected reason fragment, or None if usable}."""
    folder.mkdir(parents=True, exist_ok=True)
    voice = sing_recording(SINGERS[0], 7.0, 44100, seed=1)
    expected: dict[str, str | None] = {}

    io.save(folder / "good one é ü.wav", voice, subtype="PCM_16")
    expected["good one é ü.wav"] = None
    (folder / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 8)
    expected["corrupt.wav"] = "cannot decode"
    (folder / "empty.wav").write_bytes(b"")
    expected["empty.wav"] = "empty file"
    soundfile.write(str(folder / "zero_length.wav"), np.zeros(0, np.float32), 16000)
    expected["zero_length.wav"] = "zero samples"
    soundfile.write(str(folder / "one_sample.wav"), np.array([0.5], np.float32), 16000)
    expected["one_sample.wav"] = "too short"
    soundfile.write(str(folder / "silent.wav"), np.zeros(5 * 16000, np.float32), 16000)
    expected["silent.wav"] = "silent"
    nan = voice.mono.copy()
    nan[1000] = np.nan
    soundfile.write(str(folder / "nan.wav"), nan, 44100, subtype="FLOAT")
    expected["nan.wav"] = "NaN"
    inf = voice.mono.copy()
    inf[5] = np.inf
    soundfile.write(str(folder / "inf.wav"), inf, 44100, subtype="FLOAT")
    expected["inf.wav"] = "infinite"
    other = sing_recording(SINGERS[1], 6.0, 44100, seed=2)
    io.save(folder / "low 8k.wav", io.conform(other, 8000), subtype="PCM_16")
    expected["low 8k.wav"] = None
    io.save(folder / "high192k.flac", io.conform(other, 192000), subtype="PCM_24")
    expected["high192k.flac"] = None
    six = np.repeat(io.conform(other, 48000).samples, 6, axis=0) * 0.8
    io.save(folder / "six_channels.wav", Audio(six, 48000), subtype="PCM_16")
    expected["six_channels.wav"] = None
    soundfile.write(str(folder / "wav_named.mp3"), voice.mono, 44100, format="WAV")
    expected["wav_named.mp3"] = None
    (folder / "notes.txt").write_text("not audio")
    expected["notes.txt"] = "cannot decode"
    return expected


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory) -> tuple[Path, dict[str, str | None]]:
    folder = tmp_path_factory.mktemp("inputs") / "my songs"
    return folder, write_bad_and_odd_inputs(folder)


def test_rvc_prepare_reports_each_bad_file_and_keeps_the_good(messy_folder, tmp_path):
    folder, expected = messy_folder
    report = api.prepare_rvc(folder, tmp_path / "exp", RVC_CONFIG, workers=2)
    by_name = {Path(o.item).name: o for o in report.outcomes}
    assert set(by_name) == set(expected)
    for name, reason in expected.items():
        outcome = by_name[name]
        if reason is None:
            assert outcome.status == "done", (name, outcome.reason)
            assert outcome.outputs
        else:
            assert outcome.status == "failed", name
            assert reason in outcome.reason, (name, outcome.reason)
            assert name in outcome.reason  # the one-line reason names the file
    assert report.usable
    entries = sorted(os.listdir(folder))
    gt = sorted(p.name for p in (tmp_path / "exp" / "0_gt_wavs").iterdir())
    low = sorted(p.name for p in (tmp_path / "exp" / "1_16k_wavs").iterdir())
    assert gt == low
    # recording numbers are positions in the sorted listing, as RVC numbers them
    assert {int(name.split("_")[0]) for name in gt} == {
        entries.index(name) for name, reason in expected.items() if reason is None
    }
    for name in gt:
        info = soundfile.info(str(tmp_path / "exp" / "0_gt_wavs" / name))
        assert (info.samplerate, info.subtype) == (32000, "FLOAT")
    assert not list((tmp_path / "exp").rglob("*.tmp*"))
    check = json.loads((tmp_path / "exp" / "dataset_check.json").read_text())
    assert check["summary"]["files"] == len(gt)


def test_rvc_prepare_resumes_and_redoes_only_unfinished_work(messy_folder, tmp_path):
    folder, _ = messy_folder
    experiment = tmp_path / "exp"
    api.prepare_rvc(folder, experiment, RVC_CONFIG, workers=1)
    stamps = {p: p.stat().st_mtime_ns for p in experiment.rglob("*.wav")}

    again = api.prepare_rvc(folder, experiment, RVC_CONFIG, workers=1)
    assert {o.status for o in again.outcomes} == {"skipped", "failed"}
    assert {p: p.stat().st_mtime_ns for p in experiment.rglob("*.wav")} == stamps

    # A run killed in the middle of one recording: some of its pieces written, no ledger entry.
    victim = next(p for p in stamps if p.parent.name == "1_16k_wavs")
    victim.unlink()
    shutil.rmtree(experiment / ".timbrel")
    resumed = api.prepare_rvc(folder, experiment, RVC_CONFIG, workers=1)
    assert victim.exists()
    assert sorted(p.name for p in experiment.rglob("*.wav")) == sorted(p.name for p in stamps)
    assert "done" in {o.status for o in resumed.outcomes}


def test_rvc_prepare_with_other_settings_replaces_old_pieces(messy_folder, tmp_path):
    folder, _ = messy_folder
    experiment = tmp_path / "exp"
    api.prepare_rvc(folder, experiment, RVCPrepareConfig(sample_rate=32000, piece_s=3.7), workers=1)
    api.prepare_rvc(folder, experiment, RVCPrepareConfig(sample_rate=32000, piece_s=1.5), workers=1)
    for path in (experiment / "0_gt_wavs").iterdir():
        assert soundfile.info(str(path)).frames <= int(1.8 * 32000)


def test_rift_prepare_writes_speakers_and_meta_info(tmp_path):
    source = tmp_path / "singers"
    for k, singer in enumerate(SINGERS):
        for j in range(3):
            io.save(
                source / singer.name / f"take {j}.flac", sing_recording(singer, 3.0, 48000, seed=10 * k + j)
            )
    (source / SINGERS[0].name / "broken.wav").write_bytes(b"nope")
    data = tmp_path / "data"
    split = SplitConfig(split_type="stratified", num_test_per_speaker=1, seed=7)
    report = api.prepare_rift(source, data, RIFTPrepareConfig(), split, workers=2)
    assert [o.status for o in report.outcomes].count("failed") == 1
    assert "broken.wav" in report.failed[0].reason
    meta = json.loads((data / "meta_info.json").read_text())
    assert meta["speakers"] == sorted(s.name for s in SINGERS)
    assert len(meta["test_audios"]) == 2
    assert len(meta["train_audios"]) == 4
    for entry in meta["train_audios"] + meta["test_audios"]:
        info = soundfile.info(str(data / entry["speaker"] / f"{entry['file_name']}.wav"))
        assert (info.samplerate, info.subtype, info.channels) == (44100, "PCM_16", 1)
    again = api.prepare_rift(source, data, RIFTPrepareConfig(), split, workers=1)
    assert [o.status for o in again.outcomes].count("skipped") == 6


def test_nothing_usable_is_an_error_exit(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.wav").write_bytes(b"")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timbrel",
            "prepare",
            "rvc",
            str(folder),
            "-e",
            "x",
            "--logs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "empty.wav" in result.stderr
    assert "empty file" in result.stderr


def test_cli_prepare_rvc_and_check(messy_folder, tmp_path):
    import subprocess
    import sys

    folder, expected = messy_folder
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timbrel",
            "prepare",
            "rvc",
            str(folder),
            "-e",
            "cli",
            "--logs-dir",
            str(tmp_path),
            "--sample-rate",
            "32000",
            "--piece-s",
            "3.0",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    check = json.loads((tmp_path / "cli" / "input_check.json").read_text())
    assert check["summary"]["files"] == len(expected)
    assert check["summary"]["usable_files"] == sum(reason is None for reason in expected.values())
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "timbrel",
            "check",
            str(folder / "silent.wav"),
            str(folder / "low 8k.wav"),
            "--json",
            str(tmp_path / "c.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0
    files = json.loads((tmp_path / "c.json").read_text())["files"]
    assert files[0]["errors"] and not files[1]["errors"]
    assert "low sample rate" in files[1]["warnings"][0]


def test_unreadable_file_reason(tmp_path, monkeypatch):
    path = tmp_path / "locked.wav"
    soundfile.write(str(path), np.zeros(100, np.float32), 16000)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == path else real_access(p, mode))
    outcome = api.check([path]).files[0]
    assert outcome.errors == ("permission denied: the file is not readable",)


def write_odd_entries(folder: Path, good: Audio) -> dict[str, str | None]:
    """Entries that are not plain files, and two recordings with one stem -> {name: reason or None}."""
    folder.mkdir(parents=True, exist_ok=True)
    io.save(folder / "x.wav", good, subtype="PCM_16")
    io.save(folder / "x.flac", Audio(good.samples * 0.5, good.sample_rate), subtype="PCM_16")
    (folder / "y.wav").mkdir()
    (folder / "link.wav").symlink_to(folder / "x.wav")
    (folder / "loop.wav").symlink_to(folder / "loop.wav")
    os.mkfifo(folder / "pipe.wav")
    return {
        "x.wav": None,
        "x.flac": None,
        "link.wav": None,
        "y.wav": "is a folder",
        "loop.wav": "symbolic link loop",
        "pipe.wav": "named pipe",
    }


def assert_each_entry_reported(outcomes, expected: dict[str, str | None]) -> None:
    by_name = {Path(o.item).name: o for o in outcomes}
    assert sorted(by_name) == sorted(expected) and len(outcomes) == len(expected)
    for name, reason in expected.items():
        outcome = by_name[name]
        if reason is None:
            assert outcome.status == "done" and outcome.outputs, (name, outcome.reason)
        else:
            assert outcome.status == "failed" and reason in outcome.reason and name in outcome.reason, name


def test_rift_prepare_keeps_recordings_that_share_a_stem_and_reports_every_entry(tmp_path):
    voice = sing_recording(SINGERS[0], 2.0, 32000, seed=4)
    source = tmp_path / "singers"
    expected = write_odd_entries(source / "alto", voice)
    (source / "alto" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    expected[".DS_Store"] = "hidden"
    io.save(source / "stray.wav", voice)
    expected["stray.wav"] = "not in a speaker folder"
    data = tmp_path / "data"
    report = api.prepare_rift(source, data, RIFTPrepareConfig(), SplitConfig(num_test=1), workers=1)
    assert_each_entry_reported(report.outcomes, expected)
    written = {Path(o.item).name: o.outputs[0] for o in report.outcomes if o.status == "done"}
    assert len(set(written.values())) == len(written)  # nothing overwrote anything
    assert (written["x.wav"], written["x.flac"]) == ("alto/x_wav.wav", "alto/x_flac.wav")
    levels = [np.abs(soundfile.read(str(data / written[n]))[0]).max() for n in ("x.wav", "x.flac")]
    assert levels[0] == pytest.approx(levels[1], rel=1e-3)  # both normalised, both kept
    meta = json.loads((data / "meta_info.json").read_text())
    assert len(meta["train_audios"]) + len(meta["test_audios"]) == len(written)


def test_rvc_prepare_reports_every_entry(tmp_path):
    voice = sing_recording(SINGERS[0], 4.0, 32000, seed=4)
    expected = write_odd_entries(tmp_path / "songs", voice)
    report = api.prepare_rvc(tmp_path / "songs", tmp_path / "exp", RVC_CONFIG, workers=1)
    assert_each_entry_reported(report.outcomes, expected)


def test_leftover_temporaries_are_cleared_and_never_listed(tmp_path):
    voice = sing_recording(SINGERS[0], 7.0, 32000, seed=5)
    io.save(tmp_path / "songs" / "a.wav", voice)
    experiment = tmp_path / "exp"
    api.prepare_rvc(tmp_path / "songs", experiment, RVC_CONFIG, workers=1)
    pieces = len(list((experiment / "0_gt_wavs").iterdir()))
    # what a SIGKILL in the middle of atomic writes leaves
    stale = [
        experiment / "0_gt_wavs" / ".0_9.k1llme00.tmp.wav",
        experiment / "1_16k_wavs" / ".0_9.k1llme00.tmp.wav",
    ]
    for path in stale:
        path.write_bytes(b"RIFF")
    api.prepare_rvc(tmp_path / "songs", experiment, RVC_CONFIG, workers=1)
    assert not any(p.exists() for p in stale)
    check = json.loads((experiment / "dataset_check.json").read_text())
    assert check["summary"]["files"] == pieces
    # a leftover that appears after preparation is still never listed as a piece
    stale[0].write_bytes(b"RIFF")
    again = api.prepare_rvc(tmp_path / "songs", experiment, RVC_CONFIG, workers=1)
    assert {o.status for o in again.outcomes} == {"skipped"}
    assert not stale[0].exists()


def test_same_inputs_give_the_same_bytes_wherever_the_experiment_lies(tmp_path):
    voice = sing_recording(SINGERS[0], 7.0, 32000, seed=6)
    io.save(tmp_path / "songs" / "a.wav", voice)
    digests = []
    for name in ("one", "elsewhere/two"):
        experiment = tmp_path / name
        api.prepare_rvc(tmp_path / "songs", experiment, RVC_CONFIG, workers=1)
        digests.append(
            {
                str(p.relative_to(experiment)): p.read_bytes()
                for p in experiment.rglob("*")
                if p.is_file() and ".timbrel" not in p.parts
            }
        )
    assert digests[0] == digests[1]
    check = json.loads(digests[0]["dataset_check.json"])
    assert [f["path"] for f in check["files"]] == sorted(k for k in digests[0] if k.startswith("0_gt_wavs"))
