"""Random DensePose-COCO ground truth and challenge-format results that reach every rule.

Used by ``scripts/check_evaluator.py`` (not a script of its own). One data set has 3 to 6
images of random sizes; some images are empty (no person; detections may still fall there).
A person is, at random:

* annotated: 0 to 25 DensePose points (an empty list too), ``dp_masks`` (random ellipses,
  some parts absent) or, for some, a polygon ``segmentation`` and no ``dp_masks``;
* plain COCO: no ``dp_x`` (ignored by the evaluator), a polygon or nothing;
* a crowd: ``iscrowd`` 1 with a run-length (list) or polygon segmentation, some with points;

of category 1 (person) or 2 (a second category); its ``area`` is random, sometimes exactly
32^2 or 96^2 (the range bounds). Detections: 0 to 2 near each person (jittered boxes, some
across the image border) predicting the person's (I, U, V) at a share of the points where the
reference reads them (exact, or with U, V noise, or background), random charts elsewhere;
false positives anywhere; 21 to 26 in some image (the 20-best cut); some of category 3 (not
in the ground truth). Scores are drawn from a few values, so that ties within and across
images are common.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Scores drawn with probability 1/2 (ties), else uniform with three decimals.
TIED_SCORES = (0.3, 0.5, 0.7, 0.9)


def _rle_text(mask: np.ndarray) -> str:
    from pycocotools import mask as mask_utils

    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode("ascii")


def _ellipse(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    ry, rx = rng.uniform(2, height / 2 + 2), rng.uniform(2, width / 2 + 2)
    return ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1


def _dp_masks(rng: np.random.Generator) -> list[Any]:
    return [
        {"size": [256, 256], "counts": _rle_text(_ellipse(rng, 256, 256))}
        if rng.random() < 0.6
        else []
        for _ in range(14)
    ]


def _polygons(rng: np.random.Generator, box: list[float]) -> list[list[float]]:
    x, y, w, h = box
    out = []
    for _ in range(rng.integers(1, 3)):
        n = rng.integers(3, 7)
        xs, ys = x + rng.uniform(0, w, n), y + rng.uniform(0, h, n)
        out.append([float(round(c, 2)) for pair in zip(xs, ys, strict=True) for c in pair])
    return out


def _runs(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a bool image (column-major, starting with zeros)."""
    flat = mask.T.ravel().astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.r_[0, change, len(flat)]
    runs = np.diff(bounds).tolist()
    return runs if not flat[0] else [0, *runs]


def _box(rng: np.random.Generator, width: int, height: int) -> list[float]:
    side = rng.choice([12.0, 40.0, 90.0, 160.0])
    w = float(min(width - 1, max(4.0, rng.uniform(0.5, 1.5) * side)))
    h = float(min(height - 1, max(4.0, rng.uniform(0.6, 2.2) * side)))
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return [round(float(v), 2) for v in (x, y, w, h)]


def _points(rng: np.random.Generator) -> dict[str, list[Any]]:
    n = int(rng.choice([0, *range(1, 26)]))
    return {
        "dp_x": [float(round(v, 3)) for v in rng.uniform(0, 255, n)],
        "dp_y": [float(round(v, 3)) for v in rng.uniform(0, 255, n)],
        "dp_I": [int(v) for v in rng.integers(1, 25, n)],
        "dp_U": [float(v) for v in rng.random(n)],
        "dp_V": [float(v) for v in rng.random(n)],
    }


def random_person(
    rng: np.random.Generator, ann_id: int, image: dict[str, Any], category: int
) -> dict[str, Any]:
    """One ground-truth annotation of a random kind (module docstring)."""
    width, height = image["width"], image["height"]
    box = _box(rng, width, height)
    area = rng.choice([box[2] * box[3] * rng.uniform(0.4, 1.0), 32.0**2, 96.0**2,
                       rng.uniform(0, 20000)], p=[0.7, 0.1, 0.1, 0.1])  # fmt: skip
    ann: dict[str, Any] = {
        "id": ann_id, "image_id": image["id"], "category_id": category,
        "iscrowd": 0, "bbox": box, "area": float(round(area, 2)),
    }  # fmt: skip
    kind = rng.choice(["points", "points", "points", "polygon points", "plain", "crowd"])
    if kind == "crowd":
        ann["iscrowd"] = 1
        if rng.random() < 0.5:
            mask = np.zeros((height, width), bool)
            x, y, w, h = (int(v) for v in box)
            mask[y : y + h, x : x + w] = _ellipse(rng, h, w)
            ann["segmentation"] = {"size": [height, width], "counts": _runs(mask)}
        else:
            ann["segmentation"] = _polygons(rng, box)
        if rng.random() < 0.3:
            ann.update(_points(rng))
    elif kind == "plain":
        if rng.random() < 0.7:
            ann["segmentation"] = _polygons(rng, box)
    else:
        ann.update(_points(rng))
        if kind == "polygon points":
            ann["segmentation"] = _polygons(rng, box)
        else:
            ann["dp_masks"] = _dp_masks(rng)
    return ann


def _score(rng: np.random.Generator) -> float:
    if rng.random() < 0.5:
        return float(rng.choice(TIED_SCORES))
    return float(round(rng.random(), 3))


