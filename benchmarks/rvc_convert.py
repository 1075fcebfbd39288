"""RVC conversion speed with a full-size v2-40k f0 model (random weights) on synthetic singing.

Baseline in the same run: the same pipeline in the reference's formulation of the parts
reference-speed.md lists exact savings for: weight norm recomputed on every call (not folded
once at load), the text encoder's relative attention through full (t, 2t - 1) tables, and the
decoder's channels-first convolutions over the whole signal with out-of-place activations.
The bf16 row is the opt-in ``precision="bf16"`` (different numbers). The reference itself is
measured beside Timbrel by the versus_rvc group, not here.
Reports the real-time factor per pitch method with and without an index, the time split between
content encoder, text encoder, flow and decoder. Peak memory for long inputs: the memory group.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.memory import peak_rss_mb
from benchmarks.reference import NOT_MEASURED
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.pitch import registry
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.models.rvc.attention import RelativeSelfAttention
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.generator import Generator
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.models.rvc.retrieval import build_index
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.nn.hifigan import LRELU_SLOPE
from timbrel.nn.legacy_weight_norm import remove_weight_norm
from timbrel.weights.fcpe import fcpe_extractor

ROUNDS = 2


def reference_attention(self: RelativeSelfAttention, x: torch.Tensor, key_mask=None) -> torch.Tensor:
    """The reference's formulation: (t, 2t - 1) relative tables moved by pad and reshape."""
    b, c, t = x.shape
    h, d, w = self.n_heads, self.head_dim, self.window_size

    def heads(y):
        return y.view(b, h, d, t).transpose(2, 3)

    def table(emb):
        pad, start = max(t - (w + 1), 0), max((w + 1) - t, 0)
        padded = F.pad(emb, (0, 0, pad, pad)) if pad > 0 else emb
        return padded[:, start : start + 2 * t - 1]

    q, k, v = heads(self.conv_q(x)) / math.sqrt(d), heads(self.conv_k(x)), heads(self.conv_v(x))
    scores = torch.matmul(q, k.transpose(-2, -1))
    rel = torch.matmul(q, table(self.emb_rel_k).unsqueeze(0).transpose(-2, -1))
    rel = F.pad(rel, (0, 1)).view(b, h, t * 2 * t)
    rel = F.pad(rel, (0, t - 1)).view(b, h, t + 1, 2 * t - 1)[:, :, :t, t - 1 :]
    scores = scores + rel
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], -1e4)
    p = torch.softmax(scores, dim=-1)
    out = torch.matmul(p, v)
    p_rel = F.pad(p, (0, t - 1)).view(b, h, t * t + t * (t - 1))
    p_rel = F.pad(p_rel, (t, 0)).view(b, h, t, 2 * t)[:, :, :, 1:]
    out = out + torch.matmul(p_rel, table(self.emb_rel_v).unsqueeze(0))
    return self.conv_o(out.transpose(2, 3).reshape(b, c, t))


def _reference_decoder(
    self: Generator, x, g, f0_hz=None, n_frames=None, noise=None, generator=None, har_source=None
):
    """The reference's decoder formulation: (b, c, n) convolutions, a new tensor per op."""
    if self.m_source is not None and har_source is None:
        har_source = self.source(f0_hz, noise, generator)
    if n_frames is not None and n_frames != x.shape[-1]:
        x = F.interpolate(x, size=n_frames, mode="linear")
        if har_source is not None:
            har_source = F.interpolate(har_source, size=n_frames * self.upsample_factor, mode="linear")
    x = self.conv_pre(x) + self.cond(g)
    for i, up in enumerate(self.ups):
        x = up(F.leaky_relu(x, LRELU_SLOPE))
        if self.noise_convs is not None:
            x = x + self.noise_convs[i](har_source)
        xs = None
        for block in self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]:
            y = x
            for c1, c2 in zip(block.convs1, block.convs2, strict=True):
                y = c2(F.leaky_relu(c1(F.leaky_relu(y, LRELU_SLOPE)), LRELU_SLOPE)) + y
            xs = y if xs is None else xs + y
        x = xs / self.num_kernels
    return torch.tanh(self.conv_post(F.leaky_relu(x)))


@contextlib.contextmanager
def _reference_formulation():
    originals = RelativeSelfAttention.forward, Generator.forward
    RelativeSelfAttention.forward = reference_attention
    Generator.forward = _reference_decoder
    try:
        yield
    finally:
        RelativeSelfAttention.forward, Generator.forward = originals


class _StageTimer:
    """Wall time spent inside named modules (forward hooks)."""

    def __init__(self, modules: dict[str, torch.nn.Module]):
        self.seconds: dict[str, float] = defaultdict(float)
        self._started: dict[str, float] = {}
        for name, module in modules.items():
            module.register_forward_pre_hook(
                lambda m, a, name=name: self._started.__setitem__(name, time.perf_counter())
            )
            module.register_forward_hook(lambda m, a, o, name=name: self._add(name))

    def _add(self, name: str) -> None:
        self.seconds[name] += time.perf_counter() - self._started[name]


def _models(fold: bool) -> tuple[Synthesizer, HubertModel]:
    torch.manual_seed(0)
    synthesizer = Synthesizer(SynthesizerConfig.preset("v2", 40000, True), with_posterior=False).eval()
    if fold:
        remove_weight_norm(synthesizer)
    content = HubertModel(HubertConfig.base()).eval()
    return synthesizer, content


