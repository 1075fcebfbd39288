"""How close "the reference's numbers" must be, one rule per kind of comparison.

Every tolerance comes from the arithmetic, never from one machine's bits: the CPU changes between
CI machines (AVX-512, AVX2 only, one thread or many), and with it the order in which a sum is
added up. Reordering a sum of n rounded terms moves it by about sqrt(n) roundings of the terms'
size (the errors are independent and add like a random walk; the worst case n·eps almost never
happens), so each rule scales the unit roundoff of the dtype by sqrt(the summation length) and by
the magnitude of the reference values. ``terms`` is the longest chain of summed products behind
one output value (fan-in times layers for a network), read from the fixture's shapes and config.

Discrete outputs (counts, file names, index ids, coarse pitch, voiced flags) stay exact, except
where the reference's own continuous value sits within rounding of the boundary that made it:
``discrete_close`` compares those by that rule.

Set TIMBREL_PARITY_LOG to a file to append every comparison's measured difference (JSON lines).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import torch

EPS32 = float(np.finfo(np.float32).eps)  # 1.19e-7
EPS64 = float(np.finfo(np.float64).eps)  # 2.22e-16
# A rounding error's spread is sqrt(n) eps; allow six of them so a tolerance fails only on a real
# difference (a wrong formula is off by far more), never on an unlucky summation order.
SPREAD = 6.0


def _array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bool:
            return x.numpy()
        return x.double().numpy()
    return np.asarray(x, dtype=np.float64) if np.asarray(x).dtype != bool else np.asarray(x)


def _log(kind: str, worst: float, tolerance: float, scale: float, ratio: float) -> None:
    path = os.environ.get("TIMBREL_PARITY_LOG")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        record = {"kind": kind, "test": test, "diff": worst, "tol": tolerance, "scale": scale, "ratio": ratio}
        with open(path, "a") as log:
            log.write(json.dumps(record) + "\n")


def within(got, expected, tolerance, *, kind: str, scale: float, what: str) -> None:
    """|got − expected| <= tolerance (a number, or one per element), derived by a rule here."""
    got, expected = _array(got), _array(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, reference {expected.shape}"
    tolerance = np.broadcast_to(_array(tolerance), got.shape)
    diff = np.abs(got - expected)
    diff = np.where(np.isnan(got) & np.isnan(expected), 0.0, diff)
    if not diff.size:
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / tolerance)
    worst = np.unravel_index(np.argmax(np.nan_to_num(ratio, nan=np.inf)), diff.shape)
    _log(kind, float(diff.max()), float(tolerance[worst]), scale, float(ratio[worst]))
    if not ratio[worst] <= 1:
        raise AssertionError(
            f"{what}: |difference| {diff[worst]:.3g} at {tuple(int(i) for i in worst)} exceeds the "
            f"{kind} tolerance {tolerance[worst]:.3g} there (reference magnitude {scale:.3g})"
        )


def magnitude(expected) -> float:
    """The reference's largest |value|: rounding is relative to the size of what is summed."""
    values = np.abs(_array(expected))
    return float(np.nanmax(values)) if values.size else 0.0


