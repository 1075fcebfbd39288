from __future__ import annotations

import math

import pytest

from timbrel.core.errors import ConfigError
from timbrel.eval.selection import (
    DEFAULT_BEST_METRIC,
    HIGHER_IS_BETTER,
    BestCheckpoint,
    is_better,
    metric_score,
)


def test_direction_of_each_kind_of_metric():
    assert is_better("mcd_db", 4.0, 5.0) and not is_better("mcd_db", 5.0, 4.0)
    assert is_better("speaker_similarity", 0.9, 0.8)
    assert is_better("loudness_difference_lu", -0.5, 1.0)
    assert not is_better("loudness_difference_lu", 2.0, -1.0)


def test_first_value_wins_and_nan_never_does():
    assert is_better(DEFAULT_BEST_METRIC, 7.0, None)
    assert not is_better("mcd_db", math.nan, None)
    assert is_better("mcd_db", 9.0, math.nan)


def test_unknown_metric_is_named():
    with pytest.raises(ConfigError, match="pesq"):
        metric_score("pesq", 1.0)
    assert DEFAULT_BEST_METRIC in HIGHER_IS_BETTER


def test_best_checkpoint_keeps_the_best_step():
    best = BestCheckpoint()
    assert best.offer(100, {"mcd_db": 6.0})
    assert not best.offer(200, {"mcd_db": 6.5})
    assert best.offer(300, {"mcd_db": 5.5, "speaker_similarity": 0.7})
    assert not best.offer(400, {"mcd_db": math.nan})
    assert (best.step, best.value) == (300, 5.5)
    with pytest.raises(ConfigError, match="speaker_similarity"):
        best.offer(500, {"f0_rmse_cents": 10.0})
