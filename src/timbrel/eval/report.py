"""An evaluation as files: ``report.json`` (every number) and ``report.html`` (tables and plots,
images embedded as base64 PNG so the page is one self-contained file)."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

from timbrel.audio import io
from timbrel.audio.resample import resample
from timbrel.core.config import to_dict
from timbrel.core.errors import BadInputError
from timbrel.core.files import write_text_atomic
from timbrel.eval import mcd
from timbrel.eval.evaluate import EvalReport
from timbrel.eval.plots import METRIC_LABELS, f0_plot, histogram_plot, spectrogram_plot
from timbrel.eval.selection import HIGHER_IS_BETTER

FORMAT_VERSION = 1


def _number(value: float) -> float | None:
    """JSON has no NaN: an undefined metric is null."""
    return value if math.isfinite(value) else None


def report_to_dict(report: EvalReport) -> dict[str, Any]:
    """Plain data for JSON: config, summary means, per-file metrics, skipped files, timings."""
    files = []
    for result in report.files:
        entry: dict[str, Any] = {
            "name": result.name,
            "converted": str(result.converted_path),
            "source": str(result.source_path),
            "reference": str(result.reference_path) if result.reference_path else None,
            "duration_s": result.duration_s,
            "metrics": {k: _number(v) for k, v in result.metrics.items()},
        }
        if result.f0 is not None:
            entry["f0_frames"] = {"voiced_in_both": result.f0.voiced_frames, "total": result.f0.frames}
        files.append(entry)
    return {
        "format_version": FORMAT_VERSION,
        "config": to_dict(report.config),
        "pitch_method": report.pitch_method,
        "speaker_encoder": report.speaker_encoder,
        "reference_count": report.reference_count,
        "audio_s": report.audio_s,
        "best_metric": report.config.best_metric,
        "summary": {k: _number(v) for k, v in report.summary.items()},
        "files": files,
        "skipped": [{"path": path, "reason": reason} for path, reason in report.skipped],
        "seconds_per_metric": report.seconds_per_metric,
    }


def _format(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _direction(name: str) -> str:
    if name == "loudness_difference_lu":
        return "closer to 0 is better"
    return "higher is better" if HIGHER_IS_BETTER[name] else "lower is better"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.note { color: #666; font-size: 0.9em; }
"""


def render_html(report: EvalReport, max_files_plotted: int = 10) -> str:
    """The report page; per-file f0 and spectrogram plots for the first ``max_files_plotted`` files."""
    summary = report.summary
    names = list(summary)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Timbrel evaluation</title>",
        f"<style>{_STYLE}</style></head><body><h1>Timbrel evaluation</h1>",
        f"<p>{len(report.files)} files, {report.audio_s:.1f} s of converted audio; "
        f"pitch: {html.escape(report.pitch_method or 'not measured')}; "
        f"speaker encoder: {html.escape(report.speaker_encoder or 'not measured')} "
        f"({report.reference_count} reference clips); key shift "
        f"{report.config.key_shift_semitones:+g} semitones. "
        f"Checkpoint selection metric: <b>{html.escape(report.config.best_metric)}</b>.</p>",
        "<h2>Summary (mean over files)</h2><table><tr><th>metric</th><th>mean</th><th></th></tr>",
    ]
    for name in names:
        parts.append(
            f"<tr><td>{METRIC_LABELS[name]}</td><td>{_format(summary[name])}</td>"
            f"<td class='note'>{_direction(name)}</td></tr>"
        )
    parts.append("</table>")
    per_file = [result.metrics for result in report.files]
    histograms = histogram_plot(per_file)
    if histograms is not None:
        parts += ["<h2>Distributions</h2>", _image(histograms, "metric histograms")]
    parts.append("<h2>Files</h2><table><tr><th>file</th><th>s</th>")
    parts += [f"<th>{METRIC_LABELS[name]}</th>" for name in names]
    parts.append("</tr>")
    for result in report.files:
        cells = "".join(f"<td>{_format(result.metrics.get(name))}</td>" for name in names)
        parts.append(f"<tr><td>{html.escape(result.name)}</td><td>{result.duration_s:.1f}</td>{cells}</tr>")
    parts.append("</table>")
    if report.skipped:
        parts.append("<h2>Skipped</h2><ul>")
        parts += [f"<li>{html.escape(path)}: {html.escape(reason)}</li>" for path, reason in report.skipped]
        parts.append("</ul>")
    for result in report.files[:max_files_plotted]:
        parts.append(f"<h3>{html.escape(result.name)}</h3>")
        if result.f0_curves is not None:
            parts.append(_image(f0_plot(result.f0_curves, f"f0: {result.name}"), f"f0 of {result.name}"))
        try:
            source, converted = io.load(result.source_path), io.load(result.converted_path)
        except BadInputError as error:
            parts.append(f"<p class='note'>no spectrogram: {html.escape(str(error))}</p>")
            continue
        spectra = [
            resample(audio.mono, audio.sample_rate, mcd.SAMPLE_RATE)
            if audio.sample_rate != mcd.SAMPLE_RATE
            else audio.mono
            for audio in (source, converted)
        ]
        png = spectrogram_plot(spectra[0], spectra[1], f"log-mel spectrogram: {result.name}")
        parts.append(_image(png, f"spectrograms of {result.name}"))
    if len(report.files) > max_files_plotted:
        parts.append(f"<p class='note'>Plots shown for the first {max_files_plotted} files.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: EvalReport, folder: str | Path, max_files_plotted: int = 10) -> tuple[Path, Path]:
    """Write ``folder/report.json`` and ``folder/report.html`` atomically -> (json path, html path)."""
    folder = Path(folder)
    json_path, html_path = folder / "report.json", folder / "report.html"
    write_text_atomic(json_path, json.dumps(report_to_dict(report), indent=2, allow_nan=False) + "\n")
    write_text_atomic(html_path, render_html(report, max_files_plotted))
    return json_path, html_path