def _maps(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """``[3, h, w]`` uint8 (I, U * 255, V * 255): random charts on the whole box or on a
    person-like blob."""
    iuv = rng.integers(0, 256, (3, h, w)).astype(np.uint8)
    inside = _ellipse(rng, h, w) | (rng.random((h, w)) < 0.05)
    if rng.random() < 0.5:
        inside[:] = True
    charts = rng.integers(1, 25, (h // 8 + 1, w // 8 + 1))
    iuv[0] = np.where(inside, np.kron(charts, np.ones((8, 8), np.int64))[:h, :w], 0)
    return iuv


def _near(rng: np.random.Generator, box: list[float]) -> list[float]:
    x, y, w, h = box
    if rng.random() < 0.2:
        return list(box)
    sx, sy = rng.uniform(0.85, 1.15, 2)
    dx, dy = rng.normal(0, 0.06, 2) * (w, h)
    return [round(float(v), 2) for v in (x + dx, y + dy, max(4.0, w * sx), max(4.0, h * sy))]


def detection_record(
    rng: np.random.Generator, image_id: int, box: list[float], category: int,
    target: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """A results record over ``box``; with ``target``, right at a share of its points."""
    from model.evaluation.results import encode_png

    x, y, w, h = box
    iuv = _maps(rng, int(w), int(h))
    if target is not None and "dp_x" in target:
        gx, gy, gw, gh = target["bbox"]
        share, noise = rng.uniform(0.3, 1.0), int(rng.choice([0, 2, 10, 40]))
        fields = zip(*(target[k] for k in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")), strict=True)
        for px, py, i, u, v in fields:
            col = int(px * gw / 255.0 + gx - x)
            row = int(py * gh / 255.0 + gy - y)
            if not (0 <= col < int(w) and 0 <= row < int(h)) or rng.random() > share:
                continue
            if rng.random() < 0.05:
                iuv[0, row, col] = 0
                continue
            du, dv = rng.integers(-noise, noise + 1, 2)
            iuv[:, row, col] = (
                i,
                np.clip(int(u * 255) + du, 0, 255),
                np.clip(int(v * 255) + dv, 0, 255),
            )
    return {
        "image_id": image_id, "category_id": category, "bbox": [float(c) for c in box],
        "score": _score(rng), "uv_shape": list(iuv.shape), "uv_data": encode_png(iuv),
    }  # fmt: skip


def random_dataset(rng: np.random.Generator) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One random ground-truth document and its results records (module docstring)."""
    images = [
        {"id": k, "file_name": f"{k:06d}.jpg", "width": int(rng.integers(160, 480)),
         "height": int(rng.integers(160, 480))}
        for k in range(1, int(rng.integers(3, 7)) + 1)
    ]  # fmt: skip
    annotations: list[dict[str, Any]] = []
    for image in images:
        if rng.random() < 0.2:
            continue  # an empty image
        for _ in range(int(rng.integers(1, 7))):
            category = 1 if rng.random() < 0.8 else 2
            annotations.append(random_person(rng, len(annotations) + 1, image, category))
    records = []
    for ann in annotations:
        image = images[ann["image_id"] - 1]
        for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
            category = ann["category_id"] if rng.random() < 0.95 else 3
            records.append(
                detection_record(rng, image["id"], _near(rng, ann["bbox"]), category, ann)
            )
    crowded = int(rng.integers(1, len(images) + 1)) if rng.random() < 0.5 else 0
    for image in images:
        count = int(rng.integers(21, 27)) if image["id"] == crowded else int(rng.integers(0, 3))
        for _ in range(count):
            box = _box(rng, image["width"], image["height"])
            if rng.random() < 0.1:
                box[0] = -box[2] / 3  # across the left border
            records.append(detection_record(rng, image["id"], box, 1, None))
    categories = [{"id": 1, "name": "person"}, {"id": 2, "name": "other"}]
    return {"images": images, "annotations": annotations, "categories": categories}, records


@dataclass
class Coverage:
    """How many of each case the data sets held (to show they reach every rule)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, doc: dict[str, Any], records: list[dict[str, Any]]) -> str:
        """Count one data set's cases; return them as one line."""
        anns = doc["annotations"]
        annotated = {a["image_id"] for a in anns}
        scores = [r["score"] for r in records]
        per_image = [sum(r["image_id"] == im["id"] for r in records) for im in doc["images"]]
        found = {
            "images": len(doc["images"]),
            "empty images": sum(im["id"] not in annotated for im in doc["images"]),
            "persons": len(anns),
            "with points": sum(bool(a.get("dp_x")) for a in anns),
            "empty point lists": sum("dp_x" in a and not a["dp_x"] for a in anns),
            "without dp_x": sum("dp_x" not in a for a in anns),
            "crowds": sum(a["iscrowd"] for a in anns),
            "polygons": sum(isinstance(a.get("segmentation"), list) for a in anns),
            "category 2": sum(a["category_id"] == 2 for a in anns),
            "detections": len(records),
            "tied scores": len(scores) - len(set(scores)),
            "images > 20 detections": sum(n > 20 for n in per_image),
            "category 3 detections": sum(r["category_id"] == 3 for r in records),
            "detections on empty images": sum(r["image_id"] not in annotated for r in records),
        }
        for key, value in found.items():
            self.counts[key] = self.counts.get(key, 0) + value
        return ", ".join(f"{v} {k}" for k, v in found.items())

    def summary(self) -> str:
        c = self.counts
        return (
            f"{c['images']} images ({c['empty images']} empty), {c['persons']} persons "
            f"({c['with points']} with points, {c['empty point lists']} with an empty point "
            f"list, {c['without dp_x']} without dp_x, {c['crowds']} crowds, {c['polygons']} "
            f"with polygons, {c['category 2']} of category 2), {c['detections']} detections "
            f"({c['tied scores']} tied scores, {c['images > 20 detections']} images with more "
            f"than 20, {c['category 3 detections']} of category 3, "
            f"{c['detections on empty images']} on empty images)"
        )
