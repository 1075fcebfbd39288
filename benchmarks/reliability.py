"""Reliability under bad input: the full seeded corpus (1,000 odd or corrupt entries mixed with good
recordings) through prepare, extract, index, convert and eval of the real command line, on the
end-to-end fixtures' tiny models ($TIMBREL_FIXTURES, default ../shared/fixtures). Prints, per
stage: entries tried, used, refused with a clear one-line reason, unclear, tracebacks, good
entries lost and bad entries used. The same corpus is drawn on every run (fixed seed).

Then kill safety: prepare rvc, extract rvc, train rvc and train rift (tiny models) are each
SIGKILLed at 20 seeded random moments (3 with --quick) and resumed; it counts the kills after
which every output matched the uninterrupted run's (sha256), no temporary was left and the
logged losses matched."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.conftest import fixtures_root
from tests.reliability.harness import Models, run_harness, table
from tests.reliability.kill import KillCount, copy_state, kill_and_resume
from tests.reliability.test_kill import SEED as KILL_SEED
from tests.reliability.test_kill import rift_command, rvc_commands, songs
from tests.train.rift_corpus import build_corpus

SEED = 1
FULL = 1000
QUICK = 100
KILLS, QUICK_KILLS = 20, 3


def kill_safety(kills: int) -> list[KillCount]:
    counts = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        logs = root / "logs"
        work = logs / "exp"
        commands = rvc_commands(logs, songs(root / "songs"), fixtures_root() / "rvc" / "e2e" / "hubert")
        counts.append(
            kill_and_resume(
                "prepare rvc", work, copy_state(None, work), commands["prepare"], kills, KILL_SEED
            )
        )
        for stage, command in (("extract rvc", "extract"), ("train rvc", "train rvc")):
            before = root / f"before {stage}"
            shutil.copytree(work, before, symlinks=True)
            counts.append(
                kill_and_resume(stage, work, copy_state(before, work), commands[command], kills, KILL_SEED)
            )
        runs = root / "runs"
        command = rift_command(build_corpus(root / "rift"), runs)
        counts.append(kill_and_resume("train rift", runs, copy_state(None, runs), command, kills, KILL_SEED))
    return counts


def run(quick: bool = False) -> dict:
    count = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as folder:
        counts = run_harness(Path(folder), count, SEED, Models.from_fixtures(fixtures_root()))
    print(f"{count} generated entries (seed {SEED}); seconds were taken on a possibly shared machine")
    print(table(counts))
    for stage in counts:
        for kind in ("unclear", "good_lost", "bad_used"):
            for line in getattr(stage, kind):
                print(f"  {stage.stage} {kind}: {line}")
    kills = kill_safety(QUICK_KILLS if quick else KILLS)
    print("\nkill safety: stage, kills, resumed with identical outputs and losses")
    for stage in kills:
        print(f"  {stage.stage:12s} {stage.kills:3d} {stage.identical:3d}")
        for line in stage.differences:
            print(f"    {line}")
    return {
        "entries": count,
        "seed": SEED,
        "stages": [c.row() for c in counts],
        "kills": [{"stage": k.stage, "kills": k.kills, "identical": k.identical} for k in kills],
    }
