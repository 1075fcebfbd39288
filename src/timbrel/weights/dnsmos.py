"""DNSMOS P.835 ONNX models as speechmos ships them (``speechmos/dnsmos_models/sig_bak_ovr.onnx``,
``speechmos/pdnsmos_models/sig_bak_ovr.onnx`` for the personalised variant).

Each maps a batch of 9.01 s waveforms at 16 kHz, ``input_1: (N, 144160) float32``, to raw
(SIG, BAK, OVRL) scores ``(N, 3)``, before the polynomial calibration eval.dnsmos applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from timbrel.core.errors import BadInputError
from timbrel.weights.packaged import find_packaged_weight

_FILES = {False: "dnsmos_models/sig_bak_ovr.onnx", True: "pdnsmos_models/sig_bak_ovr.onnx"}
INPUT_SAMPLES = 144160


def find_dnsmos_model(path: str | Path | None = None, personalized: bool = False) -> Path:
    """``path``, else $TIMBREL_HOME/dnsmos/<file>, else the file inside the installed speechmos."""
    relative = _FILES[personalized]
    return find_packaged_weight("DNSMOS", path, f"dnsmos/{relative}", "speechmos", relative)


def load_dnsmos(path: str | Path | None = None, personalized: bool = False, threads: int = 1) -> Any:
    """The model as an onnxruntime InferenceSession on CPU, its signature checked."""
    import onnxruntime  # the [eval] extra

    path = find_dnsmos_model(path, personalized)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise BadInputError(path, f"not a loadable ONNX model ({error})") from error
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].shape[-1] != INPUT_SAMPLES or outputs[0].shape[-1] != 3:
        shapes = [i.shape for i in inputs], [o.shape for o in outputs]
        raise BadInputError(path, f"not a DNSMOS SIG/BAK/OVRL model: inputs/outputs {shapes}")
    return session