def _pitch(rmvpe: E2E):
    fcpe = fcpe_extractor()

    def provider(method: str):
        if method == "rmvpe":
            return registry.create("rmvpe", network=rmvpe)
        if method == "fcpe":
            return fcpe
        return registry.create(method)

    return provider


def _time_conversion(voice: RVCVoice, audio: np.ndarray, options: RVCConvertOptions) -> float:
    return _wall_and_cpu(voice, audio, options)[0]


def _wall_and_cpu(voice: RVCVoice, audio: np.ndarray, options: RVCConvertOptions) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds. Under other processes' load the CPU time
    tracks the work done far more steadily than the wall time does."""
    start, start_cpu = time.perf_counter(), time.process_time()
    voice.convert_16k(audio, options)
    return time.perf_counter() - start, time.process_time() - start_cpu


def run(quick: bool = False) -> dict:
    torch.set_num_threads(2)
    seconds = 10.0 if quick else 30.0
    audio = sing_recording(SINGERS[0], seconds, 16000, seed=3).mono
    rmvpe = E2E(E2EConfig()).eval()
    index = build_index(np.random.default_rng(0).standard_normal((20000, 768)).astype(np.float32))[1]
    results: dict = {"audio_s": seconds}

    synthesizer, content = _models(fold=True)
    voice = RVCVoice(synthesizer, content, _pitch(rmvpe), index)
    timer = _StageTimer(
        {
            "content": content,
            "text_encoder": synthesizer.enc_p,
            "flow": synthesizer.flow,
            "decoder": synthesizer.dec,
        }
    )
    methods = ("pm",) if quick else ("pm", "rmvpe", "fcpe")
    for method in methods:
        for index_rate in (0.0, 0.5):
            options = RVCConvertOptions(f0_method=method, index_rate=index_rate)
            voice.index = index if index_rate else None
            _time_conversion(voice, audio[:16000], options)  # warm-up
            timer.seconds.clear()
            elapsed = _time_conversion(voice, audio, options)
            key = f"{method}_index_{index_rate}"
            results[key] = {"rtf": elapsed / seconds, "split_s": dict(timer.seconds), "total_s": elapsed}
            split = ", ".join(f"{name} {value:.1f} s" for name, value in timer.seconds.items())
            print(f"{key}: RTF {elapsed / seconds:.2f} ({elapsed:.1f} s; {split})", flush=True)

    # The shared machine's load changes by the minute, so the three pm/index-0.5 variants take
    # turns, and each keeps its fastest round.
    baseline_synth, baseline_content = _models(fold=False)
    baseline = RVCVoice(baseline_synth, baseline_content, _pitch(rmvpe), index)
    voice.index = index
    plain = RVCConvertOptions(f0_method="pm", index_rate=0.5)
    bf16 = RVCConvertOptions(f0_method="pm", index_rate=0.5, precision="bf16")

    def ours(options):
        return lambda clip: _wall_and_cpu(voice, clip, options)

    def reference(clip):
        with _reference_formulation():
            return _wall_and_cpu(baseline, clip, plain)

    variants = {"ours": ours(plain), "reference formulation": reference, "bf16": ours(bf16)}
    best = {name: math.inf for name in variants}
    best_cpu = dict(best)
    for run_once in variants.values():
        run_once(audio[:16000])
    for _ in range(ROUNDS):
        for name, run_once in variants.items():
            wall, cpu = run_once(audio)
            best[name], best_cpu[name] = min(best[name], wall), min(best_cpu[name], cpu)
    ours_s, baseline_s, bf16_s = best["ours"], best["reference formulation"], best["bf16"]
    results["cpu_s"] = best_cpu
    print(
        "CPU seconds (both threads): "
        + ", ".join(f"{name} {value:.1f}" for name, value in best_cpu.items())
        + f" -> ours {best_cpu['reference formulation'] / best_cpu['ours']:.2f}x, "
        f"bf16 {best_cpu['reference formulation'] / best_cpu['bf16']:.2f}x the reference formulation",
        flush=True,
    )
    results["pm_index_0.5_alternating_s"] = ours_s
    results["baseline_pm_index_0.5_s"] = baseline_s
    results["speedup_vs_baseline"] = baseline_s / ours_s
    results["pm_index_0.5_bf16_s"] = bf16_s
    results["bf16_speedup_vs_baseline"] = baseline_s / bf16_s
    print(
        f"pm, index 0.5, best of {ROUNDS} alternating rounds: ours {ours_s:.1f} s vs reference "
        f"formulation {baseline_s:.1f} s -> {baseline_s / ours_s:.2f}x; {NOT_MEASURED} (see versus_rvc)",
        flush=True,
    )
    print(
        f"pm, index 0.5, precision bf16 (opt-in, other numbers): {bf16_s:.1f} s "
        f"-> {baseline_s / bf16_s:.2f}x the reference formulation, {ours_s / bf16_s:.2f}x fp32",
        flush=True,
    )
    return results


def conversion_peak_rss_mb(minutes: int) -> float:
    """Peak resident memory of a fresh process converting ``minutes`` of audio (pm, no index),
    holding only the models a pm conversion loads, as the CLI does."""
    return peak_rss_mb(
        "from benchmarks.rvc_convert import _models;"
        "from timbrel.audio.synthesis import SINGERS, sing_recording;"
        "from timbrel.features.pitch import registry;"
        "from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice;"
        "s, c = _models(True); v = RVCVoice(s, c, registry.create, None);"
        f"a = sing_recording(SINGERS[0], {minutes * 60}, 16000, seed=4).mono;"
        "v.convert_16k(a, RVCConvertOptions(f0_method='pm', index_rate=0.0))"
    )
