"""python -m benchmarks.reference_side --family rvc|rift --tree DIR: one JSON request per stdin line,
one JSON reply per stdout line (see benchmarks/reference.py)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's resident high-water mark. Not ru_maxrss: that keeps the parent's peak across the
    fork and exec that started the worker (the Timbrel process, with its own models loaded)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference_side")
    parser.add_argument("--family", choices=("rvc", "rift"), required=True)
    parser.add_argument("--tree", type=Path, required=True)
    args = parser.parse_args()
    # Replies go to the original stdout; whatever the reference code prints goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    from fixtures.make.common import put_on_path
    from fixtures.make.standins import install_all

    install_all()
    put_on_path(args.tree)
    os.chdir(args.tree)  # the reference code reads its configs relative to its root
    workloads = importlib.import_module(f"benchmarks.reference_side.{args.family}").WORKLOADS
    run_round = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "setup":
                run_round = workloads[request["workload"]](**request["params"])
                reply: dict = {"ok": True}
            else:
                assert run_round is not None, "round before setup"
                start = time.perf_counter()
                split = run_round(Path(request["output"]))
                reply = {"seconds": time.perf_counter() - start, "split": split}
            reply["peak_rss_mb"] = peak_rss_mb()
        except Exception:  # the benchmark shows the reference's own error text
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
