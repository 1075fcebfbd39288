"""Realtime RVC conversion (spec rvc.md section 8): a stream of audio in blocks, converted with
the reference's buffering and joined with SOLA.

Per block of ``block`` samples at the stream rate the engine shifts a window of
``extra + crossfade + search + block`` samples (and its 16 kHz copy) by one block, takes content
features of the whole 16 kHz window, f0 of its end into a 1024-frame pitch cache, and asks the
synthesizer's realtime form for the ``block + sola_buffer + search`` frames that start after the
``extra`` context. The result is resampled to the stream rate, optionally given the input's
loudness envelope, aligned to the previous block's tail by SOLA (the offset within one 10 ms frame
where the normalised cross-correlation peaks) and cross-faded into it with sin² windows.

The converter is a pure function of its state and its input: no threads, clocks or devices, and no
random draws (the synthesizer runs without noise), so a file streamed here gives the samples a
device stream would play. ``push`` takes any number of samples and returns as many: it holds a
block of output back, which is the block a device needs to record before it can convert it, so
output sample n is the input from ``latency_samples`` (minus the SOLA offset, at most one 10 ms
frame) before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from timbrel.audio.sinc_resample import sinc_resample
from timbrel.core.errors import ConfigError
from timbrel.features.content.rvc import repeat_to_synth_rate, rvc_content
from timbrel.features.pitch import registry
from timbrel.features.pitch.base import PitchExtractor
from timbrel.features.pitch.coarse import coarse_pitch
from timbrel.features.pitch.errors import AllUnvoicedError
from timbrel.features.pitch.interpolate import fill_unvoiced
from timbrel.features.pitch.key_shift import shift_key
from timbrel.features.pitch.pm import PmConfig
from timbrel.models.rvc.pipeline import RVCVoice
from timbrel.models.rvc.retrieval import retrieve_and_blend
from timbrel.models.rvc.rms_mix import mix_rms_realtime, rms_envelope

CONTENT_RATE = 16000
HOP_16K = 160  # samples per f0 / synthesizer frame at 16 kHz
FRAMES_PER_S = 100
PITCH_CACHE_FRAMES = 1024
F0_CONTEXT_16K = 800  # samples of f0 context before the new block (the reference's)
RMVPE_MULTIPLE_16K = 5120  # RMVPE's U-Net takes 32-frame multiples; its window is rounded up to them
GATE_OFF_DB = -60.0
GATE_FLOOR_AMPLITUDE = 1e-5  # librosa.amplitude_to_db's amin
MIN_OUTPUT_RMS = 1e-3
SOLA_EPS = 1e-8
F0_METHODS = ("pm", "rmvpe", "fcpe")
MAX_SOLA_BUFFER_FRAMES = 4  # the cross-fade is at most 40 ms; a longer crossfade_s only adds context
STREAM_RATE_RANGE = (8000, 192000)

# name -> (lowest, highest, unit): the reference GUI's slider ranges
RANGES = {
    "block_s": (0.02, 1.5, " s"),
    "crossfade_s": (0.01, 0.15, " s"),
    "extra_s": (0.05, 5.0, " s"),
    "threshold_db": (-60.0, 0.0, " dB"),
    "key_shift_semitones": (-16.0, 16.0, " semitones"),
    "formant_shift_semitones": (-2.0, 2.0, " semitones"),
    "index_rate": (0.0, 1.0, ""),
    "rms_mix_rate": (0.0, 1.0, ""),
}


@dataclass(frozen=True)
class StreamSettings:
    """What a user sets for realtime conversion; defaults are the reference GUI's.

    block_s: audio converted per step (latency and compute per step grow with it); crossfade_s:
    overlap joined between steps (the cross-fade itself is at most 40 ms); extra_s: past context
    the models see (compute, not latency); threshold_db: 10 ms frames quieter than this are
    silenced (-60 = off); formant_shift_semitones moves the spectral envelope and keeps f0;
    rms_mix_rate 0 gives the output the input's loudness envelope, 1 keeps the model's.
    sample_rate: the stream's rate (None: the model's); it must be a whole number of samples per
    10 ms.
    """

    block_s: float = 0.25
    crossfade_s: float = 0.05
    extra_s: float = 2.5
    threshold_db: float = field(
        default=GATE_OFF_DB, metadata={"help": "Silence 10 ms frames below this, -60..0 dB (-60 = off)."}
    )
    key_shift_semitones: float = field(default=0.0, metadata={"help": "Key shift in semitones, -16..16."})
    formant_shift_semitones: float = field(
        default=0.0, metadata={"help": "Move the formants by this many semitones, -2..2, keeping the pitch."}
    )
    index_rate: float = field(
        default=0.0, metadata={"help": "How much of the retrieved features to use, 0-1 (default 0)."}
    )
    rms_mix_rate: float = field(
        default=0.0, metadata={"help": "0 follows the input's loudness (default), 1 keeps the model's."}
    )
    f0_method: str = field(default="rmvpe", metadata={"help": "pm, rmvpe (default) or fcpe."})
    speaker: int = field(default=0, metadata={"help": "Speaker id (default 0)."})
    sample_rate: int | None = field(
        default=None, metadata={"help": "Stream rate in Hz, a multiple of 100 (default: the model's)."}
    )

    def __post_init__(self) -> None:
        for name, (lowest, highest, unit) in RANGES.items():
            value = getattr(self, name)
            if not lowest <= value <= highest:
                raise ConfigError(f"{name} must be within [{lowest}, {highest}]{unit}, got {value}")
        if self.crossfade_s > self.block_s:
            raise ConfigError(
                f"crossfade_s ({self.crossfade_s} s) must not be longer than block_s ({self.block_s} s)"
            )
        if self.f0_method not in F0_METHODS:
            raise ConfigError(f"f0_method must be one of {list(F0_METHODS)}, got {self.f0_method!r}")
        if self.sample_rate is not None:
            check_stream_rate(self.sample_rate)


def check_stream_rate(sample_rate: int) -> None:
    """Raise unless the engine can run a stream at ``sample_rate`` (Hz)."""
    lowest, highest = STREAM_RATE_RANGE
    if not lowest <= sample_rate <= highest or sample_rate % FRAMES_PER_S:
        raise ConfigError(
            f"sample rate {sample_rate} Hz cannot be streamed: it must be a multiple of 100 Hz "
            f"(whole samples per 10 ms frame) within [{lowest}, {highest}] Hz, e.g. 16000, 32000, "
            "40000, 44100 or 48000"
        )


@dataclass(frozen=True)
class StreamGeometry:
    """The sample counts of one stream (the reference's derived values, spec section 8).

    frame: samples per 10 ms; block, crossfade, extra: rounded to whole frames; sola_buffer: the
    cross-faded samples (<= 4 frames); sola_search: the SOLA offsets tried (one frame); window:
    the input samples the models see per block; skip_head, return_length: the synthesizer's
    realtime arguments in 10 ms frames.
    """

    sample_rate: int
    frame: int
    block: int
    crossfade: int
    sola_buffer: int
    sola_search: int
    extra: int

    @classmethod
    def of(cls, settings: StreamSettings, sample_rate: int) -> StreamGeometry:
        check_stream_rate(sample_rate)
        frame = sample_rate // FRAMES_PER_S

        def whole_frames(seconds: float) -> int:
            return round(seconds * sample_rate / frame) * frame

        crossfade = whole_frames(settings.crossfade_s)
        return cls(
            sample_rate=sample_rate,
            frame=frame,
            block=whole_frames(settings.block_s),
            crossfade=crossfade,
            sola_buffer=min(crossfade, MAX_SOLA_BUFFER_FRAMES * frame),
            sola_search=frame,
            extra=whole_frames(settings.extra_s),
        )

    @property
    def window(self) -> int:
        return self.extra + self.crossfade + self.sola_search + self.block

    @property
    def block_16k(self) -> int:
        return HOP_16K * self.block // self.frame

    @property
    def window_16k(self) -> int:
        return HOP_16K * self.window // self.frame

    @property
    def skip_head(self) -> int:
        return self.extra // self.frame

    @property
    def return_length(self) -> int:
        return (self.block + self.sola_buffer + self.sola_search) // self.frame

    @property
    def latency_samples(self) -> int:
        """The algorithmic latency: a block recorded before it is converted, and the
        crossfade + search samples the output lags the newest input (less the SOLA offset, which
        is at most one frame)."""
        return self.block + self.crossfade + self.sola_search

    @property
    def latency_s(self) -> float:
        return self.latency_samples / self.sample_rate

    @property
    def block_s(self) -> float:
        return self.block / self.sample_rate

    def stats(self) -> StreamStats:
        return StreamStats(block_s=self.block_s, algorithmic_latency_s=self.latency_s)


@dataclass
class StreamStats:
    """Block timings of a stream, measured by whoever drives the converter. compute_s: seconds
    each block's conversion took; a block is late when that exceeds block_s."""

    block_s: float
    algorithmic_latency_s: float
    compute_s: list[float] = field(default_factory=list)

    @property
    def blocks(self) -> int:
        return len(self.compute_s)

    @property
    def late_blocks(self) -> int:
        return sum(seconds > self.block_s for seconds in self.compute_s)

    def compute_ratio(self, percentile: float) -> float:
        """That percentile of compute time / block time (below 1 keeps up); 0 before any block."""
        return float(np.percentile(self.compute_s, percentile)) / self.block_s if self.compute_s else 0.0


def realtime_pitch_extractor(voice: RVCVoice, method: str) -> PitchExtractor:
    """pm runs with the realtime settings (65 Hz floor, zero margins); the network methods are the
    voice's own extractors."""
    if method == "pm":
        return registry.create("pm", config=PmConfig.rvc_realtime())
    return voice.pitch_extractor(method)


def realtime_f0(f0_hz: np.ndarray, key_shift_semitones: float) -> tuple[np.ndarray, np.ndarray]:
    """f0_hz: (frames,) raw extractor output -> (coarse int64, f0_hz float32), unvoiced frames
    filled (left at 0 when none is voiced, as the reference's failed interpolation leaves them),
    shifted, and coded from float32 as the reference's torch post-processing does."""
    try:
        f0_hz = fill_unvoiced(f0_hz)
    except AllUnvoicedError:
        f0_hz = np.asarray(f0_hz).copy()
    shifted = shift_key(f0_hz, key_shift_semitones).astype(np.float32)
    return coarse_pitch(shifted), shifted


class StreamingConverter:
    """Converts a stream with one RVC voice; see the module docstring.

    voice: an RVCVoice (its synthesizer, content model, pitch extractors and index; the models'
    device is the engine's). ``push`` takes any number of samples; ``process_block`` exactly
    ``geometry.block`` (what a device callback with that block size gets).
    """

    def __init__(self, voice: RVCVoice, settings: StreamSettings = StreamSettings()):
        n_speakers = voice.synthesizer.config.n_speakers
        if not 0 <= settings.speaker < n_speakers:
            raise ConfigError(
                f"speaker {settings.speaker} is out of range: the model has {n_speakers} "
                f"(0..{n_speakers - 1})"
            )
        if settings.index_rate > 0 and voice.index is None:
            raise ConfigError(f"index_rate {settings.index_rate} needs a retrieval index; none is loaded")
        self.voice = voice
        self.settings = settings
        self.geometry = StreamGeometry.of(settings, settings.sample_rate or voice.sample_rate)
        self.device = next(voice.synthesizer.parameters()).device
        self.pitch_extractor = (
            realtime_pitch_extractor(voice, settings.f0_method) if voice.synthesizer.config.use_f0 else None
        )
        g = self.geometry
        self.fade_in = (
            torch.sin(0.5 * math.pi * torch.linspace(0.0, 1.0, g.sola_buffer, device=self.device)) ** 2
        )
        self.fade_out = 1 - self.fade_in
        self.reset()

    def reset(self) -> None:
        """Back to the state before the first sample: silence in every buffer."""
        g = self.geometry
        zeros = torch.zeros
        self.input = zeros(g.window, device=self.device)
        self.input_16k = zeros(g.window_16k, device=self.device)
        self.gate_history = np.zeros(4 * g.frame, dtype=np.float32)
        self.pitch_cache = np.zeros(PITCH_CACHE_FRAMES, dtype=np.int64)
        self.f0_cache = np.zeros(PITCH_CACHE_FRAMES, dtype=np.float32)
        self.sola_tail = zeros(g.sola_buffer, device=self.device)
        self.last_sola_offset = 0
        self.pending = np.zeros(0, dtype=np.float32)
        self.ready = np.zeros(g.block, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """samples: (n,) mono float at the stream rate -> (n,) float32, the output that follows
        what was pushed before. Any split of the same samples gives the same output."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        pending = np.concatenate([self.pending, samples])
        block = self.geometry.block
        converted = [self.ready]
        n_blocks = len(pending) // block
        for i in range(n_blocks):
            converted.append(self.process_block(pending[i * block : (i + 1) * block]))
        self.pending = pending[n_blocks * block :]
        ready = np.concatenate(converted)
        self.ready = ready[len(samples) :]
        return ready[: len(samples)]

    @torch.inference_mode()
    def process_block(self, block: np.ndarray) -> np.ndarray:
        """block: (geometry.block,) mono float at the stream rate -> (geometry.block,) float32."""
        g = self.geometry
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if len(block) != g.block:
            raise ValueError(f"a block holds {g.block} samples at {g.sample_rate} Hz, got {len(block)}")
        fresh = self._gate(block) if self.settings.threshold_db > GATE_OFF_DB else block
        self.input = torch.roll(self.input, -g.block)
        self.input[-len(fresh) :] = torch.from_numpy(fresh).to(self.device)
        self.input_16k = torch.roll(self.input_16k, -g.block_16k)
        resampled = sinc_resample(
            self.input[-len(fresh) - 2 * g.frame :], g.sample_rate, CONTENT_RATE, precision="transform"
        )
        self.input_16k[-HOP_16K * (len(fresh) // g.frame + 1) :] = resampled[HOP_16K:]
        converted = self._convert_window()
        if self.settings.rms_mix_rate < 1:
            converted = mix_rms_realtime(
                self.input[g.extra :],
                converted,
                4 * g.frame,
                g.frame,
                self.settings.rms_mix_rate,
                MIN_OUTPUT_RMS,
            )
        return self._join(converted).cpu().numpy()

    def _gate(self, block: np.ndarray) -> np.ndarray:
        """-> the block with its two preceding frames (2·frame + block samples), each 10 ms frame
        whose RMS (4-frame window) is below the threshold silenced; the preceding frames are
        gated again now that their whole window is known."""
        frame = self.geometry.frame
        signal = np.concatenate([self.gate_history, block])
        self.gate_history = signal[-4 * frame :].copy()
        rms = rms_envelope(torch.from_numpy(signal), 4 * frame, frame).numpy()[2:]
        # librosa's top_db floor (80 dB below the loudest frame) cannot reach a threshold <= 0 dB
        quiet = 20 * np.log10(np.maximum(rms, GATE_FLOOR_AMPLITUDE)) < self.settings.threshold_db
        start = 2 * frame - frame // 2  # frame i of ``rms`` is centred on sample (i + 2)·frame
        positions = np.arange(start, len(signal))
        silenced = quiet[np.minimum((positions - start) // frame, len(quiet) - 1)]
        signal[start:][silenced] = 0
        return signal[2 * frame :]

    def _convert_window(self) -> Tensor:
        """The synthesizer's realtime form on the 16 kHz window -> (return_length · frame,)
        at the stream rate."""
        g, settings, voice = self.geometry, self.settings, self.voice
        synthesizer = voice.synthesizer
        config = synthesizer.config
        content = rvc_content(voice.content_model, self.input_16k[None], config.version)
        content = torch.cat([content, content[:, -1:]], dim=1)
        if settings.index_rate > 0:
            head = g.skip_head // 2
            content[:, head:] = retrieve_and_blend(voice.index, content[:, head:], settings.index_rate)
        n_frames = g.window_16k // HOP_16K
        factor = 2 ** (settings.formant_shift_semitones / 12)
        stretched = math.ceil(g.return_length * factor)
        pitch = f0_hz = None
        if config.use_f0:
            pitch, f0_hz = self._update_pitch_cache(n_frames)
            f0_hz = f0_hz * (stretched / g.return_length)
        content = repeat_to_synth_rate(content)[:, :n_frames]
        trace = synthesizer.infer(
            content,
            torch.tensor([n_frames], device=self.device),
            pitch,
            f0_hz,
            torch.tensor([settings.speaker], device=self.device),
            skip_head=g.skip_head,
            return_length=g.return_length,
            return_length2=stretched,
        )
        audio = trace.audio[0, 0].float()
        model_frame = synthesizer.sample_rate // FRAMES_PER_S
        stretched_frame = int(factor * synthesizer.sample_rate // FRAMES_PER_S)
        if stretched_frame != model_frame:
            audio = sinc_resample(
                audio[: g.return_length * stretched_frame],
                stretched_frame,
                model_frame,
                precision="transform",
            )
        return sinc_resample(audio, synthesizer.sample_rate, g.sample_rate, precision="transform")

    def _update_pitch_cache(self, n_frames: int) -> tuple[Tensor, Tensor]:
        """f0 of the window's end into the cache -> its last n_frames as (1, n_frames) coarse
        int64 and f0 float32 tensors."""
        g = self.geometry
        length = g.block_16k + F0_CONTEXT_16K
        if self.settings.f0_method == "rmvpe":
            length = RMVPE_MULTIPLE_16K * ((length - 1) // RMVPE_MULTIPLE_16K + 1) - HOP_16K
        samples = self.input_16k[-length:].cpu().numpy()
        raw = self.pitch_extractor.extract(samples).f0_hz
        coarse, f0_hz = realtime_f0(
            raw, self.settings.key_shift_semitones - self.settings.formant_shift_semitones
        )
        shift = g.block_16k // HOP_16K
        # the first 3 and the last frame see the window's edges; the cache keeps earlier blocks' values there
        kept = len(coarse) - 4
        for cache, values in ((self.pitch_cache, coarse), (self.f0_cache, f0_hz)):
            cache[:-shift] = cache[shift:].copy()
            cache[-kept:] = values[3:-1]
        return (
            torch.from_numpy(self.pitch_cache[-n_frames:]).to(self.device)[None],
            torch.from_numpy(self.f0_cache[-n_frames:]).to(self.device)[None],
        )

    def _join(self, converted: Tensor) -> Tensor:
        """SOLA: align ``converted`` to the previous tail within one frame, cross-fade, keep the
        new tail -> (block,)."""
        g = self.geometry
        head = converted[None, None, : g.sola_buffer + g.sola_search]
        correlation = F.conv1d(head, self.sola_tail[None, None])
        energy = F.conv1d(head**2, torch.ones(1, 1, g.sola_buffer, device=self.device))
        offset = int(torch.argmax(correlation[0, 0] / torch.sqrt(energy[0, 0] + SOLA_EPS)))
        self.last_sola_offset = offset
        aligned = converted[offset:].clone()
        aligned[: g.sola_buffer] = aligned[: g.sola_buffer] * self.fade_in + self.sola_tail * self.fade_out
        self.sola_tail = aligned[g.block : g.block + g.sola_buffer].clone()
        return aligned[: g.block]
