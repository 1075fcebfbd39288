"""Run benchmarks and print their figures, each with the ratio against a baseline from the same run.

    .venv/bin/python -m benchmarks            # all
    .venv/bin/python -m benchmarks prepare    # one group
    .venv/bin/python -m benchmarks devices --device cuda   # the GPU mode (not part of "all")

Figures from ../shared/reference-speed.md (the reference implementations on a machine like ours)
are printed beside ours where a group has one; those were not measured in this run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

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
)
DEVICE_GROUPS = ("devices",)  # run on --device; only when named


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("groups", nargs="*", default=list(GROUPS), choices=GROUPS + DEVICE_GROUPS)
    parser.add_argument("--json", type=Path, help="Also write all results here.")
    parser.add_argument("--quick", action="store_true", help="Smaller inputs, for a smoke run.")
    parser.add_argument("--device", default="auto", help="Where the device groups run (auto, cpu, cuda:N).")
    args = parser.parse_args()
    results = {}
    for group in args.groups:
        module = importlib.import_module(f"benchmarks.{group}")
        start = time.perf_counter()
        device = {"device": args.device} if group in DEVICE_GROUPS else {}
        results[group] = module.run(quick=args.quick, **device)
        print(f"[{group}] finished in {time.perf_counter() - start:.1f} s\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
