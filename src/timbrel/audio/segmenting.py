"""RVC's training pieces: fixed-length overlapping pieces of one sliced stretch, and their numbers.

Each stretch is cut into pieces of ``piece_s`` seconds starting every ``piece_s - overlap_s``
seconds, until what remains is at most ``piece_s + overlap_s`` seconds, which becomes the last
(shorter or longer) piece. Numbering follows the reference's counter: a full piece takes the
counter's value and then advances it; the last piece advances it first and takes the new value.
So a stretch with full pieces skips one number before its last piece (0, 1, 3), and a counter
at 0 names a single-piece stretch 1. The float expressions keep the reference's order of
operations so that every boundary is the same sample.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """Samples [start, end) of a stretch, written under number ``index``."""

    index: int
    start: int
    end: int

    @property
    def num_samples(self) -> int:
        return self.end - self.start


def segment(
    num_samples: int, sample_rate: int, piece_s: float, overlap_s: float, first_index: int = 0
) -> list[Piece]:
    """The pieces of a stretch of ``num_samples`` samples (>= 1), in order.

    ``first_index`` is the counter's value; afterwards it stands at ``pieces[-1].index`` (not
    advanced past the last piece), which is where the next stretch of the same recording starts.
    """
    if num_samples < 1:
        raise ValueError(f"a stretch to segment needs at least one sample, got {num_samples}")
    if not piece_s > overlap_s >= 0:
        raise ValueError(f"need piece_s > overlap_s >= 0, got piece_s={piece_s}, overlap_s={overlap_s}")
    longest_last_s = piece_s + overlap_s
    piece_length = int(piece_s * sample_rate)
    pieces = []
    index = first_index
    i = 0
    while True:
        start = int(sample_rate * (piece_s - overlap_s) * i)
        if num_samples - start > longest_last_s * sample_rate:
            pieces.append(Piece(index, start, start + piece_length))
            index += 1
            i += 1
            continue
        index += 1
        pieces.append(Piece(index, start, num_samples))
        return pieces
