"""The Python API. The CLI and the web UI call these functions and nothing below them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from timbrel.audio import io
from timbrel.core import device as devices
from timbrel.core.audio import Audio
from timbrel.core.config import from_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import remove_stale_temporaries, visible_files
from timbrel.dataset import rift, rvc
from timbrel.dataset.check import CheckConfig, DatasetCheck, check_files, write_report
from timbrel.dataset.jobs import Outcome, default_workers, progress_bar
from timbrel.dataset.prepare import PrepareReport, prepare_rift_folder, prepare_rvc_folder
from timbrel.eval.evaluate import EvalConfig, EvalReport, evaluate_folder
from timbrel.eval.report import write_report as write_eval_report
from timbrel.features.extract_rift import RIFTExtractConfig, extract_rift_features, list_utterances
from timbrel.features.extract_rvc import RVCExtractConfig, extract_rvc_features
from timbrel.features.pitch.f0_stats import F0Stats
from timbrel.infer.batch import convert_files
from timbrel.infer.live import AudioDevice, LiveStats, list_devices, run_live
from timbrel.infer.streaming import StreamingConverter, StreamSettings, StreamStats
from timbrel.models.base import VoiceModel
from timbrel.models.rift.pipeline import RIFTConvertOptions
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.models.rvc.retrieval import build_index, index_file_name
from timbrel.weights.bundle import is_bundle, read_bundle
from timbrel.weights.cache import find_weight
from timbrel.weights.hubert import load_hubert
from timbrel.weights.pitch_models import PitchModels
from timbrel.weights.rift_voice import (
    load_rift_feature_models,
    load_rift_voice,
    speaker_f0_stats_from_sidecar,
)
from timbrel.weights.rvc import build_synthesizer, load_voice_model, read_training_f0_stats
from timbrel.weights.rvc_index import index_from_bytes, read_index, write_index
from timbrel.weights.voice_bundle import rift_checkpoint, rvc_voice_file


def find_audio(paths: list[str | Path]) -> list[Path]:
    """Files given directly, plus the audio files (by extension) found under given folders, sorted."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += io.audio_files_under(path)
        else:
            found.append(path)
    return found


def check(
    paths: list[str | Path],
    config: CheckConfig = CheckConfig(),
    workers: int | None = None,
    report_path: str | Path | None = None,
    show_progress: bool = False,
    report_root: str | Path | None = None,
) -> DatasetCheck:
    """Check recordings (files or folders of them); optionally write the JSON report, with paths
    relative to ``report_root`` when given."""
    files = find_audio(paths)
    report = check_files(files, config, workers or default_workers(), show_progress=show_progress)
    if report_path is not None:
        write_report(report, report_path, report_root)
    return report


def prepare_rvc(
    input_dir: str | Path,
    experiment_dir: str | Path,
    config: rvc.RVCPrepareConfig = rvc.RVCPrepareConfig(),
    workers: int | None = None,
    show_progress: bool = False,
) -> PrepareReport:
    """RVC-style preparation into ``experiment_dir`` (0_gt_wavs, 1_16k_wavs), resumable.
    A check of the written pieces goes to ``experiment_dir/dataset_check.json``."""
    experiment_dir = Path(experiment_dir)
    remove_stale_temporaries(experiment_dir)
    report = prepare_rvc_folder(
        Path(input_dir), experiment_dir, config, workers or default_workers(), show_progress
    )
    written = visible_files(experiment_dir / "0_gt_wavs", "*.wav")
    check(
        written,
        CheckConfig(min_duration_s=0.0),
        workers,
        experiment_dir / "dataset_check.json",
        report_root=experiment_dir,
    )
    return report


def prepare_rift(
    input_dir: str | Path,
    data_dir: str | Path,
    config: rift.RIFTPrepareConfig = rift.RIFTPrepareConfig(),
    split: rift.SplitConfig = rift.SplitConfig(),
    workers: int | None = None,
    show_progress: bool = False,
) -> PrepareReport:
    """RIFT-style preparation into ``data_dir/<speaker>/*.wav`` plus ``meta_info.json``, resumable.
    A check of the written files goes to ``data_dir/dataset_check.json``."""
    data_dir = Path(data_dir)
    remove_stale_temporaries(data_dir)
    report = prepare_rift_folder(
        Path(input_dir), data_dir, config, split, workers or default_workers(), show_progress
    )
    written = visible_files(data_dir, "*/*.wav")
    check(written, CheckConfig(), workers, data_dir / "dataset_check.json", report_root=data_dir)
    return report


