"""``dpstudio model train``: assemble a run (config, data, model, state) and train it.

A new run writes ``RUN/config.yaml`` (the resolved configuration) and ``RUN/run.json`` (data,
atlas, processes, starting weights); ``--resume`` reads them back and continues from the last
checkpoint, so the command line of a resumed run only needs ``--out`` (``--set`` may still
change a field, e.g. ``solver.max_iter`` to train longer).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from model.config import Config, load_config
from model.engine import distributed as dist_utils
from model.engine.checkpoint import (
    CheckpointError,
    atlas_identity,
    latest_checkpoint,
    load_checkpoint,
)
from model.engine.runlog import RunLog
from model.engine.trainer import BatchPlan, StopRequest, Trainer, TrainState, build_state

if TYPE_CHECKING:
    from annotator.surface.atlas import Atlas
    from model.engine.distributed import World

log = logging.getLogger(__name__)

#: A file whose appearance in the run folder stops the run like SIGINT (used by the app).
STOP_FILE = "STOP"


@dataclass
class TrainRequest:
    """What ``dpstudio model train`` was asked to do."""

    config: str
    data: Path | None
    images: Path | None
    out: Path
    val: Path | None = None
    val_images: Path | None = None
    resume: bool = False
    weights: str | None = None
    device: str = "auto"
    overrides: list[str] = field(default_factory=list)
    progress_json: bool = False


def resolve_run(request: TrainRequest) -> tuple[Config, dict[str, Any]]:
    """The config and the run description (data paths...), new or read back for ``--resume``."""
    run_file = request.out / "run.json"
    if request.resume and run_file.is_file():
        run = json.loads(run_file.read_text())
        cfg = load_config(str(request.out / "config.yaml"), request.overrides)
        return cfg, run
    if request.resume:
        raise ValueError(f"--resume: {request.out} holds no run to continue (no run.json)")
    if request.data is None or request.images is None:
        raise ValueError("--data is required for a new run")
    if (request.out / "run.json").is_file():
        raise ValueError(
            f"{request.out} already holds a run: use --resume to continue it, or another --out"
        )
    overrides = list(request.overrides)
    if request.weights:
        overrides.append(f"weights={request.weights}")
    cfg = load_config(request.config, overrides)
    run = {
        "data": str(request.data),
        "images": str(request.images),
        "val": str(request.val) if request.val else None,
        "val_images": str(request.val_images) if request.val_images else None,
        "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return cfg, run


def write_run_files(out: Path, cfg: Config, run: dict[str, Any]) -> None:
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(
        f"# resolved configuration of this run ({cfg.name})\n"
        + yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    )
    (out / "run.json").write_text(json.dumps(run, indent=1))


def build_for_training(cfg: Config, runlog: RunLog) -> nn.Module:
    """The model with its starting weights (the trainer says where they come from)."""
    from model.modeling.build import build_model
    from model.modeling.weights import resolve_weights

    weights = resolve_weights(
        cfg.weights, backbone=cfg.model.backbone, backbone_norm=cfg.model.backbone_norm
    )
    if (
        weights.backbone is None
        and weights.detector is None
        and weights.checkpoint is None
        and cfg.model.backbone_norm == "frozen_bn"
    ):
        # Frozen batch norm without pretrained statistics cannot learn: normalise for real.
        cfg.model.backbone_norm = "gn"
        weights.note += " (backbone_norm frozen_bn -> gn, as nothing was pretrained)"
    runlog.note(weights.note)
    model = build_model(cfg.model, weights)
    if weights.checkpoint is not None:
        ckpt = load_checkpoint(weights.checkpoint)
        own = model.state_dict()
        fitting = {k: v for k, v in ckpt.model.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(fitting, strict=False)
        if len(fitting) < len(own) or len(fitting) < len(ckpt.model):
            runlog.note(
                f"weights: {len(own) - len(fitting)} tensors of the model are not in the file "
                f"or differ in shape (trained from scratch), {len(ckpt.model) - len(fitting)} "
                "tensors of the file unused"
            )
    return model


def train(request: TrainRequest) -> str:
    """Run (or resume) a training run; returns "done" or "stopped"."""
    from annotator.surface.atlas import load_atlas

    world = dist_utils.setup(request.device)
    try:
        torch.set_num_threads(max(1, torch.get_num_threads() // max(1, _local_processes())))
        cfg, run = resolve_run(request)
        atlas = load_atlas(cfg.data.body, cfg.data.atlas or None)
        last = latest_checkpoint(request.out) if request.resume else None
        runlog = RunLog(
            request.out,
            start_iter=load_checkpoint(last).iteration if last else 0,
            max_iter=cfg.solver.max_iter,
            progress_json=request.progress_json,
            enabled=world.is_main,
        )
        state = _start_state(cfg, run, request.out, last, world, atlas, runlog)
        trainer = Trainer(
            config=cfg,
            state=state,
            batches=_batches(cfg, run, request.out, world, atlas, runlog, state.iteration),
            world=world,
            run_dir=request.out,
            runlog=runlog,
            atlas_id=atlas_identity(atlas),
            evaluate=_evaluator(run, cfg, atlas.body),
            stop=StopRequest(request.out / STOP_FILE),
        )
        (request.out / STOP_FILE).unlink(missing_ok=True)
        status = trainer.train()
        runlog.close()
        return status
    finally:
        dist_utils.teardown(world)


def _start_state(
    cfg: Config,
    run: dict[str, Any],
    out: Path,
    last: Path | None,
    world: World,
    atlas: Atlas,
    runlog: RunLog,
) -> TrainState:
    """The model and optimiser state to train from: new (and the run files written), or
    restored from the checkpoint ``last``."""
    torch.manual_seed(cfg.seed)  # the initial weights are a function of the seed
    model = build_for_training(cfg, runlog) if last is None else _rebuild(cfg)
    if world.is_main and last is None:
        run |= {
            "atlas": atlas_identity(atlas),
            "processes": world.size,
            "device": str(world.device),
        }
        write_run_files(out, cfg, run)
    dist_utils.barrier(world)
    state = build_state(model.to(world.device), cfg, world.device)
    if last is not None:
        _restore(state, last, atlas, runlog)
    return state


def _batches(
    cfg: Config,
    run: dict[str, Any],
    out: Path,
    world: World,
    atlas: Atlas,
    runlog: RunLog,
    start_iter: int,
) -> Iterator[tuple[list[torch.Tensor], list[dict[str, Any]]]]:
    """This process's micro-batches from ``start_iter`` on, augmented as ``cfg`` declares."""
    from model.engine.stream import micro_batches, train_transform, training_dataset

    labels = _teacher_labels(cfg, run, out, world, runlog)
    dataset = training_dataset(cfg, Path(run["data"]), Path(run["images"]), atlas, labels)
    return micro_batches(
        dataset,
        plan=BatchPlan.create(cfg.solver, world.size),
        world=world,
        seed=cfg.seed,
        start_iter=start_iter,
        num_workers=cfg.data.num_workers,
        transform=train_transform(cfg, atlas),
    )


