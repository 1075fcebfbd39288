"""The bad-input harness: a seeded corpus of odd entries mixed with good recordings through every
stage of the real command line (`python -m timbrel`), on the end-to-end fixtures' tiny models.

Each stage is run once over its folder; what became of every entry is read back from the stage's
report (input_check.json, report.json) or its output lines, and counted: entries tried, used,
refused with a clear one-line reason that names them, refused unclearly or not reported at all,
good entries lost, and Python tracebacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.corpus import Entry, good_recording, make_entries
from timbrel.core.errors import printable

# Entries that decode to valid audio no training set can use: a stage that does not train (convert,
# extract, eval) may use them or refuse them.
UNUSABLE_FOR_TRAINING_ONLY = ("silent", "one_sample")


@dataclass
class StageCount:
    stage: str
    tried: int = 0
    used: int = 0
    clear_errors: int = 0
    tracebacks: int = 0
    unclear: list[str] = field(default_factory=list)  # "name: what was wrong with the report"
    good_lost: list[str] = field(default_factory=list)
    bad_used: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> dict:
        return {
            "stage": self.stage,
            "tried": self.tried,
            "used": self.used,
            "clear_errors": self.clear_errors,
            "unclear": len(self.unclear),
            "tracebacks": self.tracebacks,
            "good_lost": len(self.good_lost),
            "bad_used": len(self.bad_used),
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class Models:
    """The end-to-end fixtures' tiny models."""

    rvc_model: Path
    hubert: Path
    rift_model: Path
    contentvec: Path
    rmvpe: Path
    vocoder: Path

    @classmethod
    def from_fixtures(cls, fixtures: Path) -> Models:
        rvc, rift = fixtures / "rvc" / "e2e", fixtures / "rift" / "e2e"
        settings = json.loads((rvc / "settings.json").read_text())
        pretrained = rift / "pretrained"
        return cls(
            rvc / settings["model_file"],
            rvc / "hubert",
            rift / "model-step=2.ckpt",
            pretrained / "content-vec-best",
            pretrained / "rmvpe" / "model.pt",
            pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02",
        )


def run_cli(*args: object, timeout_s: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "4000", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "timbrel", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )


def _tracebacks(*results: subprocess.CompletedProcess) -> int:
    """Python tracebacks, and crashes (a process ended by a signal: a fault in native code)."""
    return sum(
        (r.stdout + r.stderr).count("Traceback (most recent call last)") + (r.returncode < 0) for r in results
    )


def clear_reason(path: Path, reason: str, output: str) -> str | None:
    """None when ``reason`` is one clear line naming ``path`` that the command printed, else what is
    wrong with it."""
    name = printable(path)
    if not reason.startswith(f"{name}: "):
        return f"does not start with the file's name: {reason!r}"
    if "\n" in reason:
        return f"more than one line: {reason!r}"
    for raw in ("unexpected ", "Traceback", "Errno", "Invalid data found"):
        if raw in reason:
            return f"raw error text ({raw.strip()}): {reason!r}"
    if reason not in output:
        return f"not printed: {reason!r}"
    return None


def _expect(entry: Entry, trains: bool) -> str:
    if not trains and entry.kind in UNUSABLE_FOR_TRAINING_ONLY:
        return "either"
    return entry.expect


def _account(
    count: StageCount, entry: Entry, path: Path, used: bool, reason: str | None, output: str, trains: bool
) -> None:
    """One entry's fate: used, or refused (clearly or not), against what was expected of it."""
    count.tried += 1
    expect = _expect(entry, trains)
    if used:
        count.used += 1
        if expect == "bad":
            count.bad_used.append(entry.name)
        return
    if expect == "good":
        count.good_lost.append(f"{entry.name}: {reason}")
    if reason is None:
        count.unclear.append(f"{entry.name}: neither used nor reported")
        return
    problem = clear_reason(path, reason, output)
    if problem is None:
        count.clear_errors += 1
    else:
        count.unclear.append(f"{entry.name}: {problem}")


def _checked(report: Path) -> dict[str, list[str]]:
    """input_check.json -> {input path: its errors}."""
    files = json.loads(report.read_text())["files"] if report.is_file() else []
    return {f["path"]: f["errors"] for f in files}


