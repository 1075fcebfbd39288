"""Peak resident memory of a workload run in a fresh process (so earlier work does not count)."""

from __future__ import annotations

import subprocess
import sys

MINUTES = (1, 5, 10)


def peak_rss_mb(workload: str) -> float:
    """Run ``workload`` (Python statements) in a new interpreter, set up as `timbrel` and
    ``api.load`` set up theirs (timbrel.core.cpu_kernels.bound_native_memory) -> its peak RSS in MB."""
    code = (
        "import resource; from timbrel.core.cpu_kernels import bound_native_memory;"
        f"bound_native_memory(); {workload};"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024
