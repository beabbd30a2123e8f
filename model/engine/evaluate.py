"""Evaluate a model on a DensePose-COCO file: run it, score it, write the report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from model.evaluation.report import EvaluationReport

if TYPE_CHECKING:
    from model.data.flip import FlipTable
    from model.engine.checkpoint import Checkpoint
    from model.evaluation.distances import PointDistance
    from model.inference.tta import Augmentation

log = logging.getLogger(__name__)

#: Detections below this score are not scored (detectron2 keeps boxes above 0.05).
EVAL_SCORE_THRESHOLD = 0.05


def evaluate_model(
    model: nn.Module,
    data: Path,
    images: Path,
    *,
    gt_boxes: bool = False,
    kappa: str | float = "per_part",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    results_path: Path | None = None,
    atlas_body: str = "anny",
    timing: dict[str, float] | None = None,
    distance: PointDistance | None = None,
    modes: tuple[str, ...] = ("gps", "gpsm", "iou"),
    tta: Augmentation | None = None,
    flip_table: FlipTable | None = None,
) -> EvaluationReport:
    """Run ``model`` (eval mode, on its device) over the file's images and score it.

    Args:
        atlas_body: the body model whose atlas the model's (I, U, V) refer to.
        timing: filled with ``inference_s_per_image`` (reading the image included).
        distance: the ruler of the errors and GPS (default: the atlas's geodesics).
        modes: the AP modes.
        tta, flip_table: test-time augmentation (:mod:`model.inference.tta`).
    """
    from annotator.surface.atlas import load_atlas
    from annotator.surface.geodesic import Geodesics
    from model.evaluation.evaluator import evaluate
    from model.evaluation.results import write_results
    from model.inference.on_dataset import iter_detections, read_entries
    from model.inference.predictor import Predictor

    predictor = Predictor(
        model, score_threshold=EVAL_SCORE_THRESHOLD, tta=tta, flip_table=flip_table
    )
    entries = read_entries(data, images)[:limit]
    detections = []
    start = time.perf_counter()
    for k, (_, found) in enumerate(iter_detections(predictor, entries, gt_boxes=gt_boxes)):
        detections.extend(found)
        if progress is not None:
            progress(k + 1, len(entries))
    if timing is not None:
        timing["inference_s_per_image"] = (time.perf_counter() - start) / max(1, len(entries))
    if results_path is not None:
        write_results(results_path, detections)
    atlas = load_atlas(atlas_body) if distance is None else None
    geodesics = Geodesics.load_or_build(atlas) if atlas is not None else None
    return evaluate(
        _ground_truth_of(data, {e.image_id for e in entries} if limit is not None else None),
        detections,
        atlas=atlas,
        geodesics=geodesics,
        distance=distance,
        images_root=Path(data).parent,
        kappa=kappa,
        gt_boxes=gt_boxes,
        modes=modes,
    )


def _ground_truth_of(data: Path, images: set[int] | None) -> dict[str, Any]:
    """The DensePose-COCO document, cut to ``images`` (None: all)."""
    doc = json.loads(Path(data).read_text())
    if images is not None:
        doc["images"] = [im for im in doc["images"] if int(im["id"]) in images]
        doc["annotations"] = [a for a in doc["annotations"] if int(a["image_id"]) in images]
    return doc


def ruler(
    ckpt: Checkpoint, data: Path, distance: PointDistance | None
) -> tuple[PointDistance | None, tuple[str, ...]]:
    """The ruler and AP modes a checkpoint can be scored with on ``data``.

    A model of the official DensePose charts (detectron2's zoo) on data of other charts (Anny)
    gets no geodesic figure: its (I, U, V) name other surface points. Only IOU AP and the mask
    IoU are scored, and the report says why. Any other model must speak its atlas's charts.
    """
    from annotator.surface.atlas import load_atlas
    from model.evaluation.distances import Unmeasured

    modes = ("gps", "gpsm", "iou")
    if not ckpt.official_charts:
        ckpt.check_atlas(load_atlas(ckpt.atlas["body"]))
        return distance, modes
    info = json.loads(Path(data).read_text()).get("info")
    body = info.get("body_model") if isinstance(info, dict) else None
    if body not in (None, "smpl"):
        reason = (
            f"the model speaks the official DensePose charts, {data.name} the {body} charts "
            "(GPS and point errors refused; IOU AP and mask IoU scored)"
        )
        return Unmeasured(reason), ("iou",)
    if distance is None and not load_atlas("smpl").official_charts:
        raise ValueError(
            "this model speaks the official DensePose charts: score it with --geodesics "
            "reference --reference-data DIR, or build the SMPL atlas with UV_Processed.mat"
        )
    return distance, modes


def headline(report: EvaluationReport) -> dict[str, float]:
    """The figures a training log and a comparison table show (fractions; NaN: none)."""
    out = {
        f"{mode}_{name}": summary.stats[name]
        for mode, summary in report.ap.items()
        for name in ("AP", "AP50", "AP75")
    }
    overall = report.pointwise.figures.overall
    out |= {
        "auc10": overall.auc10,
        "auc30": overall.auc30,
        "mean_error_m": overall.mean,
        "mask_iou": report.pointwise.mean_mask_iou,
    }
    if report.dense is not None:
        dense = report.dense.figures.overall
        out |= {
            "dense_auc10": dense.auc10,
            "dense_auc30": dense.auc30,
            "dense_mean_error_m": dense.mean,
        }
    return out


def _progress_bar(desc: str) -> tuple[Any, Callable[[int, int], None]]:
    """A terminal progress bar and the callback that moves it to (done, total)."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="image")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return bar, progress


def evaluate_checkpoint(
    checkpoint: Path,
    data: Path,
    images: Path,
    *,
    gt_boxes: bool = False,
    device: str = "auto",
    kappa: str | float = "per_part",
    out: Path | None = None,
    limit: int | None = None,
    distance: PointDistance | None = None,
    fast: bool = False,
    tta: Augmentation | None = None,
    uv_symmetry: Path | None = None,
) -> EvaluationReport:
    """``dpstudio model evaluate``: the checkpoint's figures on a data set (``distance``: the
    ruler, default the checkpoint atlas's geodesics; ``fast``, ``tta``, ``uv_symmetry``: see
    :meth:`model.inference.predictor.Predictor.from_checkpoint`)."""
    from model.engine.checkpoint import load_checkpoint
    from model.inference.predictor import (
        flip_table_of,
        for_inference,
        load_model,
        pick_device,
    )

    ckpt = load_checkpoint(checkpoint)
    distance, modes = ruler(ckpt, data, distance)
    model, _ = load_model(ckpt, pick_device(device))
    for_inference(model, fast=fast)
    table = flip_table_of(ckpt, uv_symmetry) if tta is not None and tta.flip else None
    bar, progress = _progress_bar("inference")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    report = evaluate_model(
        model,
        data,
        images,
        gt_boxes=gt_boxes,
        kappa=kappa,
        limit=limit,
        progress=progress,
        timing=timing,
        atlas_body=ckpt.atlas["body"],
        results_path=out / "results.json" if out is not None else None,
        distance=distance,
        modes=modes,
        tta=tta,
        flip_table=table,
    )
    bar.close()
    if out is not None:
        record = {"checkpoint": str(ckpt.path), "iteration": ckpt.iteration}
        record |= {"gt_boxes": gt_boxes, **timing, **report.to_dict()}
        (out / "evaluation.json").write_text(json.dumps(record, indent=1))
    return report