def prepare_rvc_stage(folder: Path, entries: list[Entry], logs: Path) -> StageCount:
    result = run_cli(
        "prepare", "rvc", folder, "-e", "exp", "--logs-dir", logs, "--sample-rate", 32000,
        "--piece-s", 3.0, "--workers", 1,
    )  # fmt: skip
    count = StageCount("prepare rvc", tracebacks=_tracebacks(result))
    checked = _checked(logs / "exp" / "input_check.json")
    listing = sorted(os.listdir(folder))
    pieces = {p.name.split("_")[0] for p in (logs / "exp" / "0_gt_wavs").glob("[0-9]*.wav")}
    for entry in entries:
        path = folder / entry.name
        errors = checked.get(str(path))
        used = errors == [] and str(listing.index(entry.name)) in pieces
        reason = errors[0] if errors else None
        _account(count, entry, path, used, reason, result.stderr, trains=True)
    return count


def prepare_rift_stage(speakers: Path, entries: list[Entry], data: Path) -> StageCount:
    result = run_cli("prepare", "rift", speakers, "-o", data, "--num-test", 1, "--workers", 1)
    count = StageCount("prepare rift", tracebacks=_tracebacks(result))
    checked = _checked(data / "input_check.json")
    for entry in entries:
        path = speakers / "alto" / entry.name
        errors = checked.get(str(path))
        reason = errors[0] if errors else None
        _account(count, entry, path, errors == [], reason, result.stderr, trains=True)
    written = [p for p in (data / "alto").glob("*.wav") if not p.name.startswith(".")]
    if len(written) != count.used:  # two inputs written to one output: one of them is lost
        count.good_lost.append(f"{count.used} recordings prepared into {len(written)} files")
    return count


def _failed_lines(output: str) -> dict[str, str]:
    """'failed <path>: <reason>' lines -> {their reason: the line}."""
    return {
        line.removeprefix("failed ").strip(): line
        for line in output.splitlines()
        if line.startswith("failed ")
    }


def _reported(path: Path, output: str) -> str | None:
    name = printable(path)
    return next((reason for reason in _failed_lines(output) if reason.startswith(f"{name}: ")), None)


def extract_rvc_stage(
    logs: Path, sources: dict[str, Entry], injected: list[Entry], models: Models
) -> tuple[StageCount, StageCount]:
    """Extraction over the prepared pieces and the odd entries put among them, then the index.
    sources: {recording number: the entry it was prepared from}."""
    experiment = logs / "exp"
    low = experiment / "1_16k_wavs"
    result = run_cli(
        "extract", "rvc", "-e", "exp", "--logs-dir", logs, "--hubert", models.hubert, "--f0-method", "pm"
    )
    count = StageCount("extract rvc", tracebacks=_tracebacks(result))
    odd = {e.name for e in injected}
    for wav in sorted(p for p in low.iterdir() if p.name.endswith(".wav") and not p.name.startswith(".")):
        if wav.is_dir() and not wav.is_symlink():
            continue  # a folder among the pieces is not a piece
        entry = next((e for e in injected if e.name == wav.name), None) if wav.name in odd else None
        if entry is None:  # a piece of a prepared recording: as good as the recording was
            source = sources[wav.name.split("_")[0]]
            entry = Entry(wav.name, "prepared piece", "good" if source.expect == "good" else "either")
        used = (experiment / "3_feature768" / f"{wav.stem}.npy").is_file()
        _account(count, entry, wav, used, _reported(wav, result.stderr), result.stderr, trains=False)
    indexed = run_cli("index", "-e", "exp", "--logs-dir", logs)
    index = StageCount("index", tried=1, tracebacks=_tracebacks(indexed))
    if indexed.returncode == 0:
        index.used = 1
    else:
        index.good_lost.append(f"index failed: {indexed.stderr.strip()[-300:]}")
    return count, index


def extract_rift_stage(data: Path, injected: list[Entry], models: Models) -> StageCount:
    result = run_cli("extract", "rift", data, "--contentvec", models.contentvec, "--rmvpe", models.rmvpe)
    count = StageCount("extract rift", tracebacks=_tracebacks(result))
    odd = {e.name: e for e in injected}
    for speaker in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for wav in sorted(
            p for p in speaker.iterdir() if p.name.endswith(".wav") and not p.name.startswith(".")
        ):
            if wav.is_dir() and not wav.is_symlink():
                continue
            entry = odd.get(wav.name) if speaker.name == "alto" else None
            entry = entry or Entry(wav.name, "prepared recording", "good")
            used = wav.with_name(wav.name[: -len(".wav")] + ".mel.pt").is_file()
            _account(count, entry, wav, used, _reported(wav, result.stderr), result.stderr, trains=False)
    return count


