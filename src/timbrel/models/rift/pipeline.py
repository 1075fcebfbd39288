"""RIFT's offline conversion (spec rift.md 4.7): any audio in, the voice at 44.1 kHz out.

The reference's steps, in its order: resample to 44.1 kHz and downmix, slice at silences, build
each slice's conditioning (`segment_features`), sort the slices by length and sample them in
zero-padded batches with the guided velocity, vocode each padded batch, fit each slice back to its
length, restore its loudness, and cross-fade the slices onto a silent buffer of the input's length.

Randomness is injectable (`RIFTNoise`): the initial noise of each batch in call order or a
generator, and the vocoder's harmonic-source draws (random or all zero), so runs are exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from timbrel.audio.crossfade import crossfade_add, crossfade_buffer, fade_samples, fit_length
from timbrel.audio.sinc_resample import sinc_resample
from timbrel.audio.slicing import SlicerConfig, slice_spans
from timbrel.core import device as devices
from timbrel.core.audio import Audio
from timbrel.core.cpu_kernels import prepare_for_input, release_freed_heap
from timbrel.core.errors import ConfigError
from timbrel.features.content.hubert import HubertModel
from timbrel.features.pitch.f0_stats import F0Stats, auto_key_semitones
from timbrel.features.pitch.rift import ROBUST_LEVELS
from timbrel.features.pitch.rmvpe import RmvpeExtractor
from timbrel.models.base import MemoryFallback
from timbrel.models.rift import flow
from timbrel.models.rift.dit import DiT
from timbrel.models.rift.guidance import Guidance, GuidedVelocity, SequentialGuidedVelocity
from timbrel.models.rift.segment_features import (
    SAMPLE_RATE,
    SegmentFeatureExtractor,
    SegmentFeatures,
    restore_segment_loudness,
)
from timbrel.vocoders.nsf_hifigan import NsfHifiGan

SOLVERS: dict[str, flow.Solver] = {"euler": flow.euler, "midpoint": flow.midpoint, "heun": flow.heun}


@dataclass(frozen=True)
class RIFTConvertOptions:
    """What a user sets for one conversion; defaults are infer.py's CLI, except precision (fp32 here:
    the reference always autocasts, to bf16 on CPU) and the solver choice, which it does not offer.

    speaker: a name from the model's speaker table or its index. cfg_skip_layers: the blocks the
    skip-layer guidance leaves out (needed when skip_cfg_strength > 0). robust_f0: 0 RMVPE only,
    1 fill its gaps from dio/Praat, 2 median ensemble. batch_size: slices sampled together (sorted by
    length, zero-padded). batched_guidance: run the guidance branches of a step as one batched
    forward (same result as one forward per branch, within float rounding). solver: "euler" is the
    reference; "midpoint" and "heun" take two evaluations per step. auto_key: add the whole-semitone
    shift that moves the input's median f0 to the speaker's training median (needs the model's
    per-speaker f0 statistics, which `timbrel train rift` writes into the sidecar).
    """

    speaker: str | int = field(
        default=0, metadata={"help": "Speaker name (from the model's speaker table) or id."}
    )
    key_shift_semitones: float = field(
        default=0.0, metadata={"help": "Key shift in semitones (+12 = one octave up)."}
    )
    auto_key: bool = field(
        default=False,
        metadata={"help": "Add the key shift that moves the input to the speaker's training f0."},
    )
    infer_steps: int = field(default=32, metadata={"help": "Sampling steps of the flow."})
    ds_cfg_strength: float = field(
        default=0.2, metadata={"help": "Content-downsampling (content and pitch) guidance strength."}
    )
    spk_cfg_strength: float = field(default=0.8, metadata={"help": "Speaker guidance strength."})
    skip_cfg_strength: float = field(
        default=0.0, metadata={"help": "Skip-layer guidance strength (0 = off; needs cfg skip layers)."}
    )
    cfg_skip_layers: int | tuple[int, ...] | None = field(
        default=None,
        metadata={"help": "Blocks the skip-layer guidance leaves out: a number or a list like [6, 7]."},
    )
    cfg_rescale: float = field(
        default=0.7, metadata={"help": "Rescale of the guided velocity towards the conditional one's spread."}
    )
    cvec_downsample_rate: int = field(default=2, metadata={"help": "Negative content downsampling."})
    robust_f0: int = field(
        default=0, metadata={"help": "0 RMVPE only, 1 fill its gaps from dio/Praat, 2 median ensemble."}
    )
    batch_size: int = field(default=1, metadata={"help": "Slices sampled together."})
    precision: devices.Precision = "fp32"
    fade_ms: float = 20.0
    target_lufs: float = field(
        default=-18.0, metadata={"help": "Loudness the input is normalised to before conversion."}
    )
    restore_loudness: bool = field(default=True, metadata={"help": "Give the output the input's loudness."})
    slicer: SlicerConfig = field(default_factory=SlicerConfig.rift_infer)
    batched_guidance: bool = True
    solver: Literal["euler", "midpoint", "heun"] = field(
        default="euler", metadata={"help": "ODE solver: euler is the reference's."}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.infer_steps, int) or self.infer_steps < 2:
            raise ConfigError(f"infer_steps must be an integer of at least 2, got {self.infer_steps!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.cvec_downsample_rate, int) or self.cvec_downsample_rate < 1:
            raise ConfigError(
                f"cvec_downsample_rate must be a positive integer, got {self.cvec_downsample_rate!r}"
            )
        if self.robust_f0 not in ROBUST_LEVELS:
            raise ConfigError(f"robust_f0 must be one of {list(ROBUST_LEVELS)}, got {self.robust_f0!r}")
        if self.precision not in devices.PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(devices.PRECISIONS)}, got {self.precision!r}"
            )
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {sorted(SOLVERS)}, got {self.solver!r}")
        if self.fade_ms < 0:
            raise ConfigError(f"fade_ms must be at least 0, got {self.fade_ms}")
        for name in ("ds_cfg_strength", "spk_cfg_strength", "skip_cfg_strength", "cfg_rescale"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.guidance_skip_layers == () and self.skip_cfg_strength > 0:
            raise ConfigError("skip_cfg_strength > 0 needs cfg_skip_layers (the blocks to leave out)")

    @property
    def guidance_skip_layers(self) -> tuple[int, ...]:
        layers = self.cfg_skip_layers
        return () if layers is None else (layers,) if isinstance(layers, int) else tuple(layers)

    def guidance(self) -> Guidance:
        return Guidance(
            ds_strength=self.ds_cfg_strength,
            speaker_strength=self.spk_cfg_strength,
            skip_strength=self.skip_cfg_strength,
            skip_layers=self.guidance_skip_layers,
            rescale=self.cfg_rescale,
        )


@dataclass(frozen=True)
class RIFTNoise:
    """The random inputs of one conversion.

    initial_noise: one standard-normal (b, n_max, n_mels) tensor per sampled batch, in processing
    order (as the reference draws them); None draws them from `generator` (None: torch's global one).
    vocoder_source: "random" draws the harmonic source's phases and noise from `generator`; "zeros"
    starts every harmonic at phase 0 with no noise.
    """

    initial_noise: Sequence[Tensor] | None = None
    generator: torch.Generator | None = None
    vocoder_source: Literal["random", "zeros"] = "random"


@dataclass(frozen=True)
class SampledBatch:
    """mel: (b, n_max, n_mels) sampled log-mel (the source mel at padded frames); f0_hz: (b, n_max) padded
    with 0."""

    mel: Tensor
    f0_hz: Tensor


@dataclass(frozen=True)
class ConvertedBatch:
    """One sampled batch. segments: the slice indices in batch order; features: their conditioning;
    waves: each slice's conversion, (n_i,) float64 at its own length, loudness restored if asked."""

    segments: tuple[int, ...]
    features: tuple[SegmentFeatures, ...]
    sampled: SampledBatch
    waves: tuple[np.ndarray, ...]


def processing_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Slice indices sorted by length (stable, shortest first) and cut into batches of batch_size."""
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _pad(tensors: Sequence[Tensor]) -> Tensor:
    """(n_i, ...) each -> (b, n_max, ...) zero-padded at the end."""
    return pad_sequence(list(tensors), batch_first=True)


def to_model_rate(audio: Audio) -> np.ndarray:
    """audio: any rate and channels -> (n,) float32 mono at 44.1 kHz, resampled with torchaudio's
    default sinc filter before downmixing, as the reference loads its input. Mono float32 audio
    at 44.1 kHz comes back as a view of its own samples (the mean of one channel is that channel)."""
    samples = torch.from_numpy(np.ascontiguousarray(audio.samples, dtype=np.float32))
    samples = sinc_resample(samples, audio.sample_rate, SAMPLE_RATE)
    return (samples[0] if samples.shape[0] == 1 else samples.mean(dim=0)).numpy()


class RIFTVoice:
    """A loaded RIFT voice: the DiT with its speaker table, the NSF-HiFiGAN vocoder, ContentVec and
    RMVPE (implements timbrel.models.base.VoiceModel). f0_stats: speaker name -> its training f0
    statistics (for ``auto_key``), when the model has them."""

    family = "rift"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        dit: DiT,
        speaker_table: Mapping[str, int],
        vocoder: NsfHifiGan,
        content_model: HubertModel,
        rmvpe: RmvpeExtractor,
        f0_stats: Mapping[str, F0Stats] | None = None,
    ):
        if vocoder.config.sample_rate != SAMPLE_RATE or vocoder.config.hop_length != 512:
            raise ConfigError(
                f"RIFT needs a 44.1 kHz hop-512 vocoder, got {vocoder.config.sample_rate} Hz "
                f"hop {vocoder.config.hop_length}"
            )
        if vocoder.config.n_mels != dit.config.n_mels:
            raise ConfigError(
                f"vocoder takes {vocoder.config.n_mels} mels, the DiT makes {dit.config.n_mels}"
            )
        if content_model.config.hidden_size != dit.config.content_dim:
            raise ConfigError(
                f"content encoder gives {content_model.config.hidden_size}-d vectors, "
                f"the DiT expects {dit.config.content_dim}"
            )
        ids = sorted(speaker_table.values())
        if ids != list(range(dit.config.num_speakers)):
            raise ConfigError(
                f"speaker table {dict(speaker_table)} does not number the DiT's "
                f"{dit.config.num_speakers} speakers 0..{dit.config.num_speakers - 1}"
            )
        self.dit = dit.eval()
        self.speaker_table = dict(speaker_table)
        self.vocoder = vocoder.eval()
        self.features = SegmentFeatureExtractor(content_model.eval(), rmvpe)
        self.f0_stats = dict(f0_stats) if f0_stats is not None else None

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(sorted(self.speaker_table, key=self.speaker_table.__getitem__))

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    def less_memory(self, options: RIFTConvertOptions) -> MemoryFallback:
        """Half the batch; at batch 1 nothing smaller exists (slices are whole phrases)."""
        if options.batch_size == 1:
            return MemoryFallback(None, "", "--batch-size (it is 1 already: try --precision bf16 or fp16)")
        smaller = options.batch_size // 2
        return MemoryFallback(
            replace(options, batch_size=smaller),
            f"batch_size {smaller} instead of {options.batch_size}",
            f"--batch-size (it was {smaller})",
        )

    def speaker_id(self, speaker: str | int) -> int:
        """A speaker name or index -> its index; an unknown one is an error naming the allowed ones."""
        if isinstance(speaker, str) and speaker in self.speaker_table:
            return self.speaker_table[speaker]
        if isinstance(speaker, int) and not isinstance(speaker, bool) and 0 <= speaker < len(self.speakers):
            return speaker
        raise ConfigError(
            f"unknown speaker {speaker!r}; this model has {list(self.speakers)} "
            f"(or their indices 0..{len(self.speakers) - 1})"
        )

    def convert(
        self,
        audio: Audio,
        options: RIFTConvertOptions = RIFTConvertOptions(),
        noise: RIFTNoise = RIFTNoise(),
    ) -> Audio:
        """audio: any rate and channels -> mono at 44.1 kHz with the input's duration."""
        samples = to_model_rate(audio)
        return Audio.from_mono(self.convert_44k(samples, options, noise, np.float32), SAMPLE_RATE)

    @torch.inference_mode()
    def convert_44k(
        self,
        samples: np.ndarray,
        options: RIFTConvertOptions = RIFTConvertOptions(),
        noise: RIFTNoise = RIFTNoise(),
        dtype: type[np.floating] = np.float64,
    ) -> np.ndarray:
        """samples: (n,) float32 mono 44.1 kHz -> (n,) converted, of ``dtype``: the cross-fades are
        computed in float64, and as the slices are disjoint every sample is one slice's value (or
        silence), so a float32 buffer holds the float64 result rounded once, without a float64
        copy of the whole output."""
        long_input = prepare_for_input(len(samples) / SAMPLE_RATE)
        speaker = self.speaker_id(options.speaker)
        devices.resolve_precision(options.precision, self.device)
        spans = slice_spans(samples, SAMPLE_RATE, options.slicer)
        if options.auto_key:
            key = self.auto_key(speaker, [samples[a:b] for a, b in spans], options)
            options = replace(options, key_shift_semitones=options.key_shift_semitones + key)
        # Each batch is cross-faded onto the timeline as it comes (the slices are disjoint, so
        # the order does not matter), rather than holding every slice's float64 conversion.
        fade = fade_samples(options.fade_ms, SAMPLE_RATE)
        buffer = crossfade_buffer(len(samples), fade, dtype)
        kept = self.usable([b - a for a, b in spans])
        segments = [samples[a:b] for a, b in spans]
        for batch in self.iter_batches(segments, speaker, options, noise, release_heap=long_input):
            for index, wave in zip(batch.segments, batch.waves, strict=True):
                fade_in, fade_out = index != kept[0], index != kept[-1]
                crossfade_add(buffer, spans[index][0], wave, fade, fade_in, fade_out)
        return buffer[: len(samples)]

    def auto_key(self, speaker: int, segments: Sequence[np.ndarray], options: RIFTConvertOptions) -> int:
        """The whole semitones that move the slices' median f0 to the speaker's training median. The
        pitch is extracted once more for this (it is cheap next to the content encoder and sampling)."""
        name = self.speakers[speaker]
        if self.f0_stats is None or name not in self.f0_stats:
            raise ConfigError(
                f"auto_key needs speaker {name!r}'s training f0 statistics (the sidecar "
                "<model>.timbrel.json that `timbrel train rift` writes); this model has none"
            )
        min_samples = self._min_segment_samples()
        tracks = [
            self.features.f0(segment, target_lufs=options.target_lufs, robust_f0=options.robust_f0)
            for segment in segments
            if len(segment) >= min_samples
        ]
        return auto_key_semitones(np.concatenate(tracks or [np.zeros(0)]), self.f0_stats[name])

    @torch.inference_mode()
    def iter_batches(
        self,
        segments: Sequence[np.ndarray],
        speaker: int,
        options: RIFTConvertOptions = RIFTConvertOptions(),
        noise: RIFTNoise = RIFTNoise(),
        release_heap: bool = False,
    ) -> Iterator[ConvertedBatch]:
        """segments: (n_i,) float32 44.1 kHz slices -> their conversions, one batch at a time in
        processing order. Slices too short for one mel frame or for the content encoder are left out
        (they stay silent). release_heap: give glibc's freed heap pages back before each stage (long
        inputs: what one stage freed would otherwise stay resident under the next one's peak)."""
        usable = self.usable([len(segment) for segment in segments])
        initial_noise = iter(noise.initial_noise) if noise.initial_noise is not None else None
        release = release_freed_heap if release_heap else lambda: None
        for batch in processing_batches([len(segments[i]) for i in usable], options.batch_size):
            indices = tuple(usable[i] for i in batch)
            release()
            features = tuple(self.segment_features(segments[i], options) for i in indices)
            initial = self._next_noise(features, initial_noise, noise)
            with devices.autocast(self.device, options.precision):
                release()
                sampled = self.sample(features, speaker, options, initial)
                release()
                vocoded = self.vocode(sampled, noise)
            waves = []
            for wave, item in zip(vocoded, features, strict=True):
                wave = fit_length(wave, item.n_samples)
                if options.restore_loudness:
                    wave = restore_segment_loudness(wave, item.original_lufs)
                waves.append(np.asarray(wave, dtype=np.float64))
            yield ConvertedBatch(indices, features, sampled, tuple(waves))

    def segment_features(self, samples: np.ndarray, options: RIFTConvertOptions) -> SegmentFeatures:
        """One slice's conditioning (see timbrel.models.rift.segment_features)."""
        ds_on = options.guidance().ds_on
        return self.features(
            samples,
            target_lufs=options.target_lufs,
            key_shift_semitones=options.key_shift_semitones,
            robust_f0=options.robust_f0,
            downsample_rate=options.cvec_downsample_rate if ds_on else None,
        )

    def sample(
        self, features: Sequence[SegmentFeatures], speaker: int, options: RIFTConvertOptions, noise: Tensor
    ) -> SampledBatch:
        """Sample one batch of slices. noise: (b, n_max, n_mels) standard normal."""
        device = next(self.dit.parameters()).device
        guidance = options.guidance()
        lengths = torch.tensor([item.n_frames for item in features], device=device)
        mask = flow.lens_to_mask(lengths) if bool((lengths != lengths.max()).any()) else None
        f0_hz = _pad([item.f0_hz for item in features]).to(device)
        velocity_type = GuidedVelocity if options.batched_guidance else SequentialGuidedVelocity
        velocity = velocity_type(
            self.dit,
            torch.full((len(features),), speaker, dtype=torch.long, device=device),
            f0_hz,
            _pad([item.rms for item in features]).to(device),
            _pad([item.content for item in features]).to(device),
            guidance,
            mask=mask,
            bad_content=_pad([item.bad_content for item in features]).to(device) if guidance.ds_on else None,
        )
        src_mel = _pad([item.mel for item in features]).to(device)
        mel, _ = flow.sample(
            velocity, noise.to(device), src_mel, mask, options.infer_steps, SOLVERS[options.solver]
        )
        return SampledBatch(mel.float(), f0_hz.float())

    def vocode(self, sampled: SampledBatch, noise: RIFTNoise) -> list[np.ndarray]:
        """The padded batch through the vocoder -> one (n_max · 512,) waveform per slice (float32)."""
        device = next(self.vocoder.parameters()).device
        f0_hz = sampled.f0_hz.to(device)
        draws = self.vocoder.source_draws(
            f0_hz, generator=noise.generator, deterministic=noise.vocoder_source == "zeros"
        )
        wave = self.vocoder(sampled.mel.to(device).transpose(1, 2), f0_hz, draws)
        return list(wave[:, 0].float().cpu().numpy())

    def _next_noise(
        self, features: Sequence[SegmentFeatures], initial_noise: Iterator[Tensor] | None, noise: RIFTNoise
    ) -> Tensor:
        shape = (len(features), max(item.n_frames for item in features), self.dit.config.n_mels)
        if initial_noise is None:
            return torch.randn(shape, generator=noise.generator)
        try:
            given = next(initial_noise)
        except StopIteration:
            raise ConfigError("fewer initial-noise tensors were given than batches were sampled") from None
        if tuple(given.shape) != shape:
            raise ConfigError(
                f"initial noise of shape {tuple(given.shape)} given for a batch of shape {shape}"
            )
        return given

    def usable(self, segment_lengths: Sequence[int]) -> list[int]:
        """The indices of the slices long enough for one mel frame and one content frame."""
        min_samples = self._min_segment_samples()
        return [i for i, length in enumerate(segment_lengths) if length >= min_samples]

    def _min_segment_samples(self) -> int:
        """The shortest slice that gives one mel frame and one content frame."""
        content_16k = self.features.content_model.config.receptive_field
        return max(self.vocoder.config.hop_length, -(-content_16k * SAMPLE_RATE // 16000))
