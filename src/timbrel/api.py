"""The Python API. The CLI and the web UI call these functions and nothing below them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from timbrel.audio import io
from timbrel.core.config import from_dict
from timbrel.core.errors import BadInputError
from timbrel.dataset import rift, rvc
from timbrel.dataset.check import CheckConfig, DatasetCheck, check_files, write_report
from timbrel.dataset.jobs import Outcome, default_workers, progress_bar
from timbrel.dataset.prepare import PrepareReport, prepare_rift_folder, prepare_rvc_folder
from timbrel.eval.evaluate import EvalConfig, EvalReport, evaluate_folder
from timbrel.eval.report import write_report as write_eval_report
from timbrel.features.extract_rift import RIFTExtractConfig, extract_rift_features, list_utterances
from timbrel.features.extract_rvc import RVCExtractConfig, extract_rvc_features
from timbrel.infer.batch import convert_files
from timbrel.models.base import VoiceModel
from timbrel.models.rift.pipeline import RIFTConvertOptions
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.models.rvc.retrieval import build_index, index_file_name
from timbrel.weights.cache import find_weight
from timbrel.weights.hubert import load_hubert
from timbrel.weights.pitch_models import PitchModels
from timbrel.weights.rift_voice import load_rift_feature_models, load_rift_voice
from timbrel.weights.rvc import load_voice_model, read_training_f0_stats
from timbrel.weights.rvc_index import read_index, write_index


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
) -> DatasetCheck:
    """Check recordings (files or folders of them); optionally write the JSON report."""
    files = find_audio(paths)
    report = check_files(files, config, workers or default_workers(), show_progress=show_progress)
    if report_path is not None:
        write_report(report, report_path)
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
    report = prepare_rvc_folder(
        Path(input_dir), experiment_dir, config, workers or default_workers(), show_progress
    )
    written = sorted((experiment_dir / "0_gt_wavs").glob("*.wav"))
    check(written, CheckConfig(min_duration_s=0.0), workers, experiment_dir / "dataset_check.json")
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
    report = prepare_rift_folder(
        Path(input_dir), data_dir, config, split, workers or default_workers(), show_progress
    )
    check(sorted(data_dir.glob("*/*.wav")), CheckConfig(), workers, data_dir / "dataset_check.json")
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
) -> VoiceModel:
    """Load a voice model; its family comes from the file (RVC .pth, RIFT-SVC .ckpt). Standard
    weights it needs (HuBERT or ContentVec, RMVPE, the vocoder) come from the given paths, else
    from the cache (`timbrel download`)."""
    path = Path(model)
    if model_family(path) == "rvc":
        synthesizer = load_voice_model(path)
        retrieval = read_index(index) if index is not None else None
        if retrieval is not None and retrieval.dim != synthesizer.config.content_dim:
            raise BadInputError(
                index,
                f"holds {retrieval.dim}-dimensional features; the {synthesizer.config.version} model "
                f"{path.name} uses {synthesizer.config.content_dim}",
            )
        return RVCVoice(
            synthesizer,
            load_hubert(find_weight("hubert", hubert)),
            PitchModels(rmvpe),
            retrieval,
            read_training_f0_stats(path),
        )
    return load_rift_voice(path, contentvec, rmvpe, vocoder)


def model_family(path: str | Path) -> str:
    """'rvc' for RVC voice models (.pth), 'rift' for RIFT-SVC checkpoints (.ckpt)."""
    path = Path(path)
    families = {".pth": "rvc", ".ckpt": "rift"}
    if path.suffix.lower() not in families:
        raise BadInputError(
            path, f"unknown model file type {path.suffix!r}: expected an RVC .pth or RIFT .ckpt"
        )
    return families[path.suffix.lower()]


CONVERT_OPTIONS = {"rvc": RVCConvertOptions, "rift": RIFTConvertOptions}


def convert_options(model: VoiceModel, values: dict[str, Any]) -> Any:
    """The model family's typed options from plain values; a value the family lacks is an error."""
    return from_dict(CONVERT_OPTIONS[model.family], values, where=f"{model.family} conversion options")


