"""RIFT speed: DiT sampling steps, the vocoder, feature extraction and whole conversions (random weights,
real sizes, fp32, CPU).

Baselines measured in this run: the machine's fp32 matmul peak (4096 x 4096), against which the DiT's
achieved GFLOP/s are put, and the sequential guidance branches, against which the batched ones are put.
RIFT-SVC itself is measured side by side with Timbrel in the group versus_rift; no reference figure
from elsewhere is printed here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from benchmarks.memory import peak_rss_mb
from benchmarks.reference import NOT_MEASURED
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.extract_rift import RIFTFeatureModels, utterance_features
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.guidance import Guidance, GuidedVelocity, SequentialGuidedVelocity
from timbrel.models.rift.pipeline import RIFTConvertOptions, RIFTNoise, RIFTVoice
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig
from timbrel.weights.rmvpe import rmvpe_from_state_dict

SAMPLE_RATE = 44100
HOP_LENGTH = 512
SEE_VERSUS = f"{NOT_MEASURED} (see versus_rift)"
ALL_CFG = Guidance(ds_strength=0.2, speaker_strength=0.8, skip_strength=0.3, skip_layers=(3,), rescale=0.7)


def best_of(repeats: int, function: Callable[[], object]) -> float:
    """The fastest of `repeats` timed calls, in seconds (on a shared machine the minimum is least noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak_gflops(size: int = 4096, repeats: int = 3) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    return 2 * size**3 / best_of(repeats, lambda: torch.matmul(a, b)) / 1e9


def dit_gflop(config: DiTConfig, n_frames: int, batch: int = 1) -> float:
    """Multiply-adds ×2 of one velocity evaluation: linear layers, attention scores and mixing, the
    depthwise conv, the input embedding and the output layer (per-segment conditioning excluded)."""
    d, n = config.dim, n_frames
    linear = (4 + 2 * config.ff_mult) * 2 * n * d * d
    attention = 4 * n * n * d
    conv = 2 * n * d * config.kernel_size
    per_block = linear + attention + conv
    embed = 2 * n * (config.n_mels * d + 2 * d * d) + 2 * n * d * config.n_mels
    return batch * (config.depth * per_block + embed) / 1e9


def _segment_inputs(config: DiTConfig, n_frames: int) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "speaker": torch.zeros(1, dtype=torch.long),
        "f0_hz": 200 + 100 * torch.rand(1, n_frames, generator=g),
        "rms": 0.1 * torch.rand(1, n_frames, generator=g),
        "content": torch.randn(1, n_frames, config.content_dim, generator=g),
        "bad_content": torch.randn(1, n_frames, config.content_dim, generator=g),
    }


@torch.inference_mode()
def sampling_step_times(preset: str, seconds: float, repeats: int, peak: float) -> dict:
    """Seconds per sampling step (one velocity evaluation with its guidance) on one segment."""
    config = DiTConfig.preset(preset)
    dit = DiT(config).eval()
    n_frames = int(seconds * SAMPLE_RATE) // HOP_LENGTH
    inputs = _segment_inputs(config, n_frames)
    y = torch.randn(1, n_frames, config.n_mels)
    t = torch.tensor(0.5)
    results = {}
    cases = {
        "nocfg": (GuidedVelocity, Guidance()),
        "allcfg_batched": (GuidedVelocity, ALL_CFG),
        "allcfg_sequential": (SequentialGuidedVelocity, ALL_CFG),
    }
    for name, (kind, guidance) in cases.items():
        velocity = kind(dit, guidance=guidance, **inputs)
        velocity(t, y)
        results[f"{name}_s_per_step"] = best_of(repeats, lambda velocity=velocity: velocity(t, y))
    gflop = dit_gflop(config, n_frames)
    results["gflop_per_eval"] = gflop
    results["nocfg_gflops"] = gflop / results["nocfg_s_per_step"]
    results["nocfg_fraction_of_peak"] = results["nocfg_gflops"] / peak
    results["batched_over_sequential"] = (
        results["allcfg_sequential_s_per_step"] / results["allcfg_batched_s_per_step"]
    )
    return results


@torch.inference_mode()
def vocoder_rtf(seconds: float, repeats: int) -> float:
    vocoder = NsfHifiGan(NsfHifiGanConfig()).eval()
    n_frames = int(seconds * SAMPLE_RATE) // HOP_LENGTH
    mel = torch.randn(1, 128, n_frames) - 5
    f0_hz = torch.full((1, n_frames), 220.0)
    draws = vocoder.source_draws(f0_hz, generator=torch.Generator().manual_seed(0))
    vocoder(mel, f0_hz, draws)
    return best_of(repeats, lambda: vocoder(mel, f0_hz, draws)) / (n_frames * HOP_LENGTH / SAMPLE_RATE)


def extraction_speed(seconds: float) -> dict:
    """Audio-seconds per wall-second of the training f0 and cvec files (full-size random models)."""
    samples = torch.from_numpy(sing_recording(SINGERS[0], seconds, SAMPLE_RATE, seed=1).mono.copy())[None]
    models = RIFTFeatureModels(
        HubertModel(HubertConfig.base()).eval(), RmvpeExtractor(E2E(E2EConfig()), RmvpeConfig.rift())
    )
    results = {}
    for feature in ("f0", "cvec"):
        elapsed = best_of(1, lambda feature=feature: utterance_features(samples, models, (feature,)))
        results[f"extract_{feature}_audio_s_per_s"] = seconds / elapsed
    return results