# Models and conversion ---------------------------------------------------------------------


def load(
    model: str | Path,
    *,
    index: str | Path | None = None,
    hubert: str | Path | None = None,
    rmvpe: str | Path | None = None,
    contentvec: str | Path | None = None,
    vocoder: str | Path | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    say: Callable[[str], None] | None = None,
    engine: str = "torch",
) -> VoiceModel:
    """Load a voice model; its family comes from the file (RVC .pth, RIFT-SVC .ckpt, a Timbrel
    bundle, verified part by part). Standard weights it needs (HuBERT or ContentVec, RMVPE, the
    vocoder) come from the given paths, else from the cache (`timbrel download`).

    device: auto, cpu, cuda, cuda:N or mps; precision: fp32, fp16, bf16 or auto (see
    timbrel.core.device). Every network moves there once; ``voice.placement`` says where, and
    ``convert_options`` takes its precision unless told otherwise. ``say`` hears what auto picked.
    ``engine``: torch, or onnx (RVC: the synthesizer runs as an ONNX graph in onnxruntime)."""
    path = Path(model)
    family = model_family(path)
    if engine not in ENGINES:
        raise BadInputError(path, f"engine {engine!r} is not one of {list(ENGINES)}")
    if engine == "onnx" and family != "rvc":
        raise BadInputError(path, "the onnx engine converts RVC models; RIFT graphs are exported only")
    placement = devices.resolve(device, precision, say=say)
    if is_bundle(path):
        voice: Any = _load_bundle(
            read_bundle(path), index, hubert, rmvpe, contentvec, vocoder, placement.device
        )
    elif family == "rvc":
        synthesizer = load_voice_model(path)
        retrieval = read_index(index) if index is not None else None
        if retrieval is not None and retrieval.dim != synthesizer.config.content_dim:
            raise BadInputError(
                index,
                f"holds {retrieval.dim}-dimensional features; the {synthesizer.config.version} model "
                f"{path.name} uses {synthesizer.config.content_dim}",
            )
        voice = RVCVoice(
            synthesizer.to(placement.device),
            load_hubert(find_weight("hubert", hubert)).to(placement.device),
            PitchModels(rmvpe, placement.device),
            retrieval,
            read_training_f0_stats(path),
        )
    else:
        voice = load_rift_voice(path, contentvec, rmvpe, vocoder, device=placement.device)
    if engine == "onnx":
        voice.synthesizer = _onnx_synthesizer(voice.synthesizer.cpu(), path)
    voice.placement = placement
    return voice


ENGINES = ("torch", "onnx")


def _onnx_synthesizer(synthesizer: Any, source: Path) -> Any:
    """The synthesizer exported to ONNX (in a temporary folder) and opened in onnxruntime."""
    import tempfile

    from timbrel.weights.onnx_graphs import OnnxSynthesizer, export_rvc_synthesizer

    with tempfile.TemporaryDirectory(prefix="timbrel-onnx-") as folder:
        graph = export_rvc_synthesizer(synthesizer, Path(folder) / "synthesizer.onnx", source)
        return OnnxSynthesizer.open(graph)


def _load_bundle(contents, index, hubert, rmvpe, contentvec, vocoder, device) -> VoiceModel:
    """A verified bundle's voice; an index given beside it replaces the bundled one."""
    if contents.family == "rift":
        stats = speaker_f0_stats_from_sidecar(contents.sidecar or {}, contents.path)
        return load_rift_voice(rift_checkpoint(contents), contentvec, rmvpe, vocoder, device, stats)
    if index is not None:
        retrieval = read_index(index)
    elif contents.index is not None:
        retrieval = index_from_bytes(contents.index, contents.path)
    else:
        retrieval = None
    stats = contents.sidecar.get("training_f0_hz") if contents.sidecar else None
    return RVCVoice(
        build_synthesizer(rvc_voice_file(contents)).to(device),
        load_hubert(find_weight("hubert", hubert)).to(device),
        PitchModels(rmvpe, device),
        retrieval,
        F0Stats.from_dict(stats) if stats else None,
    )


