"""Small DensePose-COCO documents and detections written by hand for the tests."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils

from annotator.dataset.densepose_io import PERSON_CATEGORY
from model.evaluation.results import Detection
from model.structures import DensePoseResult

#: A point: (dp_x, dp_y, I, U, V); U and V on the 1/255 grid of the results format.
Point = tuple[float, float, int, float, float]

POINTS: list[Point] = [
    (40.0, 30.0, 1, 51 / 255, 102 / 255),
    (200.0, 60.0, 3, 128 / 255, 64 / 255),
    (120.0, 200.0, 15, 20 / 255, 230 / 255),
    (60.0, 240.0, 23, 90 / 255, 90 / 255),
]


def full_masks(parts: int = 1) -> list[Any]:
    """``dp_masks`` covering the whole box with coarse part ``parts`` (others empty)."""
    rle = mask_utils.encode(np.asfortranarray(np.ones((256, 256), np.uint8)))
    entry = {"size": [256, 256], "counts": rle["counts"].decode("ascii")}
    return [entry if k == parts - 1 else [] for k in range(14)]


def person(
    ann_id: int,
    image_id: int,
    bbox: list[float],
    points: list[Point] | None = POINTS,
    *,
    area: float | None = None,
    masks: bool = True,
) -> dict[str, Any]:
    """A person; ``points=None`` makes a plain COCO person (no ``dp_x``: ignored)."""
    ann: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": [float(c) for c in bbox],
        "area": float(area if area is not None else bbox[2] * bbox[3]),
    }
    if points is not None:
        x, y, i, u, v = (list(c) for c in zip(*points, strict=True)) if points else ([],) * 5
        ann.update(dp_x=x, dp_y=y, dp_I=i, dp_U=u, dp_V=v)
    if masks:
        ann["dp_masks"] = full_masks()
    return ann


def document(annotations: list[dict[str, Any]], images: int = 1, size: int = 400) -> dict:
    """A DensePose-COCO document with ``images`` square images (ids 1..)."""
    return {
        "images": [
            {"id": k, "file_name": f"{k:06d}.jpg", "width": size, "height": size}
            for k in range(1, images + 1)
        ],
        "annotations": copy.deepcopy(annotations),
        "categories": [copy.deepcopy(PERSON_CATEGORY)],
    }


def detection(
    image_id: int,
    bbox: tuple[float, float, float, float],
    score: float = 0.9,
    *,
    chart: int = 0,
    writes: list[tuple[int, int, int, float, float]] = (),  # type: ignore[assignment]
    gt_id: int | None = None,
) -> Detection:
    """A detection whose maps hold ``chart`` (U = V = 0) everywhere and (I, U, V) at each
    ``(row, col, I, U, V)`` of ``writes``."""
    x, y, w, h = bbox
    labels = np.full((int(h), int(w)), chart, np.uint8)
    uv = np.zeros((2, int(h), int(w)), np.float32)
    for row, col, i, u, v in writes:
        labels[row, col], uv[0, row, col], uv[1, row, col] = i, u, v
    result = DensePoseResult(
        (int(x), int(y), int(w), int(h)), torch.from_numpy(labels), torch.from_numpy(uv)
    )
    return Detection(image_id, 1, bbox, score, result, gt_id)
