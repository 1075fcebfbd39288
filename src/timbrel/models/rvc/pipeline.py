"""RVC's offline conversion (spec rvc.md section 7): 16 kHz audio in, the voice model's audio out.

The reference's steps, in its order: peak guard, zero-phase high-pass, cuts at the quietest
points for long audio, reflection padding, f0 of the whole padded signal, then per chunk:
content features, index blending, protect, synthesis and trimming; then the loudness envelope
mix, optional resampling and the int16 conversion. Only one chunk's tensors are alive at a
time, so memory stays bounded for long songs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch

from timbrel.audio.filters import RVC_HIGHPASS, highpass_zero_phase
from timbrel.audio.io import conform
from timbrel.audio.resample import resample
from timbrel.core import device as devices
from timbrel.core.audio import Audio
from timbrel.core.cpu_kernels import prepare_for_input, release_freed_heap
from timbrel.core.errors import ModelOutputError, UnusableAudioError
from timbrel.features.content.hubert import HubertModel
from timbrel.features.content.rvc import repeat_to_synth_rate, rvc_content
from timbrel.features.pitch.base import PitchExtractor
from timbrel.features.pitch.f0_stats import F0Stats, auto_key_semitones
from timbrel.features.pitch.rvc import rvc_inference_f0
from timbrel.models.base import MemoryFallback
from timbrel.models.rvc.protect import protect_unvoiced
from timbrel.models.rvc.retrieval import RetrievalIndex, retrieve_and_blend
from timbrel.models.rvc.rms_mix import mix_rms
from timbrel.models.rvc.synthesizer import Synthesizer

SAMPLE_RATE = 16000
WINDOW = 160  # samples per f0 frame at 16 kHz
INPUT_PEAK = 0.95
OUTPUT_PEAK = 0.99
SMALL_GPU_GB = 4  # RVC's config: GPUs with at most this much memory take the small chunking
MEDIAN_FILTERED_METHODS = ("harvest",)  # Pipeline.get_f0 median-filters no other method's curve
# The int16 conversion goes this many samples at a time, so no temporary is as long as the output
# (10 minutes at 40 kHz: 96 MB of float32 each).
INT16_BLOCK_SAMPLES = 1 << 20


@dataclass(frozen=True)
class Chunking:
    """The reference's long-audio settings, in seconds (its x_pad, x_query, x_center, x_max).

    cpu(): also fp32 GPUs; gpu_fp16(): half-precision GPUs; small_gpu(): GPUs with <= 4 GB.
    for_device() picks among them as the reference's config does.
    """

    pad_s: float = 1.0
    query_s: float = 6.0
    center_s: float = 38.0
    max_s: float = 41.0

    @classmethod
    def cpu(cls) -> Chunking:
        return cls()

    @classmethod
    def gpu_fp16(cls) -> Chunking:
        return cls(pad_s=3.0, query_s=10.0, center_s=60.0, max_s=65.0)

    @classmethod
    def small_gpu(cls) -> Chunking:
        return cls(pad_s=1.0, query_s=5.0, center_s=30.0, max_s=32.0)

    @classmethod
    def for_device(cls, device: torch.device, half: bool) -> Chunking:
        """RVC's device_config: half precision on a GPU takes the long chunks, then a GPU whose
        memory rounds to at most 4 GB (int(GiB + 0.4), as RVC rounds) the short ones."""
        memory_gb = devices.memory_gb(device)
        if memory_gb is not None and int(memory_gb + 0.4) <= SMALL_GPU_GB:
            return cls.small_gpu()
        return cls.gpu_fp16() if half and device.type != "cpu" else cls.cpu()

    def halved(self) -> Chunking:
        """Chunks of half the length around the same padding (the out-of-memory retry)."""
        return Chunking(self.pad_s, self.query_s / 2, self.center_s / 2, self.max_s / 2)


@dataclass(frozen=True)
class RVCConvertOptions:
    """What a user sets for one conversion; defaults are the WebUI's.

    quiet_point_rule: "current" sums |x| over each window to find cut points; "classic" (2023 RVC)
    takes |sum x|. fill_unvoiced: the current reference interpolates f0 through unvoiced frames,
    classic RVC leaves them at 0 Hz, which is what lets ``protect`` act. filter_radius: >= 3
    median-filters the harvest curve; the reference ignores it for every other method.

    Beyond RVC: auto_key adds the whole-semitone shift that moves the input's median f0 to the
    voice's training median (needs the model's f0 statistics). formant_shift_semitones moves the
    spectral envelope and keeps f0, offline, the way the reference's realtime path does
    (return_length2): f0 lowered by the shift, the decoder stretched by 2^(shift/12), its output
    resampled back. precision "bf16" or "fp16" (GPUs) runs the content encoder and the
    synthesizer under autocast (faster where the hardware has the type, slightly different
    numbers); "fp32" is the reference's. chunking None: the reference's choice for the model's
    device and precision (Chunking.for_device).
    """

    f0_method: str = field(
        default="rmvpe",
        metadata={
            "help": "Pitch method, one of pm, harvest, dio, rmvpe, crepe-full, crepe-tiny, fcpe, "
            "hybrid (rmvpe+fcpe median)."
        },
    )
    key_shift_semitones: float = field(
        default=0.0, metadata={"help": "Key shift in semitones (+12 = one octave up)."}
    )
    index_rate: float = field(
        default=0.75, metadata={"help": "How much of the retrieved index features to use (0-1)."}
    )
    protect: float = field(
        default=0.33, metadata={"help": "Protect voiceless consonants and breaths (0-0.5; 0.5 = off)."}
    )
    rms_mix_rate: float = field(
        default=0.25, metadata={"help": "1 keeps the output's loudness, 0 follows the input's."}
    )
    filter_radius: int = field(
        default=0, metadata={"help": "Median filter radius for harvest (>= 3 filters)."}
    )
    output_sample_rate: int | None = field(
        default=None, metadata={"help": "Resample the output to this rate (none: the model's rate)."}
    )
    speaker: int = field(default=0, metadata={"help": "Speaker id."})
    fill_unvoiced: bool = field(
        default=True,
        metadata={"help": "Interpolate f0 through unvoiced frames (current RVC); off = classic RVC."},
    )
    quiet_point_rule: Literal["current", "classic"] = field(
        default="current",
        metadata={"help": "How long audio is cut at quiet points: current or classic (2023) RVC."},
    )
    chunking: Chunking | None = None
    auto_key: bool = field(
        default=False,
        metadata={"help": "Add the key shift that moves the input to the voice's training f0."},
    )
    formant_shift_semitones: float = field(
        default=0.0, metadata={"help": "Move the formants by this many semitones, keeping the pitch."}
    )
    precision: devices.Precision = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in devices.PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(devices.PRECISIONS)}, got {self.precision!r}"
            )
        for name in ("index_rate", "protect", "rms_mix_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.output_sample_rate is not None and self.output_sample_rate < SAMPLE_RATE:
            raise ValueError(
                f"output_sample_rate must be at least {SAMPLE_RATE}, got {self.output_sample_rate}"
            )


def quiet_cut_points(audio: np.ndarray, chunking: Chunking, rule: str = "current") -> list[int]:
    """audio: (n,) 16 kHz -> cut positions (samples) near every ``center_s``, each at the
    quietest window within ``query_s`` of it. Empty unless the audio is longer than ``max_s``."""
    padded = np.pad(audio, (WINDOW // 2, WINDOW // 2), mode="reflect")
    if len(padded) <= SAMPLE_RATE * chunking.max_s:
        return []
    values = np.abs(padded) if rule == "current" else padded
    sums = np.convolve(values, np.ones(WINDOW), mode="valid")[: len(audio)]
    if rule != "current":
        sums = np.abs(sums)
    query = int(SAMPLE_RATE * chunking.query_s)
    center = int(SAMPLE_RATE * chunking.center_s)
    return [
        t - query + int(np.argmin(sums[t - query : t + query])) for t in range(center, len(audio), center)
    ]


def peak_magnitude(audio: np.ndarray) -> np.floating:
    """max |audio| without an |audio| copy; NaN if any sample is NaN."""
    return max(audio.max(), -audio.min())


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Scale to int16 with the reference's guard: peaks above 0.99 are brought down to 0.99."""
    peak = peak_magnitude(audio) / OUTPUT_PEAK
    scale = 32768.0 / peak if peak > 1 else 32768.0
    out = np.empty(len(audio), dtype=np.int16)
    for start in range(0, len(audio), INT16_BLOCK_SAMPLES):
        block = slice(start, start + INT16_BLOCK_SAMPLES)
        out[block] = np.multiply(audio[block], scale, dtype=np.float32).astype(np.int16)
    return out


