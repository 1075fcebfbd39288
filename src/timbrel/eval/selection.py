"""Which metric keeps the best checkpoint, and which way is better for each metric.

Default: ``mcd_db``, the mel cepstral distortion of held-out clips of the target singer
converted back to that singer (the held-out split's recordings are their own references,
``EvalConfig(source_is_reference=True)``). Lower is better. Why this one:

- It measures the timbre and articulation detail a voice model learns, on audio the model has
  not seen, against the true answer; it falls while the model generalises and rises again
  when it overfits, which is exactly what a checkpoint choice must catch.
- F0 RMSE and correlation barely move between checkpoints: both families are conditioned on
  the source's f0, so the melody is right from early on; they guard against regressions rather
  than rank checkpoints.
- Speaker similarity (Resemblyzer, trained on speech) saturates early and differs little
  between good checkpoints; DNSMOS (trained on noisy speech) rewards smooth, over-averaged
  output and would prefer an underfit model.

When no reference exists for the clips (conversion to another singer), ``speaker_similarity``
(higher is better) is the fallback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from timbrel.core.errors import ConfigError

DEFAULT_BEST_METRIC = "mcd_db"
FALLBACK_BEST_METRIC = "speaker_similarity"

# True: higher is better. loudness_difference_lu is judged by its magnitude.
HIGHER_IS_BETTER = {
    "f0_rmse_cents": False,
    "f0_correlation": True,
    "vuv_error_rate": False,
    "speaker_similarity": True,
    "dnsmos_sig": True,
    "dnsmos_bak": True,
    "dnsmos_ovrl": True,
    "mcd_db": False,
    "loudness_difference_lu": False,
}


def metric_score(metric: str, value: float) -> float:
    """A value where larger is always better (NaN stays NaN)."""
    if metric not in HIGHER_IS_BETTER:
        raise ConfigError(f"unknown metric {metric!r}; known: {sorted(HIGHER_IS_BETTER)}")
    if metric == "loudness_difference_lu":
        return -abs(value)
    return value if HIGHER_IS_BETTER[metric] else -value


def is_better(metric: str, candidate: float, best: float | None) -> bool:
    """Whether ``candidate`` beats ``best`` (None: nothing kept yet). A NaN never wins."""
    score = metric_score(metric, candidate)
    if math.isnan(score):
        return False
    return best is None or math.isnan(metric_score(metric, best)) or score > metric_score(metric, best)


@dataclass
class BestCheckpoint:
    """The best value of ``metric`` seen so far and the step that reached it (a training loop
    keeps one and offers it each evaluation's summary)."""

    metric: str = DEFAULT_BEST_METRIC
    value: float | None = None
    step: int | None = None

    def offer(self, step: int, summary: dict[str, float]) -> bool:
        """Record ``summary[metric]`` if it beats the best so far; True when it does."""
        if self.metric not in summary:
            raise ConfigError(
                f"the evaluation has no {self.metric!r} (computed: {sorted(summary)}); "
                f"pick another best metric, e.g. {FALLBACK_BEST_METRIC!r}"
            )
        candidate = summary[self.metric]
        if not is_better(self.metric, candidate, self.value):
            return False
        self.value, self.step = candidate, step
        return True