def conversion_rtf(preset: str, seconds: float, steps: int, guidance_on: bool) -> float:
    """Whole conversion (slice, features, sampling, vocoder, assembly) of synthetic singing: wall/audio s."""
    voice, audio, options = _conversion(preset, seconds, steps, guidance_on)
    start = time.perf_counter()
    voice.convert(audio, options, RIFTNoise(generator=torch.Generator().manual_seed(0)))
    return (time.perf_counter() - start) / seconds


def _conversion(preset: str, seconds: float, steps: int, guidance_on: bool):
    """A full-size voice of random weights, ``seconds`` of synthetic singing and the options."""
    torch.manual_seed(0)
    dit = DiT(DiTConfig.preset(preset, num_speakers=1)).eval()
    voice = RIFTVoice(
        dit,
        {"singer": 0},
        NsfHifiGan(NsfHifiGanConfig()).eval(),
        HubertModel(HubertConfig.base()).eval(),
        RmvpeExtractor(_released_rmvpe(), RmvpeConfig.rift()),
    )
    audio = sing_recording(SINGERS[1], seconds, SAMPLE_RATE, seed=2)
    options = RIFTConvertOptions(
        infer_steps=steps,
        ds_cfg_strength=0.2 if guidance_on else 0.0,
        spk_cfg_strength=0.8 if guidance_on else 0.0,
        skip_cfg_strength=0.3 if guidance_on else 0.0,
        cfg_skip_layers=3 if guidance_on else None,
    )
    return voice, audio, options


def _released_rmvpe() -> E2E:
    """Full-size RMVPE as load_rift_voice holds the released model.pt (float16 on disk, 181 MB): its
    convolutions stay float16."""
    state = E2E(E2EConfig()).state_dict()
    return rmvpe_from_state_dict(
        {k: v.half() if v.is_floating_point() else v for k, v in state.items()}, float16_convolutions=True
    )


def conversion_peak_rss_mb(minutes: int) -> float:
    """Peak resident memory of a fresh process converting ``minutes`` of singing with dit-768-12
    (2 steps: memory does not grow with the step count, the segment is what is alive)."""
    return peak_rss_mb(
        "import torch; from benchmarks.rift import _conversion; from timbrel.models.rift.pipeline import "
        f"RIFTNoise; v, a, o = _conversion('dit-768-12', {minutes * 60}, 2, False);"
        "v.convert(a, o, RIFTNoise(generator=torch.Generator().manual_seed(0)))"
    )


def run(quick: bool = False) -> dict:
    seconds = 3.0 if quick else 30.0
    repeats = 1 if quick else 2
    print(
        f"torch threads: {torch.get_num_threads()}; the machine may be shared, figures are minima of repeats"
    )
    peak = matmul_peak_gflops(repeats=2 if quick else 3)
    results: dict = {"matmul_fp32_peak_gflops": peak, "dit_input_s": seconds}
    print(f"fp32 matmul peak (4096x4096): {peak:.0f} GFLOP/s")
    for preset in ("dit-512-8", "dit-768-12"):
        r = sampling_step_times(preset, seconds, repeats, peak)
        results[preset] = r
        print(
            f"{preset}, {seconds:.0f} s: no CFG {r['nocfg_s_per_step']:.2f} s/step "
            f"({r['nocfg_gflops']:.0f} GFLOP/s = {100 * r['nocfg_fraction_of_peak']:.0f}% of peak); "
            f"ds+spk+skip CFG batched {r['allcfg_batched_s_per_step']:.2f} s/step, "
            f"sequential {r['allcfg_sequential_s_per_step']:.2f} s/step "
            f"({r['batched_over_sequential']:.2f}x)",
            flush=True,
        )
    if not quick:
        print(f"dit-768-12 30 s evaluation: {SEE_VERSUS}")
    vocoder_seconds = 2.0 if quick else 10.0
    results["vocoder_rtf"] = vocoder_rtf(vocoder_seconds, repeats)
    print(f"NSF-HiFiGAN (full size), {vocoder_seconds:.0f} s: RTF {results['vocoder_rtf']:.3f}", flush=True)
    results.update(extraction_speed(5.0 if quick else 30.0))
    for feature in ("f0", "cvec"):
        ours = results[f"extract_{feature}_audio_s_per_s"]
        print(f"extract {feature}: {ours:.1f} audio-s/s; {SEE_VERSUS}", flush=True)
    if quick:
        rtf = conversion_rtf("dit-512-8", 4.0, 2, False)
        results["conversion_4s_2steps_nocfg_rtf_512"] = rtf
        print(f"conversion 4 s, dit-512-8, 2 steps (1 evaluation), no CFG: RTF {rtf:.2f}")
    else:
        rtf = conversion_rtf("dit-768-12", 10.0, 8, False)
        results["conversion_10s_8steps_nocfg_rtf"] = rtf
        print(f"conversion 10 s, dit-768-12, 8 steps, no CFG: RTF {rtf:.2f}; {SEE_VERSUS}")
        rtf = conversion_rtf("dit-768-12", 10.0, 8, True)
        results["conversion_10s_8steps_allcfg_rtf"] = rtf
        print(f"conversion 10 s, dit-768-12, 8 steps, ds+spk+skip CFG: RTF {rtf:.2f}", flush=True)
    return results
