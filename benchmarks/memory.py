"""Peak resident memory of RVC and RIFT conversions of 1, 5 and 10-minute inputs with full-size
(random) models, each in a fresh process (so earlier work does not count). Full size is slow on a
small CPU: RIFT's dit-768-12 at 2 steps and RVC v2-40k take about their input's length or more
each on 2 cores, so the 10-minute rows take the longest. --quick: the 1-minute rows only."""

from __future__ import annotations

import subprocess
import sys

MINUTES = (1, 5, 10)


def peak_rss_mb(workload: str) -> float:
    """Run ``workload`` (Python statements) in a new interpreter, set up as `timbrel` and
    ``api.load`` set up theirs (timbrel.core.cpu_kernels.bound_primitive_cache) -> its peak RSS in MB."""
    code = (
        "import resource; from timbrel.core.cpu_kernels import bound_primitive_cache;"
        f"bound_primitive_cache(); {workload};"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def run(quick: bool = False) -> dict:
    from benchmarks import rift, rvc_convert

    families = {
        "rvc (v2-40k, pm, no index)": rvc_convert.conversion_peak_rss_mb,
        "rift (dit-768-12, 2 steps)": rift.conversion_peak_rss_mb,
    }
    results: dict = {}
    for family, peak_mb in families.items():
        results[family] = {}
        for minutes in MINUTES[:1] if quick else MINUTES:
            peak = peak_mb(minutes)
            results[family][minutes] = peak
            print(f"{family}: peak memory converting a {minutes} min input: {peak:.0f} MB", flush=True)
    return results
