"""The Python API. The CLI and the web UI call these functions and nothing below them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from timbrel.audio import io
from timbrel.core import device as devices
from timbrel.core.config import from_dict
from timbrel.core.cpu_kernels import bound_primitive_cache
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import remove_stale_temporaries, visible_files
from timbrel.core.jobs import Outcome, default_workers, progress_bar
from timbrel.dataset import rift, rvc
from timbrel.dataset.check import CheckConfig, DatasetCheck, check_files, write_report
from timbrel.dataset.prepare import PrepareReport, prepare_rift_folder, prepare_rvc_folder
from timbrel.eval.evaluate import EvalConfig, EvalReport, evaluate_folder
from timbrel.eval.report import write_report as write_eval_report
from timbrel.features.extract_rift import RIFTExtractConfig, extract_rift_features, list_utterances
from timbrel.features.extract_rvc import RVCExtractConfig, extract_rvc_features
from timbrel.infer.batch import convert_files
from timbrel.infer.live import LiveStats, list_devices, run_live, save_blocks, stream_through_file
from timbrel.infer.streaming import StreamingConverter, StreamSettings, StreamStats
from timbrel.models.base import VoiceModel
from timbrel.models.registry import FAMILIES, RIFT, RVC, Family, WeightPaths, family_of_file
from timbrel.models.rvc.pipeline import RVCVoice
from timbrel.models.rvc.retrieval import build_index, index_file_name
from timbrel.weights import describe, rvc_tools, voice_bundle
from timbrel.weights.bundle import BundleContents, bundle_name, read_bundle
from timbrel.weights.cache import find_weight
from timbrel.weights.hubert import load_hubert
from timbrel.weights.pitch_models import PitchModels
from timbrel.weights.rift_voice import load_rift_feature_models
from timbrel.weights.rvc_index import write_index

find_audio = io.find_audio


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
    experiment = rvc.RVCExperiment(experiment_dir)
    written = visible_files(experiment.gt_wavs, "*.wav")
    check(
        written,
        CheckConfig(min_duration_s=0.0),
        workers,
        experiment.dataset_check,
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
    check(written, CheckConfig(), workers, rift.RIFTDataDir(data_dir).dataset_check, report_root=data_dir)
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
    ``engine``: torch, or onnx (RVC: the synthesizer runs as an ONNX graph in onnxruntime).
    Long audio converts in flat memory: see timbrel.core.cpu_kernels."""
    bound_primitive_cache()
    path = Path(model)
    family, source = _open_model(path)
    if engine not in ENGINES:
        raise BadInputError(path, f"engine {engine!r} is not one of {list(ENGINES)}")
    if engine == "onnx" and not family.onnx_engine:
        onnx = ", ".join(f.name.upper() for f in FAMILIES.values() if f.onnx_engine)
        exported_only = f"{family.name.upper()} graphs are exported only"
        raise BadInputError(path, f"the onnx engine converts {onnx} models; {exported_only}")
    placement = devices.resolve(device, precision, say=say)
    weights = WeightPaths(index, hubert, rmvpe, contentvec, vocoder)
    voice: Any = family.resolve("loader")(source, weights, placement.device)
    if engine == "onnx":
        family.resolve("onnx_engine")(voice, path)
    voice.placement = placement
    return voice


ENGINES = ("torch", "onnx")


def _open_model(path: Path) -> tuple[Family, Path | BundleContents]:
    """The model's family and what its loader reads: the file, or the verified bundle's contents."""
    if path.name.lower().endswith(".zip"):
        contents = read_bundle(path)  # it refuses a family the registry lacks
        return FAMILIES[contents.family], contents
    return family_of_file(path), path


def model_family(path: str | Path) -> str:
    """The family name of a model file ('rvc' for .pth, 'rift' for .ckpt: timbrel.models.registry);
    a Timbrel bundle (.timbrel.zip) names its family inside."""
    return _open_model(Path(path))[0].name


CONVERT_OPTIONS = {family.name: family.options for family in FAMILIES.values()}


def convert_options(model: VoiceModel, values: dict[str, Any]) -> Any:
    """The model family's typed options from plain values; a value the family lacks is an error.
    Without a precision the model's (from ``load``) is taken."""
    placement = getattr(model, "placement", None)
    if "precision" not in values and placement is not None:
        values = {**values, "precision": placement.precision}
    return FAMILIES[model.family].convert_options(values)


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
    total = len(visible_files(rvc.RVCExperiment(experiment_dir).wavs_16k, "*.wav"))
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
    folder = rvc.RVCExperiment(experiment_dir).features(version)
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
    ``logger``: another timbrel.train.loggers.Logger to receive the figures (e.g. a live plot)."""
    run_training = RVC.resolve("train")
    config = config if config is not None else RVC.resolve("default_train_config")()
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
    run_training = RIFT.resolve("train")
    config = config if config is not None else RIFT.resolve("default_train_config")()
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
    return rift.RIFTDataDir(path).meta_info.is_file()


# Model tools (timbrel.weights' functions, under the API's names) ---------------------------

describe_model = describe.describe
extract_voice_model = rvc_tools.extract_voice_model
merge_voice_models = rvc_tools.merge_voice_models
edit_model_info = rvc_tools.edit_voice_model_info
pack_voice = voice_bundle.pack_voice
unpack_voice = voice_bundle.unpack_voice


def export_onnx(model: str | Path, output_dir: str | Path, vocoder: str | Path | None = None) -> list[Path]:
    """ONNX graphs of a voice model into ``output_dir``: RVC -> ``<name>.onnx`` (the synthesizer,
    with RVC's ONNX inputs); RIFT -> ``<name>.dit.onnx`` (the velocity network) and, with
    ``vocoder`` (an NSF-HiFiGAN folder), ``nsf_hifigan.onnx``."""
    path = Path(model)
    family, source = _open_model(path)
    name = bundle_name(path) if isinstance(source, BundleContents) else path.stem
    return family.resolve("onnx_export")(source, Path(output_dir), name, vocoder)


# Realtime ----------------------------------------------------------------------------------

audio_devices = list_devices  # the [live] extra


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
    return stream_through_file(streaming_converter(model, settings), input_path, output_path)


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
    for path, blocks in ((record_input, captured), (record_output, produced)):
        if path is not None:
            save_blocks(path, blocks, converter.geometry.sample_rate)
    return stats
