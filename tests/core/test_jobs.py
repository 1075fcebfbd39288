from __future__ import annotations

from pathlib import Path

from timbrel.core.errors import BadInputError
from timbrel.core.jobs import MIN_ITEMS_PER_WORKER, Ledger, Outcome, run_jobs


def square_or_fail(value: int) -> Outcome:
    if value == 3:
        raise BadInputError(f"item{value}.wav", "odd number three")
    if value == 4:
        raise ZeroDivisionError("a bug")
    return Outcome(str(value), "done", details={"square": value * value})


def test_errors_become_outcomes_and_order_is_kept():
    items = list(range(1, 6)) * MIN_ITEMS_PER_WORKER  # enough for the worker pool to start
    for workers in (1, 2):
        outcomes = run_jobs(square_or_fail, items, [f"item{i}" for i in items], workers, show_progress=False)
        assert [o.status for o in outcomes[:5]] == ["done", "done", "failed", "failed", "done"]
        assert outcomes[6].details["square"] == 4
        assert outcomes[7].reason == "item3.wav: odd number three"
        assert outcomes[8].reason.startswith("item4: unexpected ZeroDivisionError")


def test_ledger_matches_only_same_source_and_settings(tmp_path: Path):
    source = tmp_path / "a.wav"
    source.write_bytes(b"1234")
    ledger = Ledger(tmp_path / "ledger", {"rate": 40000})
    assert ledger.lookup("a", source) is None
    ledger.record("a", source, Outcome(str(source), "done", outputs=("x.wav",)))
    assert ledger.lookup("a", source)["outputs"] == ["x.wav"]
    assert Ledger(tmp_path / "ledger", {"rate": 48000}).lookup("a", source) is None
    assert Ledger(tmp_path / "ledger", {"rate": 48000}).previous_outputs("a") == ["x.wav"]
    source.write_bytes(b"12345")
    assert ledger.lookup("a", source) is None