def model_family(path: str | Path) -> str:
    """'rvc' for RVC voice models (.pth), 'rift' for RIFT-SVC checkpoints (.ckpt); a Timbrel
    bundle (.timbrel.zip) names its family inside."""
    path = Path(path)
    if path.name.lower().endswith(".zip"):
        return read_bundle(path).family
    families = {".pth": "rvc", ".ckpt": "rift"}
    if path.suffix.lower() not in families:
        raise BadInputError(
            path,
            f"unknown model file type {path.suffix!r}: expected an RVC .pth, a RIFT .ckpt or a "
            "Timbrel bundle (.timbrel.zip)",
        )
    return families[path.suffix.lower()]


CONVERT_OPTIONS = {"rvc": RVCConvertOptions, "rift": RIFTConvertOptions}
REFUSED_OPTIONS = {
    "rift": {
        "formant_shift_semitones": "RIFT cannot shift formants cleanly: its DiT draws the whole mel "
        "spectrum, formants included, from the speaker and the f0, and the vocoder has no formant "
        "control (RVC's stretch of the synthesizer's frames has no RIFT counterpart)"
    }
}


def convert_options(model: VoiceModel, values: dict[str, Any]) -> Any:
    """The model family's typed options from plain values; a value the family lacks is an error.
    Without a precision the model's (from ``load``) is taken."""
    placement = getattr(model, "placement", None)
    for name, reason in REFUSED_OPTIONS.get(model.family, {}).items():
        if values.get(name):
            raise ConfigError(f"{name}: {reason}")
    if "precision" not in values and placement is not None:
        values = {**values, "precision": placement.precision}
    return from_dict(CONVERT_OPTIONS[model.family], values, where=f"{model.family} conversion options")


def convert(
    model: VoiceModel,
    inputs: list[str | Path],
    output: str | Path,
    options: Any = None,
    overwrite: bool = False,
    show_progress: bool = False,
    shard: tuple[int, int] | None = None,
) -> list[Outcome]:
    """Convert files, folders or globs into ``output`` (a folder, or a file for a single input).

    shard: (i, n) converts only the i-th of n deterministic parts of the sorted inputs (1-based),
    so n processes or machines split a catalogue between them."""
    options = options if options is not None else convert_options(model, {})
    return convert_files(
        model, options, inputs, output, overwrite=overwrite, show_progress=show_progress, shard=shard
    )


