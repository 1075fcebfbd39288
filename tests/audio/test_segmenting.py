from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.audio.segmenting import segment


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    num_samples=st.integers(1, 40 * 48000),
    sample_rate=st.sampled_from([32000, 40000, 48000]),
    piece_s=st.sampled_from([3.7, 3.0]),
    first_index=st.integers(0, 50),
)
def test_pieces_follow_the_reference_rule(num_samples, sample_rate, piece_s, first_index):
    overlap_s = 0.3
    pieces = segment(num_samples, sample_rate, piece_s, overlap_s, first_index)
    *full, last = pieces
    for i, piece in enumerate(full):
        assert piece.start == int(sample_rate * (piece_s - overlap_s) * i)
        assert piece.num_samples == int(piece_s * sample_rate)
        assert piece.index == first_index + i
        assert num_samples - piece.start > (piece_s + overlap_s) * sample_rate
    # the last piece takes the rest, at most piece + overlap long, one number after a skipped one
    assert last.start == int(sample_rate * (piece_s - overlap_s) * len(full))
    assert last.end == num_samples
    assert 1 <= last.num_samples <= (piece_s + overlap_s) * sample_rate
    assert last.index == first_index + len(full) + 1
    # consecutive pieces overlap, so together they cover the stretch
    for before, after in itertools.pairwise(pieces):
        assert after.start < before.end


def test_fixture_shaped_example():
    # 274560 samples at 32 kHz, 3.7 s pieces: two full pieces, the third named 3
    pieces = segment(274560, 32000, 3.7, 0.3)
    assert [(p.index, p.start, p.num_samples) for p in pieces] == [
        (0, 0, 118400),
        (1, 108800, 118400),
        (3, 217600, 56960),
    ]
    assert [p.index for p in segment(19200, 32000, 3.7, 0.3, first_index=3)] == [4]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least one sample"):
        segment(0, 32000, 3.7, 0.3)
    with pytest.raises(ValueError, match="piece_s > overlap_s"):
        segment(100, 32000, 0.3, 0.3)
