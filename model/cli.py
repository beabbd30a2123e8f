"""``dpstudio model ...``: train, evaluate, run and compare DensePose models.

Registered like the other areas' ``cli`` modules: nothing heavy at import (torch is imported
inside the handlers), errors the user can fix end as one line (:class:`UserError`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.cli import UserError

if TYPE_CHECKING:
    from model.inference.tta import Augmentation
from model.evaluation.cli import (
    add_geodesics_arguments,
    check_geodesics_arguments,
    reference_distance,
)


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser(
        "model",
        help="DensePose models: train, evaluate, predict, compare",
        description="Train DensePose R-CNN (torchvision Faster R-CNN + FPN with a DensePose "
        "head) on DensePose-COCO or synthetic data, evaluate it with the reference metrics, "
        "run it on images. `dpstudio model presets` lists the configurations.",
    )
    cmds = model.add_subparsers(dest="model_command", metavar="ACTION")
    _register_train(cmds)
    _register_evaluate(cmds)
    _register_predict(cmds)
    _register_compare(cmds)
    _register_distill(cmds)
    _register_preannotate(cmds)
    presets = cmds.add_parser("presets", help="list the shipped configurations")
    presets.set_defaults(handler=_presets)
    from model.evaluation.cli import register_score
    from model.zoo.cli import register as register_zoo

    register_score(cmds)
    register_zoo(cmds)
    model.set_defaults(handler=lambda args: model.print_help() or 2)


#: What --fast does (predict, evaluate).
FAST_HELP = (
    "on the CPU, NHWC convolutions: about a tenth faster; outputs differ from "
    "detectron2's in the last bits (by default a zoo model's are bit for bit detectron2's)"
)


def add_tta_arguments(parser: argparse.ArgumentParser) -> None:
    """Test-time augmentation (model/inference/tta.py)."""
    parser.add_argument(
        "--tta", action="store_true", help="test-time augmentation: also the mirrored image"
    )
    parser.add_argument(
        "--tta-scales", help="test-time augmentation: shorter sides, e.g. 400,600,800"
    )
    parser.add_argument(
        "--uv-symmetry",
        type=Path,
        help="DensePose's UV_symmetry_transforms.mat: test-time flip of a detectron2 zoo model",
    )


def tta_of(args: argparse.Namespace) -> Augmentation | None:
    """The augmentation --tta / --tta-scales ask for (None: none)."""
    from model.inference.tta import Augmentation

    if not args.tta and not args.tta_scales:
        return None
    try:
        scales = tuple(int(s) for s in (args.tta_scales or "").split(",") if s.strip())
    except ValueError as exc:
        raise UserError(f"--tta-scales {args.tta_scales}: expected sizes like 400,600,800") from exc
    return Augmentation(scales=scales, flip=args.tta)


def add_data_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=required,
        help="DensePose-COCO JSON, or a `dpstudio synth` folder",
    )
    parser.add_argument(
        "--images",
        type=Path,
        help="image folder (default: the synth folder's images/, or the JSON's folder)",
    )


def resolve_data(data: Path, images: Path | None) -> tuple[Path, Path]:
    """(JSON, image folder) from ``--data`` (a JSON or a synth folder) and ``--images``."""
    if data.is_dir():
        json_path = data / "densepose.json"
        if not json_path.is_file():
            raise UserError(
                f"{data}: a folder given as data must hold densepose.json "
                "(a `dpstudio synth` folder)"
            )
        return json_path, images or data / "images"
    if not data.is_file():
        raise UserError(f"{data}: no such file")
    return data, images or data.parent


def _register_train(cmds: argparse._SubParsersAction) -> None:
    train = cmds.add_parser(
        "train",
        help="train a model (one process, or several with torchrun)",
        description="Trains a DensePose model and writes RUN/: config.yaml (the resolved "
        "configuration), metrics.jsonl, TensorBoard files, checkpoints (model_NNNNNNN.pth, "
        "model_final.pth). Ctrl+C (or SIGTERM) stops after the current iteration with a "
        "checkpoint; --resume continues exactly. Several processes: torchrun "
        "--nproc-per-node N -m annotator.cli model train ...",
    )
    train.add_argument(
        "--config",
        help="preset name (see `dpstudio model presets`), zoo:NAME or YAML file (default: "
        "R_18_FPN_cpu; with --weights zoo:NAME, that model's configuration)",
    )
    add_data_arguments(train, required=False)
    train.add_argument("--val", type=Path, help="held-out DensePose-COCO JSON or synth folder")
    train.add_argument("--val-images", type=Path, help="held-out images (default: as --images)")
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    train.add_argument(
        "--weights",
        help="none, imagenet, coco, zoo:NAME (a detectron2 zoo model) or a checkpoint file "
        "(default: the preset's)",
    )
    train.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    train.add_argument("--max-iter", type=int, help="shortcut for --set solver.max_iter=N")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. solver.base_lr=0.02 (repeatable)",
    )
    train.add_argument(
        "--progress-json",
        action="store_true",
        help="progress as JSON lines on stdout (for the app)",
    )
    train.set_defaults(handler=_train)


def _register_evaluate(cmds: argparse._SubParsersAction) -> None:
    ev = cmds.add_parser(
        "evaluate",
        help="evaluate a checkpoint: GPS / GPSm / IOU AP, RCP, AUC, per-part errors",
        description="Runs the model on a DensePose-COCO file's images and scores it like "
        "detectron2's evaluator (GPS, GPSm, IOU AP / AR), plus the paper's pointwise figures "
        "(RCP, AUC10, AUC30, per-part geodesic error, mask IoU) and, on synthetic folders, "
        "dense figures at every skin pixel.",
    )
    ev.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run folder")
    add_data_arguments(ev)
    ev.add_argument(
        "--gt-boxes",
        action="store_true",
        help="run the DensePose head on the true boxes instead of detections",
    )
    ev.add_argument("--out", type=Path, help="write the report (JSON) and results here")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--kappa", default="per_part", help="per_part or metres (paper: 0.255)")
    ev.add_argument("--limit", type=int, help="only the first N images")
    ev.add_argument("--fast", action="store_true", help=FAST_HELP)
    add_tta_arguments(ev)
    add_geodesics_arguments(ev)
    ev.set_defaults(handler=_evaluate)


def _register_predict(cmds: argparse._SubParsersAction) -> None:
    pr = cmds.add_parser(
        "predict",
        help="run a checkpoint on images: pictures and a results JSON",
        description="Writes OUT/<image>.png (fine parts, boxes and scores | U and V contour "
        "lines) and OUT/results.json (DensePose challenge format; OUT/images.json maps its "
        "image ids to files). Unreadable images get one line each; the others go on.",
    )
    pr.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run folder")
    pr.add_argument("images", type=Path, nargs="+", help="image files or folders")
    pr.add_argument("--out", type=Path, required=True, help="output folder")
    pr.add_argument("--score-threshold", type=float, default=0.5)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--fast", action="store_true", help=FAST_HELP)
    add_tta_arguments(pr)
    pr.set_defaults(handler=_predict)


def _register_compare(cmds: argparse._SubParsersAction) -> None:
    cmp = cmds.add_parser(
        "compare",
        help="compare trained runs on the same data: accuracy, size, speed, memory",
        description="Measures every run (its last checkpoint) on the same data and machine, "
        "one run at a time in a process of its own: GPS AP (AP50, AP75, APm, APl), GPSm and "
        "IOU AP, AUC10, AUC30, dense error on synthetic data, parameters, training time per "
        "iteration, inference time per image, peak memory. Writes OUT/report.md, report.csv, "
        "report.html, comparison.json and two plots. Runs that cannot be read are named and "
        "skipped.",
    )
    cmp.add_argument("runs", type=Path, nargs="+", help="run folders or checkpoint files")
    add_data_arguments(cmp)
    cmp.add_argument("--out", type=Path, required=True, help="report folder")
    cmp.add_argument(
        "--train-iterations",
        type=int,
        default=3,
        help="timed training iterations per run (0: skip)",
    )
    cmp.add_argument("--limit", type=int, help="only the first N images")
    add_geodesics_arguments(cmp)
    cmp.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from model.compare import compare_runs

    data, images = resolve_data(args.data, args.images)
    result = compare_runs(
        args.runs,
        data,
        images,
        args.out,
        train_iterations=args.train_iterations,
        limit=args.limit,
        progress=print,
        reference_data=check_geodesics_arguments(args),
    )
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}")
    print(result.markdown())
    print(f"report: {args.out / 'report.html'}")
    return 0 if result.rows else 1


def _register_distill(cmds: argparse._SubParsersAction) -> None:
    dis = cmds.add_parser(
        "distill",
        help="label the training persons densely with a teacher run (distillation)",
        description="Runs a teacher (trained on the sparse points) on every annotated "
        "person's true box and keeps its (I, U, V) inside the person's mask: up to N pixels "
        "per person. Train a student on them beside the points with --set data.teacher=OUT "
        "(or name the teacher run there: its labels are then made at the start).",
    )
    dis.add_argument("--teacher", type=Path, required=True, help="teacher run or checkpoint")
    add_data_arguments(dis)
    dis.add_argument("--out", type=Path, required=True, help="labels folder")
    dis.add_argument("--points-per-person", type=int, default=1000)
    dis.add_argument("--device", default="auto")
    dis.set_defaults(handler=_distill)


def _distill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from model.engine.distill import distill

    data, images = resolve_data(args.data, args.images)
    bar = tqdm(desc="teacher labels", unit="image")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        out = distill(
            args.teacher,
            data,
            images,
            args.out,
            points_per_person=args.points_per_person,
            device=args.device,
            progress=progress,
        )
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from exc
    bar.close()
    print((out / "teacher.json").read_text())
    return 0


def _register_preannotate(cmds: argparse._SubParsersAction) -> None:
    pre = cmds.add_parser(
        "preannotate",
        help="propose masks and stage-2 answers for a project's persons with a checkpoint",
        description="Runs a checkpoint on the project's images and stores its proposals as "
        "machine-made work (the 14-part mask, points sampled in it, an answer at each point; "
        "persons the model finds where nobody drew a box): people accept or reject them in "
        "the app (K / Shift+K); they never overwrite a person's work. The project must not be "
        "open in the app (one writer at a time); the app's Model > Pre-annotate does the same "
        "while it is open.",
    )
    pre.add_argument("project", help="project folder, or a postgresql:// URL")
    pre.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run folder")
    pre.add_argument("--images", help="image ids, comma-separated (default: every image)")
    pre.add_argument("--score-threshold", type=float, default=0.5)
    pre.add_argument("--no-find", action="store_true", help="only persons already boxed")
    pre.add_argument("--device", default="auto")
    pre.set_defaults(handler=_preannotate)


def _preannotate(args: argparse.Namespace) -> int:
    import tempfile

    from annotator.dataset.errors import ProjectError
    from annotator.dataset.store import Project
    from model.inference.annotation_proposals import read_proposals
    from model.inference.preannotate import preannotate

    ids = None if not args.images else [int(x) for x in args.images.split(",") if x]
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "proposals.npz"
        try:
            preannotate(
                args.checkpoint,
                args.project,
                file,
                image_ids=ids,
                score_threshold=args.score_threshold,
                find=not args.no_find,
                device=args.device,
                on_note=print,
            )
            model, checkpoint, proposals = read_proposals(file)
            with Project.open(args.project) as project:
                persons = project.add_proposals(model, proposals, checkpoint=checkpoint)
                where = project.location  # a shared project's URL may carry a password
        except (ValueError, OSError, KeyError, ProjectError) as exc:
            raise UserError(str(exc)) from exc
    print(f"{model}: proposals stored for {len(persons)} person(s) of {where}")
    return 0


def _presets(args: argparse.Namespace) -> int:
    from model.config import load_config, preset_names

    for name in preset_names():
        print(f"{name:40s} {load_config(name).description}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from model.engine.run import TrainRequest, train

    data = images = None
    if args.data is not None:
        data, images = resolve_data(args.data, args.images)
    elif not args.resume:
        raise UserError("--data is required (a DensePose-COCO JSON or a synth folder)")
    val = val_images = None
    if args.val is not None:
        val, val_images = resolve_data(args.val, args.val_images)
    overrides = list(args.overrides)
    if args.max_iter is not None:
        overrides.append(f"solver.max_iter={args.max_iter}")
    config = args.config
    if config is None:
        zoo = args.weights if args.weights and args.weights.startswith("zoo:") else None
        config = zoo or "R_18_FPN_cpu"
    request = TrainRequest(
        config=config,
        data=data,
        images=images,
        out=args.out,
        val=val,
        val_images=val_images,
        resume=args.resume,
        weights=args.weights,
        device=args.device,
        overrides=overrides,
        progress_json=args.progress_json,
    )
    try:
        status = train(request)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from exc
    return 0 if status in ("done", "stopped") else 1


def _evaluate(args: argparse.Namespace) -> int:
    from model.engine.evaluate import evaluate_checkpoint

    data, images = resolve_data(args.data, args.images)
    kappa: str | float = args.kappa if args.kappa == "per_part" else float(args.kappa)
    distance = reference_distance(args)  # before inference: bad reference data stop at once
    try:
        report = evaluate_checkpoint(
            args.checkpoint,
            data,
            images,
            gt_boxes=args.gt_boxes,
            device=args.device,
            kappa=kappa,
            out=args.out,
            limit=args.limit,
            distance=distance,
            fast=args.fast,
            tta=tta_of(args),
            uv_symmetry=args.uv_symmetry,
        )
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from exc
    print(report.summary())
    return 0


def _predict(args: argparse.Namespace) -> int:
    from model.inference.predict import predict_images

    try:
        failures = predict_images(
            args.checkpoint,
            args.images,
            args.out,
            device=args.device,
            score_threshold=args.score_threshold,
            fast=args.fast,
            tta=tta_of(args),
            uv_symmetry=args.uv_symmetry,
        )
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from exc
    return 1 if failures else 0
