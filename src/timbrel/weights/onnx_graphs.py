"""ONNX graphs of Timbrel's networks (extra [onnx]), and running the RVC one through onnxruntime.

* RVC synthesizer: the inputs and output of RVC's own ONNX export, ``phone`` (1, t, 256|768),
  ``phone_lengths`` (1,), ``pitch`` (1, t) coarse int64, ``pitchf`` (1, t) Hz, ``ds`` (1,)
  speaker, ``rnd`` (1, inter, t) prior noise already scaled by 0.66666 -> ``audio`` (1, 1,
  t·upp); t is dynamic. No-f0 models have no pitch inputs. The NSF source is deterministic
  (no noise draws), as Timbrel's torch path is without a generator.
* RIFT DiT velocity network: ``x_t`` (b, n, n_mels), ``speaker`` (b,), ``f0_hz``, ``rms`` (b, n),
  ``content`` (b, n, content_dim), ``time`` (b,), ``drop_speaker`` (b,) bool -> ``velocity``.
* NSF-HiFiGAN vocoder: ``mel`` (b, n_mels, n) natural-log mel, ``f0_hz`` (b, n) -> ``audio``
  (b, 1, n·hop), with a deterministic source (phase 0, no noise).
Each file carries ``timbrel.*`` metadata (family, graph, sample rate, the RVC config list...).
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from timbrel.core.errors import BadInputError
from timbrel.core.files import atomic_path, refuse_overwrite
from timbrel.models.rift.dit import DiT
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.synthesizer import PRIOR_TEMPERATURE, SynthesisTrace, Synthesizer
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, SourceDraws
from timbrel.weights.rvc import config_from_exported_list, exported_list

OPSET = 18
# The relative attention's window is fixed when the graph is traced, so the trace must be longer
# than the window; any length from there on works.
_TRACE_FRAMES = 64
RVC_INPUTS = ("phone", "phone_lengths", "pitch", "pitchf", "ds", "rnd")
RVC_INPUTS_NO_F0 = ("phone", "phone_lengths", "ds", "rnd")
DIT_INPUTS = ("x_t", "speaker", "f0_hz", "rms", "content", "time", "drop_speaker")
VOCODER_INPUTS = ("mel", "f0_hz")


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError("the ONNX engine needs the [onnx] extra: pip install 'timbrel[onnx]'") from error
    return onnxruntime


class _RVCGraph(nn.Module):
    def __init__(self, synthesizer: Synthesizer):
        super().__init__()
        self.synthesizer = synthesizer

    def forward(self, phone, phone_lengths, *rest):
        pitch, pitchf, ds, rnd = rest if self.synthesizer.config.use_f0 else (None, None, *rest)
        return self.synthesizer.infer(
            phone, phone_lengths, pitch, pitchf, ds, noise_prior=rnd / PRIOR_TEMPERATURE
        ).audio


class _DiTGraph(nn.Module):
    def __init__(self, dit: DiT):
        super().__init__()
        self.dit = dit

    def forward(self, x_t, speaker, f0_hz, rms, content, time, drop_speaker):
        return self.dit(x_t, speaker, f0_hz, rms, content, time, drop_speaker=drop_speaker)


class _VocoderGraph(nn.Module):
    def __init__(self, vocoder: NsfHifiGan):
        super().__init__()
        self.vocoder = vocoder

    def forward(self, mel, f0_hz):
        config = self.vocoder.config
        b, n = f0_hz.shape
        draws = SourceDraws(
            torch.zeros(1, 1, config.harmonics), f0_hz.new_zeros(b, n * config.hop_length, config.harmonics)
        )
        return self.vocoder(mel, f0_hz, draws)


def rvc_example_inputs(
    config: SynthesizerConfig, frames: int, generator: torch.Generator
) -> dict[str, Tensor]:
    """Random inputs of the RVC graph's form (f0 between 50 and 1100 Hz, coarse pitch 1..255)."""
    inputs = {
        "phone": torch.rand(1, frames, config.content_dim, generator=generator),
        "phone_lengths": torch.tensor([frames]),
        "pitch": torch.randint(1, 256, (1, frames), generator=generator),
        "pitchf": 50 + 1050 * torch.rand(1, frames, generator=generator),
        "ds": torch.tensor([config.n_speakers - 1]),
        "rnd": PRIOR_TEMPERATURE * torch.randn(1, config.inter_channels, frames, generator=generator),
    }
    names = RVC_INPUTS if config.use_f0 else RVC_INPUTS_NO_F0
    return {name: inputs[name] for name in names}


