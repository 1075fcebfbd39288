"""RIFT-SVC workloads, run in the reference's Python from its work tree (never imports timbrel).

Every workload loads the files Timbrel wrote (a Lightning .ckpt, a ``pretrained/`` folder laid out as
infer.py expects it, inputs and random draws as torch files of plain tensors) with the reference's own
code, and returns ``round(output) -> split``. The stages are timed from outside, around the reference's
own functions; the random draws the reference makes inside them are replaced by the given ones.
"""

from __future__ import annotations

import ast
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch


def _shape(args: tuple) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        return tuple(args[0])
    return tuple(int(a) for a in args)


@contextlib.contextmanager
def injected(**values: torch.Tensor) -> Iterator[None]:
    """Make torch.rand / randn / randn_like return the given tensors (shapes checked) in the block."""
    originals = {name: getattr(torch, name) for name in values}

    def give(name: str, value: torch.Tensor) -> Callable[..., torch.Tensor]:
        def draw(*args, **kwargs) -> torch.Tensor:
            shape = tuple(args[0].shape) if name == "randn_like" else _shape(args)
            if shape != tuple(value.shape):
                raise RuntimeError(f"torch.{name}{shape} asked, {tuple(value.shape)} given")
            return value.clone()

        return draw

    for name, value in values.items():
        setattr(torch, name, give(name, value))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(torch, name, original)


def _timed(split: dict[str, float], stage: str, function: Callable, **draws: torch.Tensor) -> Callable:
    def run(*args, **kwargs):
        start = time.perf_counter()
        with injected(**draws):
            result = function(*args, **kwargs)
        split[stage] = split.get(stage, 0.0) + time.perf_counter() - start
        return result

    return run


def _rf_from_checkpoint(checkpoint: str, **rf_options):
    """The DiT as infer.py's load_models builds it: extract_state_dict, then
    DiT(num_speaker=len(spk2idx), **cfg['model']) in RF, loaded strictly."""
    from rift_svc import RF, DiT

    import infer

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state_dict, spk2idx, dit_cfg, _ = infer.extract_state_dict(ckpt)
    rf = RF(transformer=DiT(num_speaker=len(spk2idx), **dit_cfg), **rf_options)
    rf.load_state_dict(state_dict)
    return rf, ckpt["hyper_parameters"]["cfg"]


def dit_evaluation(checkpoint: str, inputs: str) -> Callable[[Path], dict]:
    """One DiT forward (no mask) on the given x, t, f0, rms, cvec and speaker."""
    dit = _rf_from_checkpoint(checkpoint)[0].transformer.eval()
    x = torch.load(inputs, weights_only=True)

    def evaluate() -> torch.Tensor:
        with torch.no_grad():
            return dit(x=x["x"], spk=x["speaker"], f0=x["f0"], rms=x["rms"], cvec=x["cvec"], time=x["t"])

    evaluate()  # warm-up, as Timbrel's side does

    def run_round(output: Path) -> dict:
        start = time.perf_counter()
        out = evaluate()
        seconds = time.perf_counter() - start
        np.save(output, out.numpy())
        return {"evaluation": seconds}

    return run_round


def conversion(folder: str, audio: str, draws: str, guidance: dict, steps: int) -> Callable[[Path], dict]:
    """infer.py's process_segment on one segment, fp32 on the CPU, with infer.py's models loaded by its
    load_models from `folder` (model.ckpt and pretrained/ as the repository keeps them)."""
    import infer

    device = torch.device("cpu")
    here = Path.cwd()
    os.chdir(folder)  # load_models reads pretrained/... relative to the working directory
    try:
        svc_model, vocoder, rmvpe, hubert, rms_extractor, spk2idx, _ = infer.load_models(
            str(Path(folder) / "model.ckpt"), device, use_fp16=False
        )
        vocoder(torch.zeros(1, 128, 2), torch.zeros(1, 2))  # the vocoder loads its weights on first use
    finally:
        os.chdir(here)
    samples = np.load(audio)
    noise = torch.load(draws, weights_only=True)
    split: dict[str, float] = {}
    functions = {
        name: getattr(infer, name) for name in ("extract_features", "run_inference", "generate_audio")
    }
    infer.extract_features = _timed(split, "features", functions["extract_features"])
    infer.run_inference = _timed(split, "sampling", functions["run_inference"], randn=noise["initial"])
    infer.generate_audio = _timed(
        split, "vocoder", functions["generate_audio"], rand=noise["phase"], randn_like=noise["source"]
    )

    def run_round(output: Path) -> dict:
        split.clear()
        out = infer.process_segment(
            samples,
            svc_model,
            vocoder,
            rmvpe,
            hubert,
            rms_extractor,
            next(iter(spk2idx.values())),
            44100,
            512,
            device,
            infer_steps=steps,
            use_fp16=False,
            **guidance,
        )
        np.save(output, np.asarray(out, dtype=np.float64))
        return dict(split)

    return run_round


def training_step(checkpoint: str, batch: str, draws: str) -> Callable[[Path], dict]:
    """RIFTSVCLightningModule.training_step and its optimizer (rift_svc/optim.py, set up as train.py does
        from the checkpoint's training config), one step a round as Lightning's automatic optimisation runs it
    (without a Trainer: the step's logging call is left out)."""
    from rift_svc.lightning_module import RIFTSVCLightningModule
    from rift_svc.optim import get_optimizer

    cfg = torch.load(checkpoint, map_location="cpu", weights_only=True)["hyper_parameters"]["cfg"]
    training = cfg["training"]
    rf, _ = _rf_from_checkpoint(checkpoint, time_schedule=training["time_schedule"])
    warmup_steps = int(training["max_steps"] * training["warmup_ratio"])
    optimizer, lr_scheduler = get_optimizer(
        training["optimizer_type"],
        rf,
        training["learning_rate"],
        ast.literal_eval(training["betas"]),
        training["weight_decay"],
        warmup_steps,
        max_steps=training["max_steps"],
        lora_training=False,
    )
    module = RIFTSVCLightningModule(model=rf, optimizer=optimizer, lr_scheduler=lr_scheduler, cfg=cfg)
    module._log_scalar = lambda *args, **kwargs: None  # Lightning's logging needs a Trainer; no compute
    module.train()
    if hasattr(optimizer, "train"):
        optimizer.train()
    data = torch.load(batch, weights_only=True)
    noise = torch.load(draws, weights_only=True)

    @torch.enable_grad()  # infer.py (imported for its loader) switches gradients off
    def run_round(output: Path) -> dict:
        optimizer.zero_grad(set_to_none=True)
        start = time.perf_counter()
        with injected(randn_like=noise["x0"], rand=noise["uniforms"]):
            loss = module.training_step(data, 0)
        forward = time.perf_counter()
        loss.backward()
        backward = time.perf_counter()
        optimizer.step()
        done = time.perf_counter()
        np.save(output, np.array([loss.item()]))
        return {"forward": forward - start, "backward": backward - forward, "optimizer": done - backward}

    return run_round


WORKLOADS = {"dit_evaluation": dit_evaluation, "conversion": conversion, "training_step": training_step}
