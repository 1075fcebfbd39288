"""A seeded sample of 100 odd, corrupt and good entries through every stage of the real command
line: no traceback, every refused entry named with a clear one-line reason, no good file lost.
`python -m benchmarks reliability` runs the full corpus."""

from __future__ import annotations

from tests.reliability.harness import Models, run_harness, table

SAMPLE = 100
SEED = 20261204


def test_a_sample_of_odd_inputs_through_every_stage(fixtures, tmp_path, posix_entries):
    counts = run_harness(tmp_path, SAMPLE, SEED, Models.from_fixtures(fixtures))
    report = table(counts)
    assert {c.stage for c in counts} >= {"prepare rvc", "prepare rift", "extract rvc", "extract rift",
                                          "convert rvc", "convert rift", "eval"}, report  # fmt: skip
    for count in counts:
        assert count.tried > 0, report
        assert count.tracebacks == 0, report
        assert count.unclear == [], (count.stage, count.unclear)
        assert count.good_lost == [], (count.stage, count.good_lost)
        assert count.bad_used == [], (count.stage, count.bad_used)
    prepare = counts[0]
    assert prepare.used + prepare.clear_errors == prepare.tried > SAMPLE  # every entry accounted for
    assert prepare.clear_errors > 0 and prepare.used > 0
