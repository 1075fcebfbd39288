"""The one table of scripts/gpu-check.sh: the device, each gpu test's result, each benchmark row.

python scripts/gpu_check_report.py RESULTS_DIR   # doctor.json, tests.xml, benchmarks.json
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def device_rows(doctor: Path) -> list[tuple[str, str, str]]:
    if not doctor.is_file():
        return [("doctor", "missing", "no report")]
    checks = json.loads(doctor.read_text())["checks"]
    return [
        (f"doctor: {c['name']}", c["status"], c["detail"])
        for c in checks
        if c["section"] in ("torch", "devices") and c["name"] != "mps"
    ]


def test_rows(junit: Path) -> list[tuple[str, str, str]]:
    if not junit.is_file():
        return [("gpu tests", "missing", "no results (pytest did not finish)")]
    rows = []
    for case in ElementTree.parse(junit).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        status, detail = "passed", f"{float(case.get('time', 0)):.1f} s"
        for outcome in ("failure", "error", "skipped"):
            found = case.find(outcome)
            if found is not None:
                status = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[outcome]
                detail = (found.get("message") or "").splitlines()[0][:160] if found.get("message") else ""
        rows.append((name, status, detail))
    return rows


def benchmark_rows(results: Path) -> list[tuple[str, str, str]]:
    if not results.is_file():
        return [("benchmarks", "missing", "no results (stopped before the end)")]
    rows = []
    for row in json.loads(results.read_text())["devices"]["rows"]:
        peak = (
            "peak not measured" if row["peak_device_mb"] is None else f"peak {row['peak_device_mb']:.0f} MB"
        )
        rows.append(
            (
                f"{row['workload']} [{row['precision']}]",
                f"RTF {row['rtf']:.3f}",
                f"{row['audio_s_per_s']:.1f} audio-s/s, {row['speedup_vs_fp32']:.2f}x fp32, {peak}",
            )
        )
    return rows


def main(folder: Path) -> int:
    rows = device_rows(folder / "doctor.json") + test_rows(folder / "tests.xml")
    rows += benchmark_rows(folder / "benchmarks.json")
    print("| check | result | detail |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    failed = [row for row in rows if row[1] in ("FAILED", "ERROR", "missing", "fail")]
    print(f"\n{len(failed)} of {len(rows)} rows failed or missing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
