"""Reliability under bad input: the full seeded corpus (1,000 odd or corrupt entries mixed with good
recordings) through prepare, extract, index, convert and eval of the real command line, on the
end-to-end fixtures' tiny models ($TIMBREL_FIXTURES, default ../shared/fixtures). Prints, per
stage: entries tried, used, refused with a clear one-line reason, unclear, tracebacks, good
entries lost and bad entries used. The same corpus is drawn on every run (fixed seed)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.conftest import fixtures_root
from tests.reliability.harness import Models, run_harness, table

SEED = 1
FULL = 1000
QUICK = 100


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
    return {"entries": count, "seed": SEED, "stages": [c.row() for c in counts]}
