"""Per-item results of a batch job (extraction, conversion) as a short page summary."""

from __future__ import annotations

from collections.abc import Sequence

from timbrel.core.jobs import Outcome


def outcome_summary(outcomes: Sequence[Outcome], done_word: str, where: str) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    lines = [
        f"{counts['done']} {done_word}, {counts['skipped']} already done, {counts['failed']} failed"
        f" in {where}."
    ]
    lines += [f"- failed: {o.reason}" for o in outcomes if o.status == "failed"]
    return "\n".join(lines)