def extract_rvc(
    experiment_dir: str | Path,
    config: RVCExtractConfig = RVCExtractConfig(),
    hubert: str | Path | None = None,
    rmvpe: str | Path | None = None,
    show_progress: bool = False,
    device: str = "cpu",
    say: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """f0 and content features for a prepared RVC experiment (2a_f0, 2b-f0nsf, 3_feature*), resumable.
    HuBERT and the pitch networks run on ``device`` in float32 (the training features are the
    reference's numbers)."""
    placement = devices.resolve(device, "fp32", say=say)
    experiment_dir = Path(experiment_dir)
    content_model = load_hubert(find_weight("hubert", hubert)).to(placement.device)
    total = len(visible_files(experiment_dir / "1_16k_wavs", "*.wav"))
    with progress_bar("extracting (rvc)", total, show_progress) as advance:
        return extract_rvc_features(
            experiment_dir, content_model, PitchModels(rmvpe, placement.device), config, advance
        )


def extract_rift(
    data_dir: str | Path,
    config: RIFTExtractConfig = RIFTExtractConfig(),
    contentvec: str | Path | None = None,
    rmvpe: str | Path | None = None,
    show_progress: bool = False,
    device: str = "cpu",
    say: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """mel, rms, f0 and ContentVec files next to every wav of a RIFT dataset, resumable. ContentVec
    and RMVPE run on ``device`` in float32 (the training features are the reference's numbers)."""
    placement = devices.resolve(device, "fp32", say=say)
    models = load_rift_feature_models(contentvec, rmvpe, placement.device, features=config.features)
    total = len(list_utterances(data_dir))
    with progress_bar("extracting (rift)", total, show_progress) as advance:
        return extract_rift_features(data_dir, models, config, advance)


def build_rvc_index(experiment_dir: str | Path, version: str = "v2", seed: int | None = None) -> Path:
    """The retrieval index over an experiment's content features, built the reference way and
    written as ``added_IVF<n>_Flat_nprobe_1_<experiment>_<version>.index`` in the experiment folder."""
    experiment_dir = Path(experiment_dir)
    folder = experiment_dir / ("3_feature256" if version == "v1" else "3_feature768")
    files = visible_files(folder, "*.npy")
    if not files:
        raise BadInputError(folder, "no content features: run `timbrel extract rvc` first")
    features = np.concatenate([np.load(path) for path in files])
    _, added = build_index(features, np.random.RandomState(seed))
    path = experiment_dir / index_file_name("added", added.n_lists, experiment_dir.name, version)
    write_index(path, added)
    return path


def evaluate(
    converted_dir: str | Path,
    source_dir: str | Path,
    references: str | Path | None = None,
    config: EvalConfig = EvalConfig(),
    pitch_method: str = "pm",
    report_dir: str | Path | None = None,
    rmvpe: str | Path | None = None,
    device: str = "cpu",
    say: Callable[[str], None] | None = None,
) -> EvalReport:
    """Objective metrics of converted files against their sources (and target-speaker references);
    writes report.json and report.html into ``report_dir`` when given. The pitch network and the
    speaker encoder run on ``device`` in float32 (DNSMOS is an ONNX model: CPU)."""
    placement = devices.resolve(device, "fp32", say=say)
    if placement.device.type == "cpu":
        torch.set_num_threads(1)  # the small speaker LSTM and DNSMOS run slower with more threads
    report = evaluate_folder(
        converted_dir,
        source_dir,
        references,
        config,
        pitch_extractor=PitchModels(rmvpe, placement.device)(pitch_method),
        device=placement.device,
    )
    if report_dir is not None:
        write_eval_report(report, report_dir)
    return report


# Training ----------------------------------------------------------------------------------


def train_rvc(
    experiment_dir: str | Path,
    config: Any = None,
    *,
    input_dir: str | Path | None = None,
    stage: str = "all",
    hubert: str | Path | None = None,
    rmvpe: str | Path | None = None,
    show_progress: bool = False,
    logger: Any = None,
) -> Any:
    """RVC training, one click: prepare ``input_dir`` (when given), extract, train, build the index;
    each stage skips the work already done, and training continues from the newest checkpoint.
    ``stage="train"`` runs training alone. ``config``: an RVCTrainConfig -> RVCTrainResult.
    ``logger``: another timbrel.train.logger.Logger to receive the figures (e.g. a live plot)."""
    from dataclasses import replace

    from timbrel.train.rvc import RVCTrainConfig
    from timbrel.train.rvc import train_rvc as run_training

    config = config if config is not None else RVCTrainConfig()
    if stage not in ("all", "train"):
        raise BadInputError(Path(experiment_dir), f"stage {stage!r} is not 'all' or 'train'")
    experiment_dir = Path(experiment_dir)
    if stage == "all":
        model_rate = config.synthesizer_config().sample_rate
        if input_dir is not None:
            prepare_rvc(
                input_dir,
                experiment_dir,
                rvc.RVCPrepareConfig(sample_rate=model_rate),
                show_progress=show_progress,
            )
        extract = RVCExtractConfig(version=config.version, f0_method=config.f0_method)
        extract_rvc(experiment_dir, extract, hubert, rmvpe, show_progress=show_progress)
    loop = replace(config.loop, show_progress=show_progress and config.loop.show_progress)
    result = run_training(experiment_dir, replace(config, loop=loop), logger)
    if stage == "all" and not list(experiment_dir.glob("added_IVF*.index")):
        build_rvc_index(experiment_dir, config.version, seed=config.seed)
    return result


def train_rift(
    data_dir: str | Path,
    config: Any = None,
    show_progress: bool = False,
    logger: Any = None,
    *,
    recordings: str | Path | None = None,
    split: rift.SplitConfig = rift.SplitConfig(),
    contentvec: str | Path | None = None,
    rmvpe: str | Path | None = None,
) -> Any:
    """Train a RIFT (RIFT-SVC DiT) voice model on ``data_dir`` (``<speaker>/<stem>.wav`` with
    meta_info.json and the extracted feature files beside each wav). ``config``: a RIFTTrainConfig
    (default: the fine-tuning config; ``RIFTTrainConfig.pretrain()`` trains from scratch); its
    dataset.data_dir is replaced by ``data_dir``. Restarting the same run continues from its newest
    checkpoint -> RIFTTrainResult. Beside each exported model goes the sidecar with every speaker's
    training f0 statistics (for auto_key).

    One click: with ``recordings`` (``<speaker>/<recording>`` folders), first prepare them into
    ``data_dir`` (with meta_info.json's ``split``) and extract the features there (ContentVec and
    RMVPE on the training device); each stage skips the work already done, as in ``train_rvc``,
    and ``result.stages`` holds their outcomes."""
    from dataclasses import replace

    from timbrel.train.rift import train_rift as run_training
    from timbrel.train.rift_config import RIFTTrainConfig

    config = config if config is not None else RIFTTrainConfig.finetune()
    stages = {}
    if recordings is not None:
        prepared = prepare_rift(recordings, data_dir, split=split, show_progress=show_progress)
        if not prepared.usable:
            raise BadInputError(Path(recordings), "no recording could be prepared")
        if "meta_info_error" in prepared.extra:
            raise BadInputError(Path(data_dir), prepared.extra["meta_info_error"])
        stages["prepare"] = prepared.outcomes
        extracted = extract_rift(
            data_dir,
            contentvec=contentvec,
            rmvpe=rmvpe,
            show_progress=show_progress,
            device=config.training.device,
        )
        if failed := [o for o in extracted if o.status == "failed"]:
            raise BadInputError(Path(failed[0].item), f"feature extraction failed: {failed[0].reason}")
        stages["extract"] = tuple(extracted)
    result = run_training(config.with_data_dir(data_dir), show_progress=show_progress, extra_logger=logger)
    return replace(result, stages=stages)


def is_rift_dataset(path: str | Path) -> bool:
    """True for a prepared RIFT dataset (it holds meta_info.json); else ``path`` is taken as a
    folder of recordings (``<speaker>/<recording>``) for the one-click ``train_rift``."""
    return (Path(path) / rift.META_INFO_FILE).is_file()


# Model tools -------------------------------------------------------------------------------


def describe_model(path: str | Path) -> Any:
    """What a voice-model file is and holds (family, version, rate, f0, speakers, parameters,
    epoch/step, info, sha256, sidecar) -> timbrel.weights.describe.ModelDescription."""
    from timbrel.weights.describe import describe

    return describe(path)


def extract_voice_model(checkpoint: str | Path, output: str | Path, info: str = "") -> Path:
    """RVC's small-model extraction: a G_*.pth -> an exported voice model (float16, no enc_q)."""
    from timbrel.weights.rvc_tools import extract_voice_model as extract

    return extract(checkpoint, output, info)


def merge_voice_models(
    first: str | Path,
    second: str | Path,
    output: str | Path,
    alpha: float = 0.5,
    group_alphas: dict[str, float] | None = None,
    info: str | None = None,
) -> Path:
    """RVC's merge: alpha·first + (1 − alpha)·second per weight (per module group where given);
    config and info from first. Refuses voices of different rates, versions or f0 settings."""
    from timbrel.weights.rvc_tools import merge_voice_models as merge

    return merge(first, second, output, alpha, group_alphas, info)


def edit_model_info(
    path: str | Path, output: str | Path, info: str | None = None, metadata: dict[str, str] | None = None
) -> Path:
    """A copy of a voice model with a new info string and metadata; the weights stay bit for bit."""
    from timbrel.weights.rvc_tools import edit_voice_model_info

    return edit_voice_model_info(path, output, info, metadata)


def pack_voice(
    model: str | Path,
    output: str | Path,
    index: str | Path | None = None,
    license: str = "",
    info: str | None = None,
) -> Path:
    """One-file bundle (.timbrel.zip): safetensors weights, the index, the f0 statistics sidecar,
    a JSON config with the licence and the sha256 of each part."""
    from timbrel.weights.voice_bundle import pack_voice as pack

    return pack(model, output, index, license, info)


def unpack_voice(bundle: str | Path, output_dir: str | Path) -> list[Path]:
    """A bundle -> the reference's files (RVC .pth + .index, or RIFT-SVC .ckpt) and the sidecar."""
    from timbrel.weights.voice_bundle import unpack_voice as unpack

    return unpack(bundle, output_dir)


def export_onnx(model: str | Path, output_dir: str | Path, vocoder: str | Path | None = None) -> list[Path]:
    """ONNX graphs of a voice model into ``output_dir``: RVC -> ``<name>.onnx`` (the synthesizer,
    with RVC's ONNX inputs); RIFT -> ``<name>.dit.onnx`` (the velocity network) and, with
    ``vocoder`` (an NSF-HiFiGAN folder), ``nsf_hifigan.onnx``."""
    from timbrel.weights import onnx_graphs
    from timbrel.weights.bundle import bundle_name
    from timbrel.weights.nsf_hifigan import load_nsf_hifigan
    from timbrel.weights.rift import load_rift_checkpoint

    path, output_dir = Path(model), Path(output_dir)
    name = bundle_name(path) if is_bundle(path) else path.stem
    contents = read_bundle(path) if is_bundle(path) else None
    if model_family(path) == "rvc":
        voice = rvc_voice_file(contents) if contents is not None else None
        synthesizer = build_synthesizer(voice) if voice is not None else load_voice_model(path)
        return [onnx_graphs.export_rvc_synthesizer(synthesizer, output_dir / f"{name}.onnx", path)]
    rift = rift_checkpoint(contents) if contents is not None else load_rift_checkpoint(path)
    written = [onnx_graphs.export_rift_dit(rift.model, output_dir / f"{name}.dit.onnx", path, rift.speakers)]
    if vocoder is not None:
        network = load_nsf_hifigan(vocoder)
        written.append(onnx_graphs.export_nsf_hifigan(network, output_dir / "nsf_hifigan.onnx", vocoder))
    return written


# Realtime ----------------------------------------------------------------------------------


def stream_settings(values: dict[str, Any]) -> StreamSettings:
    """Typed realtime settings from plain values; a value StreamSettings lacks is an error."""
    return from_dict(StreamSettings, values, where="stream settings")


def streaming_converter(model: VoiceModel, settings: StreamSettings = StreamSettings()) -> StreamingConverter:
    """The realtime engine for an RVC voice (realtime conversion is RVC's)."""
    if not isinstance(model, RVCVoice):
        raise ConfigError(f"realtime conversion needs an RVC voice model (.pth), not a {model.family} model")
    return StreamingConverter(model, settings)


def stream_file(
    model: VoiceModel,
    input_path: str | Path,
    output_path: str | Path,
    settings: StreamSettings = StreamSettings(),
) -> StreamStats:
    """Push a file through the realtime engine block by block and write what a device would
    play: the input's length plus the latency, at the stream rate (float WAV/FLAC). The input is
    resampled to the stream rate first -> the StreamStats of the run."""
    converter = streaming_converter(model, settings)
    geometry = converter.geometry
    samples = io.load(input_path, sample_rate=geometry.sample_rate).mono
    samples = np.concatenate([samples, np.zeros(geometry.latency_samples, dtype=np.float32)])
    stats = geometry.stats()
    pieces = []
    for start in range(0, len(samples), geometry.block):
        began = time.perf_counter()
        pieces.append(converter.push(samples[start : start + geometry.block]))
        stats.compute_s.append(time.perf_counter() - began)
    io.save(output_path, Audio.from_mono(np.concatenate(pieces), geometry.sample_rate), subtype="FLOAT")
    return stats


def audio_devices() -> list[AudioDevice]:
    """The audio devices PortAudio sees (the [live] extra)."""
    return list_devices()


def live(
    model: VoiceModel,
    settings: StreamSettings = StreamSettings(),
    input_device: int | str | None = None,
    output_device: int | str | None = None,
    seconds: float | None = None,
    on_block: Any = None,
    record_input: str | Path | None = None,
    record_output: str | Path | None = None,
    device_latency: str | float = "low",
) -> LiveStats:
    """Convert from an input device to an output device until ``seconds`` pass or Ctrl-C ->
    the session's statistics. record_input / record_output: also write the blocks the engine received and
    produced (float WAV/FLAC at the stream rate). device_latency: PortAudio's suggested latency,
    "low", "high" or seconds."""
    converter = streaming_converter(model, settings)
    captured: list[np.ndarray] | None = [] if record_input is not None else None
    produced: list[np.ndarray] | None = [] if record_output is not None else None
    stats = run_live(
        converter, input_device, output_device, seconds, on_block, captured, produced, device_latency
    )
    rate = converter.geometry.sample_rate
    for path, blocks in ((record_input, captured), (record_output, produced)):
        if path is not None:
            samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
            io.save(path, Audio.from_mono(samples, rate), subtype="FLOAT")
    return stats
