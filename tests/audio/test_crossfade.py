import numpy as np
import pytest
import torch

from tests import parity
from timbrel.audio.crossfade import crossfade_assemble, fade_samples, fit_length


@pytest.fixture(scope="module")
def assembly(fixtures):
    return torch.load(fixtures / "rift" / "features" / "assembly.pt", weights_only=True)


def test_three_segments_match_reference(assembly):
    pieces = []
    index = 0
    while f"seg{index}_start" in assembly:
        samples = assembly[f"seg{index}_audio"].numpy()
        pieces.append(
            (assembly[f"seg{index}_start"], fit_length(samples, assembly[f"seg{index}_expected_len"]))
        )
        index += 1
    result = crossfade_assemble(pieces, assembly["total_len"], assembly["fade_samples"])
    # float64 fades: a product and a sum of the two overlapping pieces per sample
    parity.float64_close(result, assembly["result"], terms=2, what="assembled")


def test_fade_length_of_the_reference_default():
    assert fade_samples(20.0, 44100) == 882


def test_single_piece_is_copied_and_gaps_stay_silent():
    piece = np.ones(100)
    result = crossfade_assemble([(50, piece)], 200, 10)
    np.testing.assert_array_equal(result[50:150], piece)
    assert not result[:50].any() and not result[150:].any()


def test_fit_length_cuts_and_pads():
    x = np.arange(5.0)
    np.testing.assert_array_equal(fit_length(x, 3), x[:3])
    np.testing.assert_array_equal(fit_length(x, 7), np.r_[x, 0, 0])
