"""Dense figures on synthetic data: every skin pixel of every annotated person is scored.

``dpstudio synth`` writes, per image, ``gt_file`` (:mod:`annotator.synth.writer`): the exact
surface point, person (``instance``) and (I, U, V) of each skin pixel. A person of the
DensePose-COCO file is its instance ``k`` (the annotation's ``instance`` key). For each
annotated person and each of its skin pixels ``(r, c)``, its detection (the pointwise
matching) is read at ``(r - box_y, c - box_x)`` of its integer box; the predicted (I, U, V)
becomes a surface point whose geodesic distance to the true one is the error. Pixels outside
the box, predicted background, or of a person without a detection are misses (infinite).
Predictions are read quantized, as everywhere in the evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.dataset.errors import NO_VALUE, Problem
from annotator.surface.geodesic import Geodesics
from model.evaluation.errors import GroundTruthError
from model.evaluation.figures import ErrorFigures, error_figures
from model.evaluation.ground_truth import GroundTruth
from model.evaluation.results import Detection, quantize
from model.evaluation.surface_lookup import iuv_errors


@dataclass(frozen=True)
class DenseReport:
    """Dense figures over the skin pixels of the annotated persons.

    Attributes:
        images: images with a truth file that were scored.
        persons: annotated persons scored; matched: those with a detection.
        figures: RCP, AUC, mean / median per chart and coarse part (``points`` = pixels).
    """

    images: int
    persons: int
    matched: int
    figures: ErrorFigures

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "persons": self.persons,
            "matched": self.matched,
            **self.figures.as_dict(),
        }


def has_truth_files(gt: GroundTruth) -> bool:
    """Whether the ground truth is a synthetic folder's (images carry ``gt_file``)."""
    return any("gt_file" in im for im in gt.images.values())


def dense_report(
    gt: GroundTruth,
    detections: Sequence[Detection],
    match: np.ndarray,
    geodesics: Geodesics,
    root: Path,
) -> DenseReport:
    """Score every skin pixel of the annotated persons of images with a truth file.

    Raises:
        GroundTruthError: a truth file is missing, unreadable, or of another body model.
    """
    from annotator.synth.writer import load_ground_truth as load_truth_file

    errors, charts = [], []
    images = persons = matched = 0
    for image_id in gt.image_ids:
        record = gt.images[image_id]
        annotations = [
            a for a in np.flatnonzero(gt.image_of == image_id)
            if gt.has_points[a] and "instance" in gt.annotations[a]
        ]  # fmt: skip
        if "gt_file" not in record or not annotations:
            continue
        truth = _read_truth(load_truth_file, root / record["gt_file"], gt.source, image_id)
        if truth.body != geodesics.atlas.body:
            message = f"body {truth.body!r} is not the atlas's {geodesics.atlas.body!r}"
            raise GroundTruthError([_problem(gt.source, image_id, message)])
        images += 1
        for a in annotations:
            pixels = (truth.instance == gt.annotations[a]["instance"]) & (truth.face >= 0)
            det = int(match[a])
            e = _pixel_errors(truth, pixels, detections[det] if det >= 0 else None, geodesics)
            errors.append(e)
            charts.append(truth.i[pixels].astype(np.int64))
            persons += 1
            matched += det >= 0
    e_all = np.concatenate(errors) if errors else np.zeros(0)
    c_all = np.concatenate(charts) if charts else np.zeros(0, np.int64)
    return DenseReport(images, persons, matched, error_figures(e_all, c_all))


def _pixel_errors(
    truth: Any, pixels: np.ndarray, detection: Detection | None, geodesics: Geodesics
) -> np.ndarray:
    """Errors ``[n]`` of the person's skin pixels (row-major), infinite for misses."""
    rows, cols = np.nonzero(pixels)
    errors = np.full(len(rows), np.inf)
    if detection is None or not len(rows):
        return errors
    x0, y0, _, _ = detection.densepose.box
    iuv = quantize(detection.densepose)
    r, c = rows - y0, cols - x0
    inside = np.flatnonzero((r >= 0) & (c >= 0) & (r < iuv.shape[1]) & (c < iuv.shape[2]))
    i, u, v = iuv[:, r[inside], c[inside]]
    points = truth.points(pixels)
    errors[inside] = iuv_errors(geodesics, points[inside], i, u / 255.0, v / 255.0)
    return errors


def _read_truth(loader: Any, path: Path, source: str, image_id: int) -> Any:
    try:
        return loader(path)
    except FileNotFoundError:
        message = f"truth file {path} not found (pass the synthetic folder as images root)"
    except (OSError, ValueError, KeyError) as exc:
        message = f"truth file {path} cannot be read ({exc})"
    raise GroundTruthError([_problem(source, image_id, message)])


def _problem(source: str, image_id: int, message: str) -> Problem:
    return Problem(source, f"image {image_id}", "gt_file", NO_VALUE, message)
