"""Summarise the parity logs of test runs: per kind of comparison, how many comparisons, the
largest measured difference and the largest share of its tolerance, one column per run.

    TIMBREL_PARITY_LOG=full.jsonl .venv/bin/python -m pytest -m "parity and not slow and not gpu"
    (the same again under scripts/test.sh's reduced-SIMD settings, logging to reduced.jsonl)
    .venv/bin/python scripts/parity_report.py full.jsonl reduced.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def worst_by_kind(log: Path) -> dict[str, tuple[int, float, float]]:
    """kind -> (comparisons, largest difference, largest difference / tolerance)."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for line in log.read_text().splitlines():
        record = json.loads(line)
        rows[record["kind"]].append(record)
    return {
        kind: (len(records), max(r["diff"] for r in records), max(r["ratio"] for r in records))
        for kind, records in rows.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("logs", nargs="+", type=Path)
    args = parser.parse_args()
    runs = [worst_by_kind(log) for log in args.logs]
    header = " | ".join(f"{log.stem}: n, max diff, max diff/tol" for log in args.logs)
    print(f"| kind | {header} |")
    print("|---|" + "---|" * len(runs))
    for kind in sorted(set().union(*runs)):
        cells = [
            f"{run[kind][0]}, {run[kind][1]:.2g}, {run[kind][2]:.2f}" if kind in run else "—" for run in runs
        ]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
