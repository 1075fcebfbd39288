"""The offline demo: a synthetic two-singer corpus taken through the pipeline with no downloads.

Everything it needs is generated on the spot, so it runs on a fresh machine with no network.
It grows with the pipeline: today it prepares the corpus for both families.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from timbrel import api
from timbrel.audio.synthesis import make_corpus
from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig
from timbrel.dataset.rvc import RVCPrepareConfig


@dataclass
class DemoReport:
    output_dir: Path
    timings_s: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def run_demo(
    output_dir: str | Path, seconds_per_singer: float = 60.0, say: Callable[[str], None] = print
) -> DemoReport:
    output_dir = Path(output_dir)
    report = DemoReport(output_dir)

    def stage(name: str, action: Callable[[], str]) -> None:
        start = time.perf_counter()
        line = action()
        report.timings_s[name] = time.perf_counter() - start
        report.lines.append(f"{name}: {line} ({report.timings_s[name]:.1f} s)")
        say(report.lines[-1])

    corpus = output_dir / "corpus"
    stage(
        "corpus",
        lambda: (
            f"{len(make_corpus(corpus, seconds_per_singer))} synthetic recordings of 2 singers in {corpus}"
        ),
    )

    def prepare_rvc() -> str:
        singer_dir = next(p for p in sorted(corpus.iterdir()) if p.is_dir())
        result = api.prepare_rvc(singer_dir, output_dir / "logs" / "demo-rvc", RVCPrepareConfig.for_cpu())
        pieces = sum(o.details.get("pieces", 0) for o in result.outcomes)
        return f"{pieces} pieces from {singer_dir.name} in {result.output_dir}"

    def prepare_rift() -> str:
        result = api.prepare_rift(
            corpus, output_dir / "data" / "demo", RIFTPrepareConfig(), SplitConfig(num_test=2, seed=0)
        )
        return f"{len(result.outcomes)} recordings, split {result.extra} in {result.output_dir}"

    stage("prepare rvc", prepare_rvc)
    stage("prepare rift", prepare_rift)
    say(f"demo finished in {sum(report.timings_s.values()):.1f} s; outputs in {output_dir}")
    return report