def convert(
    model: VoiceModel,
    inputs: list[str | Path],
    output: str | Path,
    options: Any = None,
    overwrite: bool = False,
    show_progress: bool = False,
) -> list[Outcome]:
    """Convert files, folders or globs into ``output`` (a folder, or a file for a single input)."""
    options = options if options is not None else CONVERT_OPTIONS[model.family]()
    return convert_files(model, options, inputs, output, overwrite=overwrite, show_progress=show_progress)


def extract_rvc(
    experiment_dir: str | Path,
    config: RVCExtractConfig = RVCExtractConfig(),
    hubert: str | Path | None = None,
    rmvpe: str | Path | None = None,
    show_progress: bool = False,
) -> list[Outcome]:
    """f0 and content features for a prepared RVC experiment (2a_f0, 2b-f0nsf, 3_feature*), resumable."""
    experiment_dir = Path(experiment_dir)
    content_model = load_hubert(find_weight("hubert", hubert))
    total = len(list((experiment_dir / "1_16k_wavs").glob("*.wav")))
    with progress_bar("extracting (rvc)", total, show_progress) as advance:
        return extract_rvc_features(experiment_dir, content_model, PitchModels(rmvpe), config, advance)


def extract_rift(
    data_dir: str | Path,
    config: RIFTExtractConfig = RIFTExtractConfig(),
    contentvec: str | Path | None = None,
    rmvpe: str | Path | None = None,
    show_progress: bool = False,
) -> list[Outcome]:
    """mel, rms, f0 and ContentVec files next to every wav of a RIFT dataset, resumable."""
    models = load_rift_feature_models(contentvec, rmvpe, features=config.features)
    total = len(list_utterances(data_dir))
    with progress_bar("extracting (rift)", total, show_progress) as advance:
        return extract_rift_features(data_dir, models, config, advance)


def build_rvc_index(experiment_dir: str | Path, version: str = "v2", seed: int | None = None) -> Path:
    """The retrieval index over an experiment's content features, built the reference way and
    written as ``added_IVF<n>_Flat_nprobe_1_<experiment>_<version>.index`` in the experiment folder."""
    experiment_dir = Path(experiment_dir)
    folder = experiment_dir / ("3_feature256" if version == "v1" else "3_feature768")
    files = sorted(folder.glob("*.npy"))
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
) -> EvalReport:
    """Objective metrics of converted files against their sources (and target-speaker references);
    writes report.json and report.html into ``report_dir`` when given."""
    torch.set_num_threads(1)  # the small speaker LSTM and DNSMOS run slower with more threads
    report = evaluate_folder(
        converted_dir, source_dir, references, config, pitch_extractor=PitchModels(rmvpe)(pitch_method)
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
    f0_method: str = "rmvpe",
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
        extract = RVCExtractConfig(version=config.version, f0_method=f0_method if config.use_f0 else None)
        extract_rvc(experiment_dir, extract, hubert, rmvpe, show_progress=show_progress)
    loop = replace(config.loop, show_progress=show_progress and config.loop.show_progress)
    result = run_training(experiment_dir, replace(config, loop=loop), logger)
    if stage == "all" and not list(experiment_dir.glob("added_IVF*.index")):
        build_rvc_index(experiment_dir, config.version, seed=config.seed)
    return result


def train_rift(
    data_dir: str | Path, config: Any = None, show_progress: bool = False, logger: Any = None
) -> Any:
    """Train a RIFT (RIFT-SVC DiT) voice model on ``data_dir`` (``<speaker>/<stem>.wav`` with
    meta_info.json and the extracted feature files beside each wav). ``config``: a RIFTTrainConfig
    (default: the fine-tuning config; ``RIFTTrainConfig.pretrain()`` trains from scratch); its
    dataset.data_dir is replaced by ``data_dir``. Restarting the same run continues from its newest
    checkpoint -> RIFTTrainResult."""
    from timbrel.train.rift import train_rift as run_training
    from timbrel.train.rift_config import RIFTTrainConfig

    config = config if config is not None else RIFTTrainConfig.finetune()
    return run_training(config.with_data_dir(data_dir), show_progress=show_progress, extra_logger=logger)
