"""RVC's update rule (spec 5), RVCTrainTask: generator pass; discriminator loss on (real,
generated.detach()), backward, AdamW step; generator losses with the *updated* discriminator
(adversarial, feature matching ×2, mel L1 ×45, KL ×1), backward, AdamW step; learning rates
×0.999875 per epoch. Its batches and their random draws are timbrel.models.rvc.data's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from timbrel.features.spectrogram import TrainSpectrogram, TrainSpectrogramConfig
from timbrel.models.rvc.discriminator import MultiPeriodDiscriminator
from timbrel.models.rvc.losses import discriminator_loss, feature_loss, generator_loss, kl_loss
from timbrel.models.rvc.optim import RVCOptimConfig, adamw, exponential_lr
from timbrel.models.rvc.synthesizer import Synthesizer, slice_segments
from timbrel.nn.step_context import StepContext


@dataclass(frozen=True)
class Generated:
    """One generator pass. audio (b, 1, segment_samples); y_mel, y_hat_mel (b, n_mels, segment_frames);
    mel (b, n_mels, t_spec) of the whole items; wave_slice (b, 1, segment_samples)."""

    out: Any
    mel: Tensor
    y_mel: Tensor
    y_hat_mel: Tensor
    wave_slice: Tensor


@dataclass(frozen=True)
class StepLosses:
    """Every loss of one iteration (float32 scalars) and per-sub-discriminator terms."""

    loss_disc: Tensor
    losses_disc_r: list[Tensor]
    losses_disc_g: list[Tensor]
    loss_gen: Tensor
    losses_gen: list[Tensor]
    loss_fm: Tensor
    loss_mel: Tensor
    loss_kl: Tensor
    loss_gen_all: Tensor


def slice_starts(slice_rand: Tensor, spec_lengths: Tensor, segment_frames: int) -> Tensor:
    """slice_rand: (b,) uniform [0, 1) draws -> segment start frames (b,), as the reference's
    floor(U · (spec_lengths - segment_frames + 1))."""
    return (slice_rand * (spec_lengths - segment_frames + 1)).to(torch.long)


class RVCTrainTask:
    """Owns the generator, the discriminator, their AdamW optimizers and ExponentialLR schedulers.

    Batches are ``collate`` outputs on the context's device. Without draws in a batch the step
    is noise-free (segment start 0, posterior mean, clean NSF sine).
    """

    def __init__(
        self,
        generator: Synthesizer,
        discriminator: MultiPeriodDiscriminator,
        spectrogram: TrainSpectrogramConfig,
        context: StepContext | None = None,
        config: RVCOptimConfig = RVCOptimConfig(),
    ):
        self.context = context or StepContext()
        self.config = config
        self.generator = generator
        self.discriminator = discriminator
        self.generator_ddp = self.context.wrap(generator)
        self.discriminator_ddp = self.context.wrap(discriminator)
        self.spectrogram = TrainSpectrogram(spectrogram).to(self.context.device)
        self.hop_length = spectrogram.hop_length
        self.optimizer_g = adamw(generator, config)
        self.optimizer_d = adamw(discriminator, config)
        self.scheduler_g = exponential_lr(self.optimizer_g, config)
        self.scheduler_d = exponential_lr(self.optimizer_d, config)
        self.last: Generated | None = None

    # The pieces of one iteration.

    def generate(self, batch: dict[str, Tensor]) -> Generated:
        segment = self.generator.config.segment_frames
        ids = None
        if "slice_rand" in batch:
            ids = slice_starts(batch["slice_rand"], batch["spec_lengths"], segment)
        with self.context.autocast():
            out = self.generator_ddp(
                batch["phone"],
                batch["phone_lengths"],
                batch.get("pitch"),
                batch.get("pitchf"),
                batch["spec"],
                batch["spec_lengths"],
                batch["sid"],
                ids_slice=ids,
                noise_posterior=batch.get("noise_posterior"),
                noise_nsf=batch.get("noise_nsf"),
            )
        # The mel loss runs in float32 whatever the precision, as the reference's.
        mel = self.spectrogram.spec_to_mel(batch["spec"].float())
        y_mel = slice_segments(mel, out.ids_slice, segment)
        y_hat_mel = self.spectrogram.mel(out.audio.float().squeeze(1))
        samples = out.audio.shape[-1]
        wave_slice = slice_segments(batch["wave"], out.ids_slice * self.hop_length, samples)
        return Generated(out, mel, y_mel, y_hat_mel, wave_slice)

    def discriminator_losses(self, generated: Generated) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        with self.context.autocast():
            d = self.discriminator_ddp(generated.wave_slice, generated.out.audio.detach())
        return discriminator_loss(d.real_scores, d.fake_scores)

    def generator_losses(
        self, generated: Generated
    ) -> tuple[Tensor, list[Tensor], Tensor, Tensor, Tensor, Tensor]:
        out = generated.out
        # The module itself, not its DDP wrapper: only the generator's gradients are wanted here.
        with self.context.autocast():
            d = self.discriminator(generated.wave_slice, out.audio, record_real=False)
        loss_mel = torch.nn.functional.l1_loss(generated.y_mel, generated.y_hat_mel) * self.config.c_mel
        loss_kl = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.y_mask) * self.config.c_kl
        loss_fm = feature_loss(d.real_fmaps, d.fake_fmaps)
        loss_gen, losses_gen = generator_loss(d.fake_scores)
        loss_gen_all = loss_gen + loss_fm + loss_mel + loss_kl
        return loss_gen, losses_gen, loss_fm, loss_mel, loss_kl, loss_gen_all

    def losses(self, batch: dict[str, Tensor]) -> tuple[Generated, StepLosses]:
        """Every loss of an iteration with the current discriminator for both passes, no update."""
        generated = self.generate(batch)
        loss_disc, r, g = self.discriminator_losses(generated)
        return generated, StepLosses(loss_disc, r, g, *self.generator_losses(generated))

    # TrainTask

    def step(self, batch: dict[str, Tensor], step: int) -> dict[str, float]:
        """One iteration in the reference's order -> losses, grad norms (on optimizer steps), lr."""
        ctx = self.context
        self.generator.train()
        self.discriminator.train()
        generated = self.generate(batch)
        loss_disc, losses_r, losses_g = self.discriminator_losses(generated)
        if ctx.first_micro_step:
            self.optimizer_d.zero_grad()
        with ctx.sync(self.discriminator_ddp):
            ctx.backward(loss_disc)
        figures: dict[str, float] = {}
        if ctx.last_micro_step:
            figures["grad_norm_d"] = ctx.optimizer_step(
                self.optimizer_d, list(self.discriminator.parameters())
            )
        loss_gen, losses_gen, loss_fm, loss_mel, loss_kl, loss_gen_all = self.generator_losses(generated)
        if ctx.first_micro_step:
            self.optimizer_g.zero_grad()
        parameters = list(self.generator.parameters())
        with ctx.sync(self.generator_ddp):
            ctx.backward(loss_gen_all, inputs=[p for p in parameters if p.requires_grad])
        if ctx.last_micro_step:
            figures["grad_norm_g"] = ctx.optimizer_step(self.optimizer_g, parameters)
            ctx.update()
        self.last = generated
        figures.update(
            loss_disc=loss_disc.item(),
            loss_gen=loss_gen.item(),
            loss_fm=loss_fm.item(),
            loss_mel=loss_mel.item(),
            loss_kl=loss_kl.item(),
            loss_gen_all=loss_gen_all.item(),
            learning_rate=self.optimizer_g.param_groups[0]["lr"],
        )
        for i, (r, g, gen) in enumerate(zip(losses_r, losses_g, losses_gen, strict=True)):
            figures[f"loss_disc_r/{i}"] = r.item()
            figures[f"loss_disc_g/{i}"] = g.item()
            figures[f"loss_gen/{i}"] = gen.item()
        return figures

    def end_epoch(self, epoch: int) -> None:
        """The per-epoch learning-rate decay."""
        self.scheduler_g.step()
        self.scheduler_d.step()

    def media(self) -> dict[str, dict[str, Any]]:
        """From the last step's first item: mel images (n_mels, frames) and the generated audio."""
        if self.last is None:
            return {"images": {}, "audio": {}}
        g = self.last
        return {
            "images": {
                "slice/mel_org": g.y_mel[0].detach().float().cpu().numpy(),
                "slice/mel_gen": g.y_hat_mel[0].detach().float().cpu().numpy(),
                "all/mel": g.mel[0].detach().float().cpu().numpy(),
            },
            "audio": {
                "slice/audio_gen": (
                    g.out.audio[0, 0].detach().float().cpu().numpy(),
                    self.generator.sample_rate,
                ),
                "slice/audio_org": (
                    g.wave_slice[0, 0].detach().float().cpu().numpy(),
                    self.generator.sample_rate,
                ),
            },
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "scheduler_g": self.scheduler_g.state_dict(),
            "scheduler_d": self.scheduler_d.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.scheduler_g.load_state_dict(state["scheduler_g"])
        self.scheduler_d.load_state_dict(state["scheduler_d"])