class RVCVoice:
    """A loaded RVC voice model with its content encoder, pitch extractors and optional index
    (implements timbrel.models.base.VoiceModel).

    pitch_extractor: method name (options.f0_method) -> extractor; it loads networks on demand.
    f0_stats: the training set's f0 statistics (for ``auto_key``), when the model has them.
    """

    family = "rvc"

    def __init__(
        self,
        synthesizer: Synthesizer,
        content_model: HubertModel,
        pitch_extractor: Callable[[str], PitchExtractor] | None,
        index: RetrievalIndex | None = None,
        f0_stats: F0Stats | None = None,
    ):
        if synthesizer.config.use_f0 and pitch_extractor is None:
            raise ValueError("this voice model uses pitch: give a pitch extractor provider")
        self.synthesizer = synthesizer
        self.content_model = content_model
        self.pitch_extractor = pitch_extractor
        self.index = index
        self.f0_stats = f0_stats

    @property
    def sample_rate(self) -> int:
        return self.synthesizer.sample_rate

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(str(i) for i in range(self.synthesizer.config.n_speakers))

    @property
    def device(self) -> torch.device:
        # the content model's: the synthesizer may be a graph outside torch (the ONNX engine)
        return next(self.content_model.parameters()).device

    def chunking(self, options: RVCConvertOptions) -> Chunking:
        """The chunking a conversion with these options uses on this model's device."""
        if options.chunking is not None:
            return options.chunking
        return Chunking.for_device(self.device, options.precision != "fp32")

    def less_memory(self, options: RVCConvertOptions) -> MemoryFallback:
        chunking = self.chunking(options)
        smaller = chunking.halved()
        return MemoryFallback(
            replace(options, chunking=smaller),
            f"chunks of {smaller.center_s:g} s instead of {chunking.center_s:g} s",
            f"the chunk length (--set chunking.center_s=... with chunking.max_s a little above it "
            f"and chunking.query_s below it; it was {smaller.center_s:g} s)",
        )

    def convert(self, audio: Audio, options: RVCConvertOptions = RVCConvertOptions()) -> Audio:
        """audio: any rate and channels -> mono at the options' output rate (int16 values as float)."""
        samples = conform(audio, SAMPLE_RATE).mono
        rate = options.output_sample_rate or self.sample_rate
        return Audio.from_mono(np.divide(self.convert_16k(samples, options), 32768.0, dtype=np.float32), rate)

    @torch.inference_mode()
    def convert_16k(
        self, audio_16k: np.ndarray, options: RVCConvertOptions = RVCConvertOptions()
    ) -> np.ndarray:
        """audio_16k: (n,) float mono at 16 kHz -> int16 (m,) at ``options.output_sample_rate``
        (or the model's rate)."""
        long_input = prepare_for_input(len(audio_16k) / SAMPLE_RATE)
        n_speakers = self.synthesizer.config.n_speakers
        if not 0 <= options.speaker < n_speakers:
            raise ValueError(
                f"speaker {options.speaker} is out of range: the model has {n_speakers} (0..{n_speakers - 1})"
            )
        audio = np.asarray(audio_16k, dtype=np.float32)
        shortest = 3 * (RVC_HIGHPASS.order + 1) + 1  # what the zero-phase high-pass needs
        if len(audio) < shortest:
            raise UnusableAudioError(
                f"too short to convert: {len(audio)} samples at 16 kHz, need at least {shortest}"
            )
        peak = peak_magnitude(audio) / INPUT_PEAK
        if peak > 1:
            audio = audio / peak
        audio = highpass_zero_phase(audio, SAMPLE_RATE)
        devices.resolve_precision(options.precision, self.device)
        chunking = self.chunking(options)
        t_pad = int(SAMPLE_RATE * chunking.pad_s)
        t_pad_target = int(self.sample_rate * chunking.pad_s)
        cuts = [t // WINDOW * WINDOW for t in quiet_cut_points(audio, chunking, options.quiet_point_rule)]
        padded = np.pad(audio, (t_pad, t_pad), mode="reflect")
        audio = padded[t_pad : len(padded) - t_pad]  # the same samples, one whole-length copy fewer
        n_frames = len(padded) // WINDOW
        f0 = None
        if self.synthesizer.config.use_f0:
            raw = self.pitch_extractor(options.f0_method).extract(padded).f0_hz
            filter_radius = options.filter_radius if options.f0_method in MEDIAN_FILTERED_METHODS else 0
            f0 = rvc_inference_f0(
                raw, n_frames, self._key_shift(raw, options), options.fill_unvoiced, filter_radius
            )
        # Each chunk's output goes straight to its place (no list of pieces and concatenated copy).
        # The chunks' frames less their padding add up to at most the padded input's frames plus
        # one per chunk; the unused end of the buffer is never touched, so it takes no memory.
        upsample = self.synthesizer.config.upsample_factor
        converted = np.empty((n_frames + len(cuts) + 1) * upsample, dtype=np.float32)
        length = 0
        start = 0
        for end in [*cuts, None]:
            stop = len(padded) if end is None else end + 2 * t_pad + WINDOW
            frame_stop = n_frames if end is None else (end + 2 * t_pad) // WINDOW
            pitch = (
                None
                if f0 is None
                else (f0.coarse[start // WINDOW : frame_stop], f0.f0_hz[start // WINDOW : frame_stop])
            )
            piece = self._convert_chunk(padded[start:stop], pitch, options)[t_pad_target:-t_pad_target]
            converted[length : length + len(piece)] = piece
            length += len(piece)
            if end is not None:
                start = end
            if long_input:
                release_freed_heap()
        converted = converted[:length]
        if options.rms_mix_rate != 1:
            # in place, as the reference scales its float32 output (by float64 gains)
            mix_rms(
                torch.from_numpy(np.ascontiguousarray(audio)),
                SAMPLE_RATE,
                torch.from_numpy(converted),
                self.sample_rate,
                options.rms_mix_rate,
            )
        if options.output_sample_rate is not None and options.output_sample_rate != self.sample_rate:
            converted = resample(converted, self.sample_rate, options.output_sample_rate)
        if not np.isfinite(peak_magnitude(converted)):  # int16 would make them silence or noise
            raise ModelOutputError("the voice model produced NaN or infinite samples; nothing was written")
        return to_int16(converted)

    def _key_shift(self, raw_f0_hz: np.ndarray, options: RVCConvertOptions) -> float:
        """The semitones applied to the extracted f0: the user's key, the auto key, and the
        lowering that a formant shift's stretch undoes."""
        key = options.key_shift_semitones - options.formant_shift_semitones
        if options.auto_key:
            if self.f0_stats is None:
                raise ValueError(
                    "auto_key needs the voice's training f0 statistics (<model>.timbrel.json, "
                    "written by weights.rvc.write_training_f0_stats); this voice has none"
                )
            key += auto_key_semitones(raw_f0_hz, self.f0_stats)
        return key

    def _convert_chunk(
        self, chunk: np.ndarray, pitch: tuple[np.ndarray, np.ndarray] | None, options: RVCConvertOptions
    ) -> np.ndarray:
        """chunk: (n,) padded 16 kHz samples; pitch: (coarse, f0_hz) per 10 ms frame -> (m,) float32."""
        device = self.device
        samples = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))[None].to(device)
        with devices.autocast(device, options.precision):
            content = rvc_content(self.content_model, samples, self.synthesizer.config.version).float()
        protect = pitch is not None and options.protect < 0.5
        unretrieved = content if protect else None
        if self.index is not None:
            content = retrieve_and_blend(self.index, content, options.index_rate)
        content = repeat_to_synth_rate(content)
        n_frames = min(len(chunk) // WINDOW, content.shape[1])
        content = content[:, :n_frames]
        coarse = f0_hz = None
        if pitch is not None:
            coarse = torch.from_numpy(pitch[0][:n_frames]).long()[None].to(device)
            f0_hz = torch.from_numpy(pitch[1][:n_frames]).float()[None].to(device)
        if protect:
            unretrieved = repeat_to_synth_rate(unretrieved)[:, :n_frames]
            content = protect_unvoiced(content, unretrieved, f0_hz, options.protect)
        lengths = torch.tensor([n_frames], device=device)
        speaker = torch.tensor([options.speaker], device=device)
        stretched = None
        if options.formant_shift_semitones:
            stretched = math.ceil(n_frames * 2 ** (options.formant_shift_semitones / 12))
            if f0_hz is not None:
                f0_hz = f0_hz * (stretched / n_frames)  # the stretch lowers the source by this
        with devices.autocast(device, options.precision):
            trace = self.synthesizer.infer(content, lengths, coarse, f0_hz, speaker, return_length2=stretched)
        audio = trace.audio[0, 0].float().cpu().numpy()
        if stretched is not None:
            audio = self._unstretch(audio, options.formant_shift_semitones, n_frames)
        return audio

    def _unstretch(self, audio: np.ndarray, formant_shift_semitones: float, n_frames: int) -> np.ndarray:
        """Resample the stretched decoder output back to n_frames frames, per 10 ms frame from
        floor(factor * rate / 100) to rate / 100 samples as the reference's realtime path does;
        the result is cut or zero-padded to exactly n_frames frames."""
        per_frame = self.sample_rate // 100
        factor = 2 ** (formant_shift_semitones / 12)
        audio = resample(audio, int(factor * self.sample_rate // 100), per_frame)
        length = n_frames * self.synthesizer.config.upsample_factor
        return np.pad(audio[:length], (0, max(0, length - len(audio)))).astype(np.float32)