def rvc_reference(synthesizer: Synthesizer, inputs: Mapping[str, Tensor]) -> Tensor:
    """What the graph computes, in torch (float32 or, for a float64 copy, float64)."""
    with torch.no_grad():
        return _RVCGraph(synthesizer)(*inputs.values())


def dit_reference(dit: DiT, inputs: Mapping[str, Tensor]) -> Tensor:
    with torch.no_grad():
        return _DiTGraph(dit)(*inputs.values())


def vocoder_reference(vocoder: NsfHifiGan, inputs: Mapping[str, Tensor]) -> Tensor:
    with torch.no_grad():
        return _VocoderGraph(vocoder)(*inputs.values())


def export_rvc_synthesizer(synthesizer: Synthesizer, output: str | Path, source: str | Path) -> Path:
    """The RVC synthesizer (weight norm folded, eval mode) -> ``output`` (.onnx), atomically."""
    config = synthesizer.config
    inputs = rvc_example_inputs(config, _TRACE_FRAMES, torch.Generator().manual_seed(0))
    dynamic = {"phone": [1], "pitch": [1], "pitchf": [1], "rnd": [2]}
    metadata = {
        "family": "rvc",
        "graph": "synthesizer",
        "sample_rate": config.sample_rate,
        "version": config.version,
        "f0": int(config.use_f0),
        "config": exported_list(config),
    }
    return _export(
        _RVCGraph(synthesizer), inputs, ["audio"], {k: v for k, v in dynamic.items() if k in inputs},
        output, source, metadata,
    )  # fmt: skip


def dit_example_inputs(dit: DiT, frames: int, generator: torch.Generator) -> dict[str, Tensor]:
    c = dit.config
    return {
        "x_t": torch.randn(2, frames, c.n_mels, generator=generator),
        "speaker": torch.tensor([0, c.num_speakers - 1]),
        "f0_hz": 50 + 1050 * torch.rand(2, frames, generator=generator),
        "rms": torch.rand(2, frames, generator=generator),
        "content": torch.randn(2, frames, c.content_dim, generator=generator),
        "time": torch.rand(2, generator=generator),
        "drop_speaker": torch.tensor([False, True]),
    }


def export_rift_dit(dit: DiT, output: str | Path, source: str | Path, speakers: Mapping[str, int]) -> Path:
    """The RIFT velocity network (eval mode) -> ``output`` (.onnx); batch and frames dynamic."""
    inputs = dit_example_inputs(dit, _TRACE_FRAMES, torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=2)  # traced with the batched-modulation path, which any batch takes
    frames = torch.export.Dim("frames", min=2)
    shapes = {
        "x_t": {0: batch, 1: frames}, "speaker": {0: batch}, "f0_hz": {0: batch, 1: frames},
        "rms": {0: batch, 1: frames}, "content": {0: batch, 1: frames}, "time": {0: batch},
        "drop_speaker": {0: batch},
    }  # fmt: skip
    metadata = {"family": "rift", "graph": "dit", "speakers": dict(speakers)}
    return _export(_DiTGraph(dit), inputs, ["velocity"], shapes, output, source, metadata)


def vocoder_example_inputs(vocoder: NsfHifiGan, frames: int, generator: torch.Generator) -> dict[str, Tensor]:
    return {
        "mel": torch.randn(1, vocoder.config.n_mels, frames, generator=generator) - 5,
        "f0_hz": 50 + 1050 * torch.rand(1, frames, generator=generator),
    }


def export_nsf_hifigan(vocoder: NsfHifiGan, output: str | Path, source: str | Path) -> Path:
    """The NSF-HiFiGAN vocoder (weight norm folded, eval mode) -> ``output`` (.onnx)."""
    inputs = vocoder_example_inputs(vocoder, _TRACE_FRAMES, torch.Generator().manual_seed(0))
    dynamic = {"mel": [0, 2], "f0_hz": [0, 1], "audio": [0, 2]}
    metadata = {
        "family": "rift",
        "graph": "vocoder",
        "sample_rate": vocoder.config.sample_rate,
        "hop_length": vocoder.config.hop_length,
    }
    return _export(_VocoderGraph(vocoder), inputs, ["audio"], dynamic, output, source, metadata)


