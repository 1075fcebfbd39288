from __future__ import annotations

import numpy as np
import torch

from tests import parity
from timbrel.features.pitch.rmvpe_decode import (
    THRESHOLD,
    WINDOW_HALF_WIDTH,
    bin_cents,
    decode_rift,
    decode_rvc,
)


def test_bin_cents_table(fixtures):
    data = torch.load(fixtures / "rift/rmvpe_decode.pt", weights_only=True)
    np.testing.assert_array_equal(bin_cents(), data["cents_mapping"].numpy())


def test_rvc_decode_matches_exactly(fixtures):
    data = torch.load(fixtures / "rvc/dsp/rmvpe_frontend.pt", weights_only=True)
    salience = data["salience"].numpy()
    f0_hz = decode_rvc(salience, THRESHOLD)
    assert f0_hz.dtype == np.float64
    # The 9 window weights are summed in float32 (the weighted cents in float64): another order
    # moves the average's cents by that sum's relative rounding, and f0 by ln 2 / 1200 per cent.
    cents = float(bin_cents(salience.shape[-1]).max())
    rel = parity.float32_tolerance(1.0, 2 * WINDOW_HALF_WIDTH + 1) * cents * np.log(2) / 1200
    parity.f0_close(f0_hz, data["decoded_f0_thred_0_03"], rel=rel, what="RVC RMVPE decode")


def test_rift_decode_band_edges_and_threshold(fixtures):
    data = torch.load(fixtures / "rift/rmvpe_decode.pt", weights_only=True)
    f0_hz = decode_rift(data["salience"][0], THRESHOLD)
    expected = data["f0_local_average"]
    # all float32: the 9-weight sums round, relative, and so the cents of their ratio
    cents = float(bin_cents(data["salience"].shape[-1]).max())
    rel = 2 * parity.float32_tolerance(1.0, 2 * WINDOW_HALF_WIDTH + 1) * cents * np.log(2) / 1200
    parity.f0_close(f0_hz, expected, rel=rel, what="RIFT RMVPE decode")


def test_rvc_and_rift_disagree_only_at_exactly_the_threshold():
    salience = np.zeros((2, 360), dtype=np.float32)
    salience[0, 100] = THRESHOLD
    salience[1, 100] = 0.5
    assert decode_rvc(salience)[0] == 0
    assert decode_rift(torch.from_numpy(salience))[0] > 0
    np.testing.assert_allclose(decode_rvc(salience)[1], decode_rift(torch.from_numpy(salience))[1], rtol=1e-6)
