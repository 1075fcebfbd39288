"""Run benchmarks and print their figures, each with the ratio against a baseline from the same run.

    .venv/bin/python -m benchmarks            # all
    .venv/bin/python -m benchmarks prepare    # one group
    .venv/bin/python -m benchmarks devices --device cuda   # the GPU mode (not part of "all")

The reference implementations, measured in the same run (groups versus_rvc and versus_rift; make
their trees and Python with benchmarks/reference_env.sh):
    .venv/bin/python -m benchmarks versus_rvc versus_rift --reference-rvc REF/rvc \
        --reference-rift REF/rift --reference-python REF/venv/bin/python
Without them those rows say "reference not measured in this run"; no figure from elsewhere is used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.reference import print_table, reference_from_args

GROUPS = (
    "prepare",
    "extract",
    "rvc_convert",
    "onnx_engine",
    "realtime",
    "eval",
    "rift",
    "rvc_train",
    "rift_train",
    "reliability",
    "memory",
    "versus_rvc",
    "versus_rift",
)
VERSUS_GROUPS = ("versus_rvc", "versus_rift")
DEVICE_GROUPS = ("devices",)  # run on --device; only when named


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("groups", nargs="*", default=list(GROUPS), choices=GROUPS + DEVICE_GROUPS)
    parser.add_argument("--json", type=Path, help="Also write all results here.")
    parser.add_argument("--quick", action="store_true", help="Smaller inputs, for a smoke run.")
    parser.add_argument("--device", default="auto", help="Where the device groups run (auto, cpu, cuda:N).")
    parser.add_argument("--reference-rvc", type=Path, help="RVC WebUI work tree at the spec's commit.")
    parser.add_argument("--reference-rift", type=Path, help="RIFT-SVC work tree at the spec's commit.")
    parser.add_argument("--reference-python", type=Path, help="The Python that runs the reference code.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds per side-by-side row.")
    args = parser.parse_args()
    reference = reference_from_args(args.reference_python, args.reference_rvc, args.reference_rift)
    results, rows = {}, []
    for group in args.groups:
        module = importlib.import_module(f"benchmarks.{group}")
        start = time.perf_counter()
        if group in DEVICE_GROUPS:
            results[group] = module.run(quick=args.quick, device=args.device)
        elif group in VERSUS_GROUPS:
            group_rows = module.run(quick=args.quick, reference=reference, rounds=args.rounds)
            rows += group_rows
            results[group] = [asdict(row) for row in group_rows]
        else:
            results[group] = module.run(quick=args.quick)
        print(f"[{group}] finished in {time.perf_counter() - start:.1f} s\n", flush=True)
    if rows:
        print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
