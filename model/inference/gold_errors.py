"""A model measured on a project's gold tasks with the annotators' ruler.

    python -m model.inference.gold_errors --checkpoint RUN_OR_FILE --project DIR --out DIR

For every gold task, the model's DensePose on the task's own box gives, at each of the
task's points (its sample points, else points sampled in its true labels), the answer
pre-annotation would propose (:func:`model.inference.annotation_proposals.answers_at`); its geodesic
error against the true surface point is exactly what the annotators' errors are
(:mod:`annotator.accuracy.collect`). A point the model sees as background is a miss
(infinite error: never correct, left out of means and of the heat map).

Writes ``OUT/gold_errors.json`` (per coarse part and overall: points, misses, AUC10, AUC30,
mean and median; RCP curves; for the model and for the people who answered the same gold
tasks) and the heat maps ``OUT/heatmap_model.png`` and ``OUT/heatmap_people.png`` (the
Accuracy panel's picture).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.accuracy.collect import true_points
from annotator.dataset.errors import ProjectError
from annotator.dataset.records import AnswerStatus, Box, PartMask, is_machine
from annotator.dataset.store import Project
from annotator.dataset.training_data import gold_points
from annotator.surface.geodesic import Geodesics
from annotator.surface.points import SurfacePoints
from model.inference.annotation_proposals import answers_at, to_proposal

if TYPE_CHECKING:
    from model.inference.predictor import Predictor


@dataclass
class GoldErrors:
    """Errors of one source (the model, or people) at gold points.

    Attributes:
        errors: ``[N]`` geodesic errors, metres (inf: a miss).
        true: the true surface points ``[N]``.
        charts: ``[N]`` the true chart 1..24 of each point.
        mask_iou: per gold task, the mean part IoU of the proposed mask (model only).
    """

    errors: np.ndarray
    true: SurfacePoints
    charts: np.ndarray
    mask_iou: list[float]


def measure_model(predictor: Predictor, project: Project, geodesics: Geodesics) -> GoldErrors:
    """The model's errors at every gold task's points (see module docstring)."""
    import cv2

    from annotator.accuracy.collect import part_iou

    atlas = geodesics.atlas
    errors, faces, barys, mask_iou = [], [], [], []
    for person_id in project.gold_person_ids():
        gold = project.gold(person_id)
        if gold is None:
            continue
        person = project.person(person_id)
        image = project.image(person.image_id)
        bgr = cv2.imread(str(project.image_file(image)), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"{project.image_file(image)}: cannot read the image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        b = person.box
        (pred,) = predictor.on_boxes(rgb, np.array([[b.x, b.y, b.x + b.w, b.y + b.h]]))
        dp = pred.densepose
        maps_box = tuple(int(v) for v in dp.box)
        points = gold_points(project, person_id, gold)
        face, bary, _ = true_points(gold, points.x, points.y)
        keep = face >= 0
        answers = answers_at(points, maps_box, dp.labels.numpy(), dp.uv.numpy(), "model:", atlas)  # type: ignore[arg-type]
        error = np.full(len(points), np.inf)
        seen = keep & (answers.status == AnswerStatus.ANSWERED)
        if seen.any():
            error[seen] = geodesics.distance(
                SurfacePoints(answers.face[seen], answers.bary[seen]),
                SurfacePoints(face[seen], bary[seen]),
            )
        errors.append(error[keep])
        faces.append(face[keep])
        barys.append(bary[keep])
        proposal = to_proposal(
            image_id=image.id or 0, box=Box(b.x, b.y, b.w, b.h), score=pred.score,
            maps_box=maps_box, labels=dp.labels.numpy(), uv=dp.uv.numpy(), model="model:",  # type: ignore[arg-type]
            atlas=atlas, image_size=(image.width, image.height), points=points,
        )  # fmt: skip
        mask = proposal.mask or PartMask(np.zeros((1, 1), np.uint8))
        mask_iou.append(float(np.nanmean(part_iou(mask, gold)[1:])))
    return _gold_errors(geodesics, errors, faces, barys, mask_iou)


def measure_people(project: Project, geodesics: Geodesics) -> GoldErrors:
    """The people's errors on the same gold tasks (models' answers left out)."""
    from annotator.accuracy.collect import collect_errors

    people = [a.name for a in project.annotators() if not is_machine(a.name)]
    found = collect_errors(project, geodesics, people)
    m = found.measured
    return _gold_errors(geodesics, [found.error[m]], [found.true_face[m]], [found.true_bary[m]], [])


def _gold_errors(
    geodesics: Geodesics,
    errors: list[np.ndarray],
    faces: list[np.ndarray],
    barys: list[np.ndarray],
    mask_iou: list[float],
) -> GoldErrors:
    error = np.concatenate(errors) if errors else np.zeros(0)
    face = np.concatenate(faces).astype(np.int64) if faces else np.zeros(0, np.int64)
    bary = np.concatenate(barys) if barys else np.zeros((0, 3))
    true = SurfacePoints(face, bary)
    charts = geodesics.atlas.to_iuv(true)[0] if len(face) else np.zeros(0, np.int64)
    return GoldErrors(error, true, np.asarray(charts, np.int64), mask_iou)


def figures(found: GoldErrors) -> dict[str, Any]:
    """Overall and per coarse part figures, and the RCP curve (JSON-ready, metres)."""
    from model.evaluation.figures import error_figures

    out = error_figures(found.errors, found.charts).as_dict()
    out.pop("per_chart")
    if found.mask_iou:
        out["mean_mask_iou"] = float(np.mean(found.mask_iou))
    return _finite(out)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_heatmap(geodesics: Geodesics, found: GoldErrors, path: Path, title: str) -> bool:
    """The mean-error heat map of the finite errors; False when there are none."""
    from PIL import Image

    from annotator.accuracy.figures import heatmap_figure

    ok = np.isfinite(found.errors)
    if not ok.any():
        return False
    points = SurfacePoints(found.true.face[ok], found.true.bary[ok])
    Image.fromarray(heatmap_figure(geodesics, points, found.errors[ok], title)).save(path)
    return True


def run(
    checkpoint: Path, project_dir: str | Path, out: Path, device: str = "auto"
) -> dict[str, Any]:
    """Measure a checkpoint and the people on a project's gold tasks; write the files."""
    from annotator.surface.atlas import load_atlas
    from model.engine.checkpoint import load_checkpoint
    from model.inference.predictor import Predictor

    ckpt = load_checkpoint(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    with Project.open(project_dir, readonly=True) as project:
        if not project.gold_person_ids():
            raise ValueError(f"{project_dir}: the project has no gold tasks")
        atlas = load_atlas(project.body)
        ckpt.check_atlas(atlas)
        geodesics = Geodesics.load_or_build(atlas)
        predictor = Predictor.from_checkpoint(ckpt, device=device)
        model = measure_model(predictor, project, geodesics)
        people = measure_people(project, geodesics)
    heatmaps: dict[str, str] = {}
    record: dict[str, Any] = {
        "checkpoint": str(ckpt.path),
        "iteration": ckpt.iteration,
        "model": figures(model),
        "people": figures(people),
        "heatmaps": heatmaps,
    }
    for name, found in (("model", model), ("people", people)):
        file = out / f"heatmap_{name}.png"
        title = f"{name}: mean geodesic error on the gold tasks"
        if write_heatmap(geodesics, found, file, title):
            heatmaps[name] = file.name
    (out / "gold_errors.json").write_text(json.dumps(record, indent=1))
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.inference.gold_errors", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--project", required=True, help="project folder, or a postgresql:// URL")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    try:
        record = run(args.checkpoint, args.project, args.out, args.device)
    except (ValueError, OSError, KeyError, ProjectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    model = record["model"]["overall"]
    print(f"model on gold tasks: {model['points']} points, AUC10 {model['auc10']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
