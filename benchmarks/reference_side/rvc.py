"""The RVC WebUI's side of benchmarks/versus_rvc.py: its own loaders, pipeline, extraction script and
training modules, driven from outside. Runs in the reference's Python with its tree as the working
directory (see __main__.py); it never imports timbrel.

Stages are timed by hooks on the reference's modules and optimizers, and by the pipeline's own
``times`` list (its f0 time); random draws are zeros (fixtures/make/common.py Noise)."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from fixtures.make.common import Noise

from benchmarks.reference_side.clock import StageClock

CPU_CHUNKING = dict(x_pad=1, x_query=6, x_center=38, x_max=41)  # configs/config.py, fp32 on a CPU


def use_hubert_folder(folder: str) -> None:
    """infer/hubert.py reads assets/hubert_base/: point it at the folder Timbrel wrote."""
    import infer.hubert

    infer.hubert.HUBERT_MODEL_PATH = Path(folder).resolve()
    infer.hubert.hubert_audio_requires_normalization.cache_clear()


def conversion(
    model: str,
    hubert: str,
    index: str,
    audio: str,
    f0_method: str,
    index_rate: float,
    protect: float,
    rms_mix_rate: float,
) -> Callable[[Path], dict[str, float]]:
    """infer/vc/modules.py VC.get_vc's loading, then Pipeline.pipeline as vc_single calls it."""
    from infer.hubert import load_hubert_model
    from infer.module.models import SynthesizerTrnMs768NSFsid
    from infer.vc.pipeline import Pipeline

    use_hubert_folder(hubert)
    hubert_model = load_hubert_model("cpu")
    checkpoint = torch.load(model, map_location="cpu")
    tgt_sr = checkpoint["config"][-1]
    checkpoint["config"][-3] = checkpoint["weight"]["emb_g.weight"].shape[0]
    net_g = SynthesizerTrnMs768NSFsid(*checkpoint["config"], is_half=False)
    del net_g.enc_q
    net_g.load_state_dict(checkpoint["weight"], strict=False)
    net_g = net_g.eval().float()
    pipeline = Pipeline(tgt_sr, SimpleNamespace(**CPU_CHUNKING, is_half=False, device="cpu"))
    samples = np.load(audio).astype(np.float32)
    samples /= max(1.0, np.abs(samples).max() / 0.95)  # vc_single's input guard
    clock = StageClock()
    clock.time_module("content", hubert_model)
    for stage, module in (("text encoder", net_g.enc_p), ("flow", net_g.flow), ("decoder", net_g.dec)):
        clock.time_module(stage, module)

    def run_round(output: Path) -> dict[str, float]:
        clock.restart()
        times = [0.0, 0.0, 0.0]
        with Noise("zero").active():
            converted = pipeline.pipeline(
                hubert_model,
                net_g,
                0,
                samples.copy(),
                times,
                0,
                f0_method,
                index,
                index_rate,
                1,
                tgt_sr,
                tgt_sr,
                rms_mix_rate,
                "v2",
                protect,
            )
        np.save(output, converted)
        return {"pitch": times[1], **clock.seconds}

    return run_round


def extract(experiment: str, hubert: str) -> Callable[[Path], dict[str, float]]:
    """train/dataset/extract_hubert_feature.py on the experiment folder, one process part on the
    CPU, as the WebUI starts it (model load included)."""
    use_hubert_folder(hubert)
    root = Path(experiment)
    features = root / "3_feature768"
    script = Path("train/dataset/extract_hubert_feature.py").resolve()

    def run_round(output: Path) -> dict[str, float]:
        shutil.rmtree(features, ignore_errors=True)  # the script skips pieces already written
        saved_argv = sys.argv
        sys.argv = [str(script), "cpu", "1", "0", str(root), "v2", "False"]
        try:
            runpy.run_path(str(script), run_name="__main__")
        finally:
            sys.argv = saved_argv
        np.save(output, np.concatenate([np.load(p) for p in sorted(features.glob("*.npy"))]))
        return {}

    return run_round


def training_step(
    config: str, generator: str, discriminator: str, batch: str
) -> Callable[[Path], dict[str, float]]:
    """One iteration of train/train.py's loop (fixtures/make/rvc_train.py's sequence of its calls,
    fp32 so the GradScaler is off) with v2's classes and the pretrained-file loading."""
    from fixtures.make.rvc_train import Namespace, iteration
    from infer.module.models import MultiPeriodDiscriminatorV2, SynthesizerTrnMs768NSFsid

    hps = Namespace(json.loads(Path(config).read_text()))
    d, t = hps.data, hps.train
    net_g = SynthesizerTrnMs768NSFsid(
        d.filter_length // 2 + 1,
        t.segment_size // d.hop_length,
        **hps.model,
        is_half=False,
        sr=d.sampling_rate,
    )
    net_d = MultiPeriodDiscriminatorV2(hps.model.use_spectral_norm)
    net_g.load_state_dict(torch.load(generator, map_location="cpu")["model"])
    net_d.load_state_dict(torch.load(discriminator, map_location="cpu")["model"])
    net_g.train()
    net_d.train()
    optim_g = torch.optim.AdamW(net_g.parameters(), t.learning_rate, betas=t.betas, eps=t.eps)
    optim_d = torch.optim.AdamW(net_d.parameters(), t.learning_rate, betas=t.betas, eps=t.eps)
    inputs = torch.load(batch)
    clock = StageClock()
    clock.time_training_step(net_d, optim_d, optim_g)
    first_losses: list[np.ndarray] = []

    def run_round(output: Path) -> dict[str, float]:
        clock.restart()
        losses = iteration(hps, net_g, net_d, inputs, Noise("zero"), optim_d=optim_d, optim_g=optim_g)[
            "losses"
        ]
        if not first_losses:  # later rounds start from stepped weights: the first step is compared
            first_losses.append(np.array([losses[name] for name in LOSS_NAMES]))
        np.save(output, first_losses[0])
        return dict(clock.seconds)

    return run_round


LOSS_NAMES = ("loss_disc", "loss_gen", "loss_fm", "loss_mel", "loss_kl", "loss_gen_all")
WORKLOADS = {"conversion": conversion, "extract": extract, "training_step": training_step}