def _export(
    module: nn.Module,
    inputs: Mapping[str, Tensor],
    output_names: list[str],
    dynamic: Mapping[str, Any],
    output: str | Path,
    source: str | Path,
    metadata: Mapping[str, Any],
) -> Path:
    """``dynamic``: axis lists (the TorchScript exporter, for graphs whose Python branches on
    shapes are fixed by the trace) or torch.export Dims per input (the torch.export exporter)."""
    import onnx

    output = Path(output)
    refuse_overwrite(output, [Path(source)])
    module.eval()
    by_dims = any(isinstance(v, dict) for v in dynamic.values())
    options = {"dynamic_shapes": dict(dynamic)} if by_dims else {"dynamic_axes": dict(dynamic)}
    with atomic_path(output) as tmp, warnings.catch_warnings():
        # The TorchScript exporter warns about every shape it reads as a constant; the graphs are
        # checked against torch at other lengths than the traced one instead.
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):  # the torch.export exporter narrates
            torch.onnx.export(
                module,
                tuple(inputs.values()),
                str(tmp),
                input_names=list(inputs),
                output_names=output_names,
                opset_version=OPSET,
                dynamo=by_dims,
                **options,
            )
        model = onnx.load(str(tmp))
        for key, value in {**metadata, "source": Path(source).name}.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = f"timbrel.{key}", json.dumps(value)
        onnx.save(model, str(tmp))
    return output


def read_metadata(session: Any) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    return {k.removeprefix("timbrel."): json.loads(v) for k, v in props.items() if k.startswith("timbrel.")}


def open_session(path: str | Path, providers: list[str] | None = None) -> Any:
    """An onnxruntime session on ``path``: CUDA first where onnxruntime has it, else the CPU."""
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    chosen = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        return ort.InferenceSession(str(path), providers=chosen)
    except Exception as error:  # onnxruntime raises its own exception types for unreadable graphs
        raise BadInputError(path, f"not a loadable ONNX graph: {str(error).splitlines()[0]}") from None


@dataclass(frozen=True)
class _Trace:
    audio: Tensor


class OnnxSynthesizer:
    """The RVC synthesizer graph behind Synthesizer's offline ``infer``, so that RVCVoice converts
    through onnxruntime. The realtime form (skip_head, return_length2) is not in the graph."""

    def __init__(self, session: Any, config: SynthesizerConfig):
        self.session = session
        self.config = config

    @classmethod
    def open(cls, path: str | Path) -> OnnxSynthesizer:
        session = open_session(path)
        metadata = read_metadata(session)
        if metadata.get("family") != "rvc" or metadata.get("graph") != "synthesizer":
            raise BadInputError(path, "not a Timbrel RVC synthesizer graph (timbrel.graph metadata)")
        config = config_from_exported_list(
            metadata["config"], version=metadata["version"], use_f0=bool(metadata["f0"])
        )
        return cls(session, config)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def infer(
        self,
        content: Tensor,
        content_lengths: Tensor,
        pitch: Tensor | None,
        f0_hz: Tensor | None,
        speaker: Tensor,
        *,
        return_length2: int | None = None,
        **unsupported: Any,
    ) -> SynthesisTrace | _Trace:
        """As Synthesizer.infer without noise (content (1, t, dim) ... -> audio (1, 1, t·upp))."""
        if return_length2 is not None or any(v is not None for v in unsupported.values()):
            raise ValueError("the ONNX engine runs the offline synthesizer only: no formant shift")
        frames = content.shape[1]
        feeds = {
            "phone": content.float().cpu().numpy(),
            "phone_lengths": content_lengths.long().cpu().numpy(),
            "pitch": None if pitch is None else pitch.long().cpu().numpy(),
            "pitchf": None if f0_hz is None else f0_hz.float().cpu().numpy(),
            "ds": speaker.long().cpu().numpy(),
            "rnd": np.zeros((content.shape[0], self.config.inter_channels, frames), dtype=np.float32),
        }
        names = RVC_INPUTS if self.config.use_f0 else RVC_INPUTS_NO_F0
        (audio,) = self.session.run(None, {name: feeds[name] for name in names})
        return _Trace(torch.from_numpy(audio).to(content.device))
