"""The RVC synthesizer: prior encoder, flow and decoder (plus the posterior encoder for training).

One class covers the reference's four (SynthesizerTrnMs{256,768}NSFsid{,_nono}); the config's
``version`` and ``use_f0`` pick the variant. Parameter names equal the reference's, so a
reference state dict loads with ``strict=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.flow import ResidualCouplingBlock
from timbrel.models.rvc.generator import Generator
from timbrel.models.rvc.posterior_encoder import PosteriorEncoder
from timbrel.models.rvc.text_encoder import TextEncoder

PRIOR_TEMPERATURE = 0.66666  # the reference's constant, written this way


@dataclass(frozen=True)
class SynthesisTrace:
    """Every stage of one ``infer`` call, for inspection and parity tests.

    m_p, logs_p: (b, inter, t_p); x_mask: (b, 1, t_dec); z_p: (b, inter, t_p); z, dec_in:
    (b, inter, t_dec); har_source: (b, 1, t_dec * upp) or None (no-f0); audio: (b, 1, n_out * upp).
    """

    m_p: Tensor
    logs_p: Tensor
    x_mask: Tensor
    z_p: Tensor
    z: Tensor
    dec_in: Tensor
    har_source: Tensor | None
    audio: Tensor


@dataclass(frozen=True)
class TrainingOutput:
    """audio: (b, 1, segment_frames * upp); ids_slice: (b,) start frame of each slice; masks (b, 1, t);
    z, z_p, m_q, logs_q: (b, inter, t_spec); m_p, logs_p: (b, inter, t_phone)."""

    audio: Tensor
    ids_slice: Tensor
    x_mask: Tensor
    y_mask: Tensor
    z: Tensor
    z_p: Tensor
    m_p: Tensor
    logs_p: Tensor
    m_q: Tensor
    logs_q: Tensor


class Synthesizer(nn.Module):
    """enc_p, flow, dec, emb_g and (``with_posterior``) enc_q.

    Randomness: every draw the reference makes inside the model comes here from an explicit
    tensor, else from ``generator``, else is zero (deterministic mode).
    """

    def __init__(self, config: SynthesizerConfig, with_posterior: bool = True):
        super().__init__()
        self.config = config
        c = config

        def text_encoder() -> TextEncoder:
            return TextEncoder(
                c.content_dim,
                c.inter_channels,
                c.hidden_channels,
                c.filter_channels,
                c.n_heads,
                c.n_layers,
                c.kernel_size,
                c.use_f0,
            )

        # Registration order decides state-dict order. The reference's v2 classes replace enc_p
        # after building everything, so their files list enc_p last; v1 files list it first.
        if c.version == "v1":
            self.enc_p = text_encoder()
        self.dec = Generator(c)
        self.enc_q = (
            PosteriorEncoder(c.spec_channels, c.inter_channels, c.hidden_channels, c.gin_channels)
            if with_posterior
            else None
        )
        self.flow = ResidualCouplingBlock(c.inter_channels, c.hidden_channels, c.gin_channels)
        self.emb_g = nn.Embedding(c.n_speakers, c.gin_channels)
        if c.version == "v2":
            self.enc_p = text_encoder()

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def speaker_embedding(self, speaker: Tensor) -> Tensor:
        """speaker: (b,) int64 ids < n_speakers -> g (b, gin, 1)."""
        return self.emb_g(speaker)[..., None]

    def infer(
        self,
        content: Tensor,
        content_lengths: Tensor,
        pitch: Tensor | None,
        f0_hz: Tensor | None,
        speaker: Tensor,
        *,
        skip_head: int = 0,
        return_length: int | None = None,
        return_length2: int | None = None,
        noise_prior: Tensor | None = None,
        noise_nsf: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> SynthesisTrace:
        """Synthesize: content (b, t, content_dim), content_lengths (b,), pitch (b, t) coarse int64
        and f0_hz (b, t) Hz (both None for no-f0 models), speaker (b,) -> trace, audio (b, 1, n).

        Offline (``return_length`` None): n = t * upp. Realtime form: the encoder sees all t
        frames, the flow the frames from ``max(skip_head - 24, 0)``, the decoder ``return_length``
        frames from ``skip_head``, resized to ``return_length2`` frames (formant shift) when given.
        noise_prior: (b, inter, t_p) standard normal draws for the prior sample (t_p = t - flow
        head); noise_nsf: (b, t_dec * upp) for the NSF source (t_dec = t, or return_length);
        missing draws come from ``generator``, or are zeros without one.
        """
        if self.config.use_f0 and (pitch is None or f0_hz is None):
            raise ValueError("this synthesizer uses pitch: pass pitch (b, t) and f0_hz (b, t)")
        g = self.speaker_embedding(speaker)
        if return_length is None:
            flow_head, dec_head = 0, 0
        else:
            flow_head = max(skip_head - 24, 0)
            dec_head = skip_head - flow_head
        m_p, logs_p, x_mask = self.enc_p(
            content, pitch if self.config.use_f0 else None, content_lengths, flow_head
        )
        if noise_prior is None and generator is not None:
            noise_prior = torch.randn(m_p.shape, generator=generator, device=m_p.device, dtype=m_p.dtype)
        if noise_prior is None:
            z_p = m_p * x_mask
        else:
            z_p = (m_p + torch.exp(logs_p) * noise_prior * PRIOR_TEMPERATURE) * x_mask
        z = self.flow(z_p, x_mask, g, reverse=True)
        if return_length is not None:
            z = z[:, :, dec_head : dec_head + return_length]
            x_mask = x_mask[:, :, dec_head : dec_head + return_length]
            if f0_hz is not None:
                f0_hz = f0_hz[:, skip_head : skip_head + return_length]
        dec_in = z * x_mask
        har_source = self.dec.source(f0_hz, noise_nsf, generator) if self.config.use_f0 else None
        audio = self.dec(dec_in, g, n_frames=return_length2, har_source=har_source)
        return SynthesisTrace(m_p, logs_p, x_mask, z_p, z, dec_in, har_source, audio)

    def forward(
        self,
        content: Tensor,
        content_lengths: Tensor,
        pitch: Tensor | None,
        f0_hz: Tensor | None,
        spec: Tensor,
        spec_lengths: Tensor,
        speaker: Tensor,
        *,
        ids_slice: Tensor | None = None,
        noise_posterior: Tensor | None = None,
        noise_nsf: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> TrainingOutput:
        """Training pass: content (b, t, content_dim), pitch/f0_hz (b, t) (None for no-f0), spec
        (b, spec_channels, t), lengths (b,), speaker (b,) -> audio of one random segment per item.

        ids_slice: (b,) segment start frames; when None, drawn uniformly from
        [0, spec_lengths - segment_frames] with ``generator`` (0 without one).
        noise_posterior: (b, inter, t) for enc_q's sample; noise_nsf: (b, segment_frames * upp).
        """
        if self.enc_q is None:
            raise ValueError(
                "this synthesizer was built without the posterior encoder (with_posterior=False)"
            )
        g = self.speaker_embedding(speaker)
        m_p, logs_p, x_mask = self.enc_p(content, pitch if self.config.use_f0 else None, content_lengths)
        if noise_posterior is None and generator is not None:
            noise_posterior = torch.randn(
                (spec.shape[0], self.config.inter_channels, spec.shape[-1]),
                generator=generator,
                device=spec.device,
                dtype=spec.dtype,
            )
        z, m_q, logs_q, y_mask = self.enc_q(spec, spec_lengths, g, noise_posterior)
        z_p = self.flow(z, y_mask, g)
        segment = self.config.segment_frames
        if ids_slice is None:
            if generator is None:
                ids_slice = torch.zeros_like(spec_lengths)
            else:
                draw = torch.rand(spec_lengths.shape, generator=generator, device=spec.device)
                ids_slice = (draw * (spec_lengths - segment + 1)).to(torch.long)
        z_slice = slice_segments(z, ids_slice, segment)
        f0_slice = slice_segments(f0_hz[:, None], ids_slice, segment)[:, 0] if self.config.use_f0 else None
        audio = self.dec(z_slice, g, f0_slice, noise=noise_nsf, generator=generator)
        return TrainingOutput(audio, ids_slice, x_mask, y_mask, z, z_p, m_p, logs_p, m_q, logs_q)


def slice_segments(x: Tensor, starts: Tensor, length: int) -> Tensor:
    """x: (b, c, t), starts: (b,) -> (b, c, length) with item i taken from starts[i]."""
    index = starts[:, None, None] + torch.arange(length, device=x.device)[None, None, :]
    return torch.gather(x, 2, index.expand(x.shape[0], x.shape[1], length))