def _teacher_labels(
    cfg: Config, run: dict[str, Any], out: Path, world: World, runlog: RunLog
) -> Path | None:
    """The teacher's labels folder of a distillation run (made now from a teacher run)."""
    from model.engine.distill import POINTS_FILE, distill

    if not cfg.data.teacher:
        return None
    teacher = Path(cfg.data.teacher)
    if (teacher / POINTS_FILE).is_file():
        return teacher
    labels = out / "teacher_labels"
    if world.is_main and not (labels / POINTS_FILE).is_file():
        runlog.note(f"distillation: labelling the training images with the teacher {teacher}")
        distill(
            teacher,
            Path(run["data"]),
            Path(run["images"]),
            labels,
            points_per_person=cfg.data.dense_points,
            device=str(world.device),
        )
    dist_utils.barrier(world)
    return labels


def _local_processes() -> int:
    import os

    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def _rebuild(cfg: Config) -> nn.Module:
    from model.modeling.build import build_model

    return build_model(cfg.model)


def _restore(state: TrainState, path: Path, atlas: Atlas, runlog: RunLog) -> None:
    ckpt = load_checkpoint(path)
    ckpt.check_atlas(atlas)
    state.model.load_state_dict(ckpt.model)
    if ckpt.training is None:
        raise CheckpointError(f"{path}: holds no training state to resume from")
    state.load_training_state(ckpt.training)
    state.iteration = ckpt.iteration
    runlog.note(f"resumed from {path.name} at iteration {ckpt.iteration}")


def _evaluator(
    run: dict[str, Any], cfg: Config, body: str
) -> Callable[[nn.Module], dict[str, Any]] | None:
    if not run.get("val") or not cfg.solver.eval_period:
        return None
    from model.engine.evaluate import evaluate_model, headline

    def evaluate(model: nn.Module) -> dict[str, Any]:
        report = evaluate_model(model, Path(run["val"]), Path(run["val_images"]), atlas_body=body)
        return headline(report)

    return evaluate