def convert_stage(
    stage: str, folder: Path, entries: list[Entry], out: Path, model_args: list[object]
) -> StageCount:
    result = run_cli("convert", folder, "-o", out, *model_args)
    count = StageCount(stage, tracebacks=_tracebacks(result))
    outputs = {line for line in result.stderr.splitlines() if line.startswith("done: ")}
    for entry in entries:
        path = folder / entry.name
        if path.is_dir() and not path.is_symlink():
            continue  # a folder is searched, not converted
        used = any(line.startswith(f"done: {printable(path)} -> ") for line in outputs)
        _account(count, entry, path, used, _reported(path, result.stderr), result.stderr, trains=False)
    return count


def eval_stage(folder: Path, entries: list[Entry], report: Path) -> StageCount:
    """Every entry evaluated against itself."""
    result = run_cli("eval", folder, folder, "--report", report, "--set", 'metrics=["f0", "loudness", "mcd"]')
    count = StageCount("eval", tracebacks=_tracebacks(result))
    data = json.loads((report / "report.json").read_text()) if (report / "report.json").is_file() else {}
    evaluated = {Path(f["converted"]).name for f in data.get("files", [])}
    skipped = {Path(s["path"]).name: s for s in data.get("skipped", [])}
    for entry in entries:
        path = folder / entry.name
        if path.is_dir() and not path.is_symlink():
            continue
        reason = None
        if entry.name in skipped:
            reason = f"{printable(path)}: {skipped[entry.name]['reason']}"
            printed = f"skipped {printable(path)}: {skipped[entry.name]['reason']}"
            if printed not in result.stderr:
                reason = f"(not printed) {reason}"
        _account(count, entry, path, entry.name in evaluated, reason, reason or "", trains=False)
    return count


def run_harness(root: Path, count: int, seed: int, models: Models, rift_convert: int = 8) -> list[StageCount]:
    """Build the corpus under ``root`` and run every stage over it -> one count per stage."""
    outside = root / "link-targets"
    flat, speakers = root / "inputs", root / "speakers"
    entries = make_entries(flat, count, seed, outside)
    make_entries(speakers / "alto", count, seed, outside)
    good_recording(speakers / "bass" / "anchor.wav", 3.0, 44100, seed)
    logs, data = root / "logs", root / "data"
    injected = max(4, count // 5)
    sources = {str(number): entry for number, entry in enumerate(sorted(entries, key=lambda e: e.name))}
    rvc_args = ["--model", models.rvc_model, "--hubert", models.hubert, "--f0-method", "pm"]
    few = root / "inputs-rift"
    rift_args = [
        "--model", models.rift_model, "--contentvec", models.contentvec, "--rmvpe", models.rmvpe,
        "--vocoder", models.vocoder, "--speaker", 0, "--infer-steps", 2,
    ]  # fmt: skip
    stages = [
        lambda: [prepare_rvc_stage(flat, entries, logs)],
        lambda: [prepare_rift_stage(speakers, entries, data)],
        lambda: extract_rvc_stage(
            logs, sources, make_entries(logs / "exp" / "1_16k_wavs", injected, seed + 1, outside), models
        ),
        lambda: [extract_rift_stage(data, make_entries(data / "alto", injected, seed + 2, outside), models)],
        lambda: [convert_stage("convert rvc", flat, entries, root / "out-rvc", rvc_args)],
        lambda: [
            convert_stage(
                "convert rift",
                few,
                make_entries(few, rift_convert, seed + 3, outside),
                root / "out-rift",
                rift_args,
            )
        ],
        lambda: [eval_stage(flat, entries, root / "report")],
    ]
    counts = []
    for stage in stages:
        start = time.perf_counter()
        done = stage()
        done[0].seconds = time.perf_counter() - start
        counts += done
    return counts


def table(counts: list[StageCount]) -> str:
    columns = tuple(counts[0].row())
    rows = [[str(c.row()[k]) for k in columns] for c in counts]
    widths = [max(len(k), *(len(r[i]) for r in rows)) for i, k in enumerate(columns)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