def network_terms(module: torch.nn.Module) -> int:
    """The length of the chain of float32 products behind one output of a network, estimated as
    the widest fan-in of its linear and convolution layers times how many there are."""
    fan_ins = []
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            fan_ins.append(layer.in_features)
        elif isinstance(layer, torch.nn.modules.conv._ConvNd):
            fan_ins.append(layer.in_channels // layer.groups * math.prod(layer.kernel_size))
        elif isinstance(layer, torch.nn.RNNBase):
            fan_ins.append((layer.input_size + layer.hidden_size) * layer.num_layers)
    assert fan_ins, f"{type(module).__name__} has no linear, convolution or recurrent layer"
    return max(fan_ins) * len(fan_ins)


def float32_tolerance(scale: float, terms: int) -> float:
    return SPREAD * EPS32 * math.sqrt(terms) * scale


def float64_tolerance(scale: float, terms: int) -> float:
    return SPREAD * EPS64 * math.sqrt(terms) * scale


def float32_close(got, expected, *, terms: int, scale: float | None = None, what: str = "float32") -> None:
    """Float32 computation (a network, a mel, an STFT): sums of ``terms`` products rounded in
    float32, in whatever order this CPU's SIMD width and thread count add them."""
    scale = magnitude(expected) if scale is None else scale
    within(got, expected, float32_tolerance(scale, terms), kind="float32", scale=scale, what=what)


def float64_close(got, expected, *, terms: int, scale: float | None = None, what: str = "float64") -> None:
    """Float64 DSP (FIR filters, resampling, loudness, interpolation): the same rule with float64's
    roundoff."""
    scale = magnitude(expected) if scale is None else scale
    within(got, expected, float64_tolerance(scale, terms), kind="float64", scale=scale, what=what)


def log_close(got, expected, *, terms: int, what: str = "log spectrum") -> None:
    """A log spectrum (log-mel): the float32 STFT and filterbank sums (``terms`` products) round
    relative to the spectrum's largest value, and the log turns an error Δ at a value x into Δ/x,
    so quiet bins get a wide tolerance and loud bins a tight one."""
    expected_a = _array(expected)
    linear = np.exp(expected_a)
    scale = float(linear.max())
    tolerance = float32_tolerance(scale, terms) / linear + float32_tolerance(1.0, 1) * np.abs(expected_a)
    within(got, expected_a, tolerance, kind="float32 log", scale=scale, what=what)


def pcm_close(got, expected, *, float_tolerance: float, what: str = "16-bit audio") -> None:
    """16-bit PCM written from float audio: the float's own tolerance (on the ±1 scale) in units
    of one step of 1/32768, plus the one step by which rounding to an integer may differ."""
    tolerance = math.ceil(float_tolerance * 32768) + 1
    within(
        np.asarray(got, np.int32),
        np.asarray(expected, np.int32),
        tolerance,
        kind="pcm",
        scale=32768,
        what=what,
    )


def iir_noise_gain(a, n: int = 1 << 16) -> float:
    """sum |h| of the all-pole part 1/A(z): how much a recursive filter amplifies one rounding."""
    impulse = np.zeros(n)
    impulse[0] = 1.0
    from scipy.signal import lfilter

    return float(np.abs(lfilter([1.0], a, impulse)).sum())


def iir_close(got, expected, *, a, passes: int, signal_scale: float, what: str = "IIR filter") -> None:
    """Float64 recursive filter (filtfilt): every step's rounding of its len(a) products is fed back
    through 1/A(z), which amplifies it by the noise gain sum|h|; ``passes`` filters run in series."""
    gain = iir_noise_gain(a)
    scale = max(signal_scale, magnitude(expected))
    tolerance = passes * gain * float64_tolerance(scale, len(a))
    within(got, expected, tolerance, kind="float64 IIR", scale=scale, what=what)


def relative_close(got, expected, *, rel: float, what: str = "relative") -> None:
    """Values whose rounding is relative to their own size (f0 in Hz, distances, losses): |Δ| <=
    rel·|reference| elementwise, with ``rel`` from the precision of the computation behind them."""
    got_a, expected_a = _array(got), _array(expected)
    assert got_a.shape == expected_a.shape, f"{what}: shape {got_a.shape}, reference {expected_a.shape}"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(got_a - expected_a) / np.abs(expected_a)
    ratio = np.where((got_a == expected_a), 0.0, ratio)
    worst = float(ratio.max()) if ratio.size else 0.0
    _log("relative", worst, rel, magnitude(expected_a), worst / rel)
    if not worst <= rel:
        at = np.unravel_index(np.nanargmax(ratio), ratio.shape)
        raise AssertionError(
            f"{what}: relative difference {worst:.3g} at {tuple(int(i) for i in at)} "
            f"({got_a[at]!r} vs reference {expected_a[at]!r}) exceeds {rel:.3g}"
        )


def f0_close(got_hz, expected_hz, *, rel: float, what: str = "f0") -> None:
    """Pitch in Hz: voiced flags equal, voiced values within ``rel`` of the reference (a period
    found by a search is as exact as the samples it was measured on, relative to itself)."""
    got, expected = _array(got_hz), _array(expected_hz)
    np.testing.assert_array_equal(got > 0, expected > 0, err_msg=f"{what}: voiced frames differ")
    relative_close(got, expected, rel=rel, what=what)


def discrete_close(got, expected, *, code, reference_value, rounding, what: str) -> None:
    """A discrete output made from a continuous value (a coarse bin, a voiced flag): equal to the
    reference's wherever ``code`` gives the same answer for the reference's own value moved by its
    ``rounding`` either way; only there can another CPU round across the boundary."""
    got, expected = np.asarray(got), np.asarray(expected)
    value = _array(reference_value)
    stable = np.asarray(code(value - rounding)) == np.asarray(code(value + rounding))
    differ = (got != expected) & stable
    _log("discrete", float(differ.sum()), 0.0, float((~stable).sum()), float(differ.sum()))
    assert not differ.any(), (
        f"{what}: {int(differ.sum())} values differ where the reference is not near a boundary, "
        f"first at {tuple(int(i) for i in np.argwhere(differ)[0])}"
    )
