"""The offline demo: a synthetic two-singer corpus taken through the whole pipeline, no downloads.

It prepares the corpus for both families, extracts features, trains a tiny RVC model and a tiny
RIFT model for a few steps, builds the index, converts a held-out clip with each, and writes the
outputs with an evaluation report. Where the standard weights (HuBERT, ContentVec, RMVPE,
NSF-HiFiGAN) are not in the cache it builds tiny random networks instead and says so: the
pipeline runs end to end, but what comes out is not singing. Quality needs the real weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from timbrel import api
from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, make_corpus
from timbrel.core.config import with_overrides
from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig
from timbrel.dataset.rvc import RVCPrepareConfig
from timbrel.eval.evaluate import EvalConfig
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.extract_rift import RIFTExtractConfig, RIFTFeatureModels, extract_rift_features
from timbrel.features.extract_rvc import RVCExtractConfig, extract_rvc_features
from timbrel.features.pitch import registry
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.models.rift.pipeline import RIFTConvertOptions, RIFTVoice
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.train.loop import LoopConfig
from timbrel.train.rift_config import RIFTTrainConfig
from timbrel.train.rvc import RVCTrainConfig
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig
from timbrel.weights.cache import MissingWeightError, find_weight
from timbrel.weights.hubert import load_contentvec, load_hubert
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rmvpe import load_rmvpe
from timbrel.weights.rvc import load_voice_model
from timbrel.weights.rvc_index import read_index

REAL_WEIGHTS_HELP = """\
For real results, fetch the standard weights (about 1.5 GB) and use your own recordings:
  timbrel download rvc rift
  timbrel prepare rvc my_recordings/ -e MyVoice && timbrel extract rvc -e MyVoice && timbrel index -e MyVoice
  timbrel train rvc --help        # or: timbrel train rift --help
  timbrel convert song.wav -o out/ --model logs/MyVoice/weights/MyVoice.pth \
      --index logs/MyVoice/added_*.index"""


@dataclass
class DemoReport:
    output_dir: Path
    timings_s: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Networks:
    """The content and pitch networks of both families: real ones from the cache, else tiny random."""

    hubert: HubertModel
    contentvec: HubertModel
    rmvpe: RmvpeExtractor
    vocoder: NsfHifiGan
    stand_ins: list[str]


def _networks() -> _Networks:
    torch.manual_seed(0)
    stand_ins = []

    def real_or(name: str, load: Callable, build: Callable):
        try:
            return load(find_weight(name))
        except MissingWeightError:
            stand_ins.append(name)
            return build()

    hubert = real_or(
        "hubert",
        load_hubert,
        lambda: HubertModel(
            HubertConfig(
                conv_channels=(32,) * 7,
                hidden_size=768,
                num_layers=1,
                num_heads=4,
                ffn_size=256,
                pos_conv_kernel=16,
                pos_conv_groups=16,
            )
        ).eval(),
    )
    contentvec = real_or("contentvec", load_contentvec, lambda: HubertModel(HubertConfig.tiny()).eval())
    rmvpe_network = real_or("rmvpe", load_rmvpe, lambda: E2E(E2EConfig.tiny()).eval())
    vocoder = real_or(
        "nsf-hifigan",
        load_nsf_hifigan,
        lambda: NsfHifiGan(NsfHifiGanConfig(upsample_initial_channel=32)).eval(),
    )
    return _Networks(
        hubert, contentvec, RmvpeExtractor(rmvpe_network, RmvpeConfig.rift()), vocoder, stand_ins
    )


def run_demo(
    output_dir: str | Path, seconds_per_singer: float = 40.0, say: Callable[[str], None] = print
) -> DemoReport:
    output_dir = Path(output_dir).resolve()
    report = DemoReport(output_dir)

    def stage(name: str, action: Callable[[], str]) -> None:
        start = time.perf_counter()
        line = action()
        report.timings_s[name] = time.perf_counter() - start
        report.lines.append(f"{name}: {line} ({report.timings_s[name]:.1f} s)")
        say(report.lines[-1])

    corpus, held_out = output_dir / "corpus", output_dir / "held_out"
    source_singer, target_singer = SINGERS[1].name, SINGERS[0].name
    state: dict = {}

    def make_data() -> str:
        paths = make_corpus(corpus, seconds_per_singer, recording_s=10.0)
        clip = next(p for p in paths if p.parent.name == source_singer)
        held_out.mkdir(parents=True, exist_ok=True)
        clip.replace(held_out / clip.name)
        state["clip"] = held_out / clip.name
        return f"{len(paths)} synthetic recordings of 2 singers; {clip.name} held out for conversion"

    def load_networks() -> str:
        state["networks"] = networks = _networks()
        if not networks.stand_ins:
            return "real standard weights found in the cache"
        return (
            f"NOTE: no real weights for {', '.join(networks.stand_ins)} in the cache: using tiny RANDOM "
            "networks in their place, so the pipeline runs end to end but the output is not singing"
        )

    def rvc_stages() -> str:
        networks: _Networks = state["networks"]
        experiment = output_dir / "logs" / "demo-rvc"
        api.prepare_rvc(corpus / target_singer, experiment, RVCPrepareConfig(sample_rate=32000, piece_s=3.0))
        extract_rvc_features(experiment, networks.hubert, registry.create, RVCExtractConfig("v2", "pm"))
        config = RVCTrainConfig(
            model_size="tiny", sample_rate=32000, batch_size=4, tensorboard=False,
            loop=LoopConfig(epochs=6, save_every_epochs=6, log_every_steps=10, show_progress=False),
        )  # fmt: skip
        result = api.train_rvc(experiment, config, stage="train")
        index = api.build_rvc_index(experiment, "v2", seed=0)
        voice = RVCVoice(
            load_voice_model(result.voice_model), networks.hubert, registry.create, read_index(index)
        )
        converted = voice.convert(io.load(state["clip"]), RVCConvertOptions(f0_method="pm", index_rate=0.5))
        target = output_dir / "converted" / "rvc" / state["clip"].name
        io.save(target, converted)
        report.outputs["rvc"] = target
        return f"tiny RVC model trained ({result.position.step} steps), index built, converted -> {target}"

    def rift_stages() -> str:
        networks: _Networks = state["networks"]
        data = output_dir / "data" / "demo"
        api.prepare_rift(corpus, data, RIFTPrepareConfig(), SplitConfig(split_type="stratified", seed=0))
        models = RIFTFeatureModels(content_model=networks.contentvec, rmvpe=networks.rmvpe)
        extract_rift_features(data, models, RIFTExtractConfig())
        config = with_overrides(
            RIFTTrainConfig.finetune().with_data_dir(data),
            [
                "model.size=tiny",
                f"model.content_dim={networks.contentvec.config.hidden_size}",
                "dataset.max_frame_len=64",
                "training.batch_size_per_gpu=4",
                "training.learning_rate=0.002",
                "training.max_steps=40",
                "training.save_per_steps=40",
                "training.test_per_steps=40",
                "training.logger=none",
                "training.eval_sample_steps=4",
                f"training.output_dir={output_dir / 'ckpts'}",
                "training.run_name=demo-rift",
            ],
        )
        result = api.train_rift(data, config)
        checkpoint = load_rift_checkpoint(result.run_dir / "last.ckpt")
        voice = RIFTVoice(
            checkpoint.model, checkpoint.speakers, networks.vocoder, networks.contentvec, networks.rmvpe
        )
        options = RIFTConvertOptions(speaker=target_singer, infer_steps=8)
        converted = voice.convert(io.load(state["clip"]), options)
        target = output_dir / "converted" / "rift" / state["clip"].name
        io.save(target, converted)
        report.outputs["rift"] = target
        return f"tiny RIFT model trained ({result.step} steps), converted -> {target}"

    def evaluate() -> str:
        lines = []
        for family in ("rvc", "rift"):
            folder = output_dir / "report" / family
            result = api.evaluate(
                output_dir / "converted" / family,
                held_out,
                references=corpus / target_singer,
                config=EvalConfig(metrics=("f0", "speaker", "loudness")),
                report_dir=folder,
            )
            summary = ", ".join(f"{k} {v:.3g}" for k, v in result.summary.items())
            lines.append(f"{family}: {summary} -> {folder / 'report.html'}")
        return "; ".join(lines)

    stage("corpus", make_data)
    stage("networks", load_networks)
    stage("rvc: prepare, extract, train, index, convert", rvc_stages)
    stage("rift: prepare, extract, train, convert", rift_stages)
    stage("evaluation", evaluate)
    say(f"demo finished in {sum(report.timings_s.values()):.1f} s; everything is in {output_dir}")
    say(REAL_WEIGHTS_HELP)
    return report
