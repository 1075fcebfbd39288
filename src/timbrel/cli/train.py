"""`timbrel train rvc` and `timbrel train rift`: typed flags, a config file and overrides -> api."""

from __future__ import annotations

from pathlib import Path

import typer

from timbrel.cli import (
    DEVICE_HELP,
    DOTTED_SET_HELP,
    PRECISION_HELP,
    app,
    configured,
    console,
    one_line_errors,
    report_outcomes,
)
from timbrel.cli.fields import default_of, help_of, scoped_help

RVC_TRAIN = ("timbrel.train.rvc", "RVCTrainConfig")
SPLIT = ("timbrel.dataset.rift", "SplitConfig")


def _rvc_help(name: str) -> str:
    """The field's help, with its default: the flag itself defaults to None, meaning not given."""
    return f"{help_of(*RVC_TRAIN, name)[:-1]} [default: {default_of(*RVC_TRAIN, name)}]."


train_app = typer.Typer(help="Train voice models.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("rvc")
def train_rvc(
    input_dir: Path | None = typer.Argument(
        None, help="Folder of recordings to prepare first (one-click); omit when already prepared."
    ),
    experiment: str = typer.Option(..., "--experiment", "-e", help="Experiment name (LOGS/NAME)."),
    logs_dir: Path = typer.Option(Path("logs"), help="Folder that holds the experiments."),
    stage: str = typer.Option("all", help="all: prepare, extract, train, index; train: training alone."),
    version: str | None = typer.Option(None, help=_rvc_help("version")),
    sample_rate: int | None = typer.Option(None, help=_rvc_help("sample_rate")),
    f0_method: str | None = typer.Option(None, help=_rvc_help("f0_method")),
    batch_size: int | None = typer.Option(None, help="Pieces per batch, per process [default: 4]."),
    epochs: int | None = typer.Option(None, help="Total epochs [default: 20]."),
    save_every_epoch: int | None = typer.Option(
        None, help="Checkpoint and voice model every N epochs [default: 5]."
    ),
    keep_latest_only: bool | None = typer.Option(
        None,
        "--keep-latest-only/--keep-all",
        help="Keep only the newest G_/D_ checkpoint [default: all].",
    ),
    pretrained_g: Path | None = typer.Option(None, help="Pretrained G (f0G40k.pth) or any G_*.pth."),
    pretrained_d: Path | None = typer.Option(None, help="Pretrained D (f0D40k.pth) or any D_*.pth."),
    device: str | None = typer.Option(
        None, help=DEVICE_HELP + " Under torchrun each process takes its GPU. [default: auto]"
    ),
    precision: str | None = typer.Option(
        None, help=PRECISION_HELP + " fp16 trains with a GradScaler. [default: fp32]"
    ),
    hubert: Path | None = typer.Option(None, help="HuBERT weights (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="RMVPE weights (default: the cache)."),
    config_file: Path | None = typer.Option(None, "--config", help="A .toml or .json RVCTrainConfig."),
    set_: list[str] = typer.Option([], "--set", help=DOTTED_SET_HELP),
) -> None:
    """Train an RVC voice model; restarting the same command continues from the newest checkpoint.

    Several GPUs or machines: torchrun --nproc-per-node 2 -m timbrel train rvc ...
    """
    from timbrel import api
    from timbrel.train.rvc import RVCTrainConfig

    flags = {
        "version": version,
        "sample_rate": sample_rate,
        "f0_method": None if f0_method == "none" else f0_method,
        "batch_size": batch_size,
        "pretrained_g": pretrained_g,
        "pretrained_d": pretrained_d,
        "run.device": device,
        "run.precision": precision,
        "loop.epochs": epochs,
        "loop.save_every_epochs": save_every_epoch,
        "loop.keep_latest_only": keep_latest_only,
    }
    # `none` asks for no pitch, which a flag cannot say with None (not given): as --set would
    no_pitch = ["f0_method=null"] if f0_method == "none" else []
    with one_line_errors():
        config = configured(RVCTrainConfig(), flags, no_pitch + set_, config_file)
        result = api.train_rvc(
            logs_dir / experiment,
            config,
            input_dir=input_dir,
            stage=stage,
            hubert=hubert,
            rmvpe=rmvpe,
            show_progress=True,
        )
    console.print(
        f"trained to step {result.position.step}; voice model: {result.voice_model}", soft_wrap=True
    )
    if result.best_voice_model is not None:
        console.print(f"best by validation: {result.best_voice_model}", soft_wrap=True)


@train_app.command("rift")
def train_rift(
    source: Path = typer.Argument(
        ...,
        help="A prepared RIFT dataset (it holds meta_info.json: trained as it is), else a folder of "
        "recordings, <speaker>/<recording> (one-click: prepared into --data-dir, extracted, trained).",
    ),
    data_dir: Path | None = typer.Option(
        None, help="One-click: the dataset folder to prepare into (default: data/<RECORDINGS folder name>)."
    ),
    # one-click splits per speaker unless told otherwise, unlike `prepare rift`
    split_type: str = typer.Option("stratified", help=scoped_help("One-click", *SPLIT, "split_type")),
    num_test: int = typer.Option(
        default_of(*SPLIT, "num_test"), help=scoped_help("One-click", *SPLIT, "num_test")
    ),
    num_test_per_speaker: int = typer.Option(
        default_of(*SPLIT, "num_test_per_speaker"),
        help=scoped_help("One-click", *SPLIT, "num_test_per_speaker"),
    ),
    contentvec: Path | None = typer.Option(None, help="One-click: ContentVec folder (default: the cache)."),
    rmvpe: Path | None = typer.Option(None, help="One-click: RMVPE weights (default: the cache)."),
    preset: str = typer.Option(
        "finetune", help="finetune (from a pretrained DiT) or pretrain (from scratch)."
    ),
    model_size: str | None = typer.Option(
        None, "--model", help="dit-512-8, dit-768-12 or dit-1024-16 (default: the pretrained file's)."
    ),
    run_name: str | None = typer.Option(None, help="Checkpoints go to OUTPUT_DIR/RUN_NAME."),
    output_dir: Path | None = typer.Option(None, help="Folder of runs (default: ckpts)."),
    pretrained: Path | None = typer.Option(None, help="RIFT-SVC .ckpt or Timbrel model to start from."),
    learning_rate: float | None = typer.Option(None, help="Peak learning rate."),
    weight_decay: float | None = typer.Option(None, help="Weight decay of the matrices."),
    max_steps: int | None = typer.Option(None, help="Optimizer steps in total."),
    batch_size: int | None = typer.Option(None, help="Batch size per process (batch_size_per_gpu)."),
    grad_accumulation: int | None = typer.Option(None, help="Micro-batches per optimizer step."),
    save_every: int | None = typer.Option(None, help="Checkpoint every N steps (save_per_steps)."),
    test_every: int | None = typer.Option(None, help="Validate every N steps (test_per_steps)."),
    time_schedule: str | None = typer.Option(None, help="lognorm or uniform."),
    freeze_adaln_and_tembed: bool | None = typer.Option(
        None, "--freeze-adaln-and-tembed/--train-adaln-and-tembed", help="Freeze adaLN and time embedding."
    ),
    drop_speaker_probability: float | None = typer.Option(None, help="Speaker dropout (drop_spk_prob)."),
    logger: str | None = typer.Option(None, help="tensorboard, wandb or none."),
    save_weights_only: bool | None = typer.Option(
        None, "--save-weights-only/--save-full-state", help="Exported .ckpt without/with optimizer state."
    ),
    resume: Path | None = typer.Option(None, help="Checkpoint to resume from (resume_from_checkpoint)."),
    wandb_resume_id: str | None = typer.Option(None, help="W&B run id to continue."),
    device: str | None = typer.Option(None, help=DEVICE_HELP + " (default: the config's, cpu)"),
    precision: str | None = typer.Option(None, help=PRECISION_HELP + " The reference trains in bf16."),
    vocoder: Path | None = typer.Option(None, help="NSF-HiFiGAN folder: validation reports mcd/psnr/si_snr."),
    config_file: Path | None = typer.Option(None, "--config", help="A .toml or .json RIFTTrainConfig."),
    set_: list[str] = typer.Option([], "--set", help=DOTTED_SET_HELP),
) -> None:
    """Train a RIFT voice model; restarting the same run continues from its newest checkpoint.

    Given recordings, one click: prepare, split (meta_info.json), extract, train; each stage skips
    what is done. Beside each model goes <model>.timbrel.json with every speaker's f0 statistics
    (for convert --auto-key). Several GPUs: torchrun --nproc-per-node 2 -m timbrel train rift DATA_DIR ...
    """
    from timbrel import api
    from timbrel.core.errors import BadInputError
    from timbrel.dataset.rift import SplitConfig
    from timbrel.train.rift_config import RIFTTrainConfig

    presets = {"finetune": RIFTTrainConfig.finetune, "pretrain": RIFTTrainConfig.pretrain}
    if preset not in presets:
        raise typer.BadParameter(f"{preset!r}; allowed: {sorted(presets)}", param_hint="--preset")
    flags = {
        "model.size": model_size,
        "training.run_name": run_name,
        "training.output_dir": output_dir,
        "training.pretrained_path": pretrained,
        "training.learning_rate": learning_rate,
        "training.weight_decay": weight_decay,
        "training.max_steps": max_steps,
        "training.batch_size_per_gpu": batch_size,
        "training.grad_accumulation_steps": grad_accumulation,
        "training.save_per_steps": save_every,
        "training.test_per_steps": test_every,
        "training.time_schedule": time_schedule,
        "training.freeze_adaln_and_tembed": freeze_adaln_and_tembed,
        "training.drop_spk_prob": drop_speaker_probability,
        "training.logger": logger,
        "training.save_weights_only": save_weights_only,
        "training.resume_from_checkpoint": resume,
        "training.wandb_resume_id": wandb_resume_id,
        "training.device": device,
        "training.precision": precision,
        "validation.vocoder_path": vocoder,
    }
    with one_line_errors():
        config = configured(presets[preset](), flags, set_, config_file)
        if not source.is_dir():
            raise BadInputError(source, "not a folder: give a RIFT dataset (meta_info.json) or recordings")
        if api.is_rift_dataset(source):
            result = api.train_rift(source, config, show_progress=True)
        else:
            split = SplitConfig(split_type, num_test, num_test_per_speaker)
            result = api.train_rift(
                data_dir or Path("data") / source.name,
                config,
                show_progress=True,
                recordings=source,
                split=split,
                contentvec=contentvec,
                rmvpe=rmvpe,
            )
    for stage, outcomes in result.stages.items():
        console.print(f"{stage}:", end=" ")
        report_outcomes(outcomes, {"prepare": "prepared", "extract": "extracted"}[stage])
    console.print(f"trained to step {result.step}; checkpoints in {result.run_dir}", soft_wrap=True)
    if result.best is not None:
        metric, value, step = result.best
        console.print(f"best {metric} {value:.4f} at step {step}: {result.run_dir / 'best.safetensors'}")
