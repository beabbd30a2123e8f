"""A project as training and evaluation data for ``dpstudio model``: exported on the fly.

* :func:`export_for_training`: what people annotated (tasks at *corresponded*, by default
  without unconfirmed model proposals), split by image into a training and a held-out file;
* :func:`export_gold`: the gold tasks with their exact truth at the sample points (the
  project's own points, else sampled in the true part labels as the app would): the data a
  model is measured on with the same points and ruler as the annotators.

Both write DensePose-COCO whose ``file_name`` is each image's path relative to the project
folder, so ``--images PROJECT_DIR`` finds every image wherever it was added from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.dataset import jsonio
from annotator.dataset.densepose_io import DP_DECIMALS, PERSON_CATEGORY, export_densepose
from annotator.dataset.errors import ProjectError
from annotator.dataset.masks import labels_to_rles, to_box256
from annotator.dataset.records import GoldTruth, PartMask, SamplePoints, TaskState
from annotator.dataset.sampling import sample_mask
from annotator.surface.points import SurfacePoints

if TYPE_CHECKING:
    from annotator.dataset.store import Project


@dataclass(frozen=True)
class TrainingData:
    """Files written by :func:`export_for_training`.

    Attributes:
        train: training DensePose-COCO file.
        val: held-out file, or None when nothing was held out.
        images: the folder both files' ``file_name`` entries are relative to.
        train_images, val_images: images in each file.
        persons: persons with DensePose points in both files together.
    """

    train: Path
    val: Path | None
    images: Path
    train_images: int
    val_images: int
    persons: int


def export_for_training(
    project: Project,
    folder: Path,
    *,
    held_out: float = 0.2,
    seed: int = 0,
    min_state: TaskState = TaskState.CORRESPONDED,
    confirmed_only: bool = True,
) -> TrainingData:
    """Export the annotated tasks and split them by image (``held_out`` of the images).

    Raises:
        ProjectError: no task has reached ``min_state`` (nothing to train on).
    """
    if not 0.0 <= held_out < 1.0:
        raise ValueError(f"the held-out share must be in [0, 1), got {held_out}")
    folder.mkdir(parents=True, exist_ok=True)
    report = export_densepose(
        project, folder / "all.json", min_state=min_state, confirmed_only=confirmed_only
    )
    if report.densepose == 0:
        raise ProjectError(
            f"{project.directory}: no task is '{min_state.name.lower()}' yet, so there is "
            "nothing to train on: annotate some persons, or train on a DensePose-COCO file "
            "or a synthetic folder"
        )
    doc = json.loads((folder / "all.json").read_text())
    paths = {im.id: project.local_image_path(im) for im in project.images()}
    for image in doc["images"]:
        image["file_name"] = paths[image["id"]]
    ids = sorted(int(im["id"]) for im in doc["images"])
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = round(held_out * len(ids))
    n_val = min(max(n_val, 1 if held_out > 0 and len(ids) > 1 else 0), len(ids) - 1)
    val_ids = {ids[k] for k in order[:n_val]}
    train = _subset(doc, set(ids) - val_ids, folder / "train.json")
    val = _subset(doc, val_ids, folder / "val.json") if val_ids else None
    return TrainingData(
        train, val, project.directory, len(ids) - len(val_ids), len(val_ids), report.densepose
    )


def _subset(doc: dict[str, Any], image_ids: set[int], path: Path) -> Path:
    out = dict(doc)
    out["images"] = [im for im in doc["images"] if int(im["id"]) in image_ids]
    out["annotations"] = [a for a in doc["annotations"] if int(a["image_id"]) in image_ids]
    path.write_text(jsonio.dumps(out))
    return path


def gold_points(project: Project, person_id: int, gold: GoldTruth) -> SamplePoints:
    """The points a gold task is measured at: its own, else sampled in its true labels."""
    points = project.sample_points(person_id)
    if points is not None and len(points):
        return points
    return sample_mask(PartMask(gold.labels, gold.x0, gold.y0))


def export_gold(project: Project, out: Path) -> int:
    """Write the gold tasks with their true (I, U, V) and part masks; returns the persons.

    The truth's (I, U, V) are read off its stored maps, or computed from its surface points
    through the project's chart atlas when it stores none.

    Raises:
        ProjectError: the project has no gold task (or none with truth at its points).
    """
    images, annotations = {}, []
    for person_id in project.gold_person_ids():
        gold = project.gold(person_id)
        if gold is None:
            continue
        person = project.person(person_id)
        points = gold_points(project, person_id, gold)
        found = _true_iuv(project, gold, points)
        if found is None:
            continue
        keep, i, u, v = found
        box = person.box
        image = project.image(person.image_id)
        images[image.id] = {
            "id": image.id,
            "file_name": project.local_image_path(image),
            "width": image.width,
            "height": image.height,
        }
        labels256 = to_box256(PartMask(gold.labels, gold.x0, gold.y0), box)
        annotations.append(
            {
                "id": person_id,
                "image_id": person.image_id,
                "category_id": 1,
                "iscrowd": 0,
                "area": float(np.count_nonzero(gold.labels)),
                "bbox": box.as_list(),
                "dp_x": _rel(points.x[keep], box.x, box.w),
                "dp_y": _rel(points.y[keep], box.y, box.h),
                "dp_I": i.astype(int).tolist(),
                "dp_U": np.round(u.astype(np.float64), 6).tolist(),
                "dp_V": np.round(v.astype(np.float64), 6).tolist(),
                "dp_masks": labels_to_rles(labels256),
            }
        )
    if not annotations:
        raise ProjectError(f"{project.directory}: no gold task with truth to evaluate on")
    info = {"description": "gold tasks of a DensePose Studio project", "body_model": project.body}
    doc = {
        "info": info,
        "images": list(images.values()),
        "annotations": annotations,
        "categories": [PERSON_CATEGORY],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(jsonio.dumps(doc))
    return len(annotations)


def _true_iuv(
    project: Project, gold: GoldTruth, points: SamplePoints
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(keep [N] bool, I, U, V [M])``: the truth at the points on the body, or None."""
    col = np.floor(points.x).astype(np.int64) - gold.x0
    row = np.floor(points.y).astype(np.int64) - gold.y0
    h, w = gold.labels.shape
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    c, r = np.clip(col, 0, w - 1), np.clip(row, 0, h - 1)
    keep = inside & (gold.face[r, c] >= 0)
    if not keep.any():
        return None
    if gold.i is not None and gold.u is not None and gold.v is not None:
        keep &= gold.i[r, c] > 0
        return keep, gold.i[r, c][keep], gold.u[r, c][keep], gold.v[r, c][keep]
    from annotator.surface.atlas import load_atlas

    surface = SurfacePoints(gold.face[r, c][keep], gold.bary[r, c][keep].astype(np.float64))
    i, u, v = load_atlas(project.body).to_iuv(surface)
    return keep, np.asarray(i), np.asarray(u), np.asarray(v)


def _rel(values: np.ndarray, start: float, size: float) -> list[float]:
    return np.round(np.clip((values - start) / size * 255.0, 0, 255), DP_DECIMALS).tolist()
