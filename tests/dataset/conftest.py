"""Shared helpers of the dataset tests: real image files, small COCO / DensePose documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from annotator.dataset.masks import labels_to_rles
from annotator.dataset.records import Box, ImageRecord, Person
from annotator.dataset.store import Project

KEYPOINTS = [0.0] * 51


def write_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """Write a real image file (JPEG or PNG by suffix) of the given size."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)
    return path


def person_labels(seed: int = 0) -> np.ndarray:
    """A plausible ``[256, 256]`` 14-part label map (blobs of several parts)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((256, 256), np.uint8)
    for part in rng.choice(np.arange(1, 15), size=6, replace=False):
        centre = (int(rng.integers(40, 216)), int(rng.integers(40, 216)))
        axes = (int(rng.integers(10, 50)), int(rng.integers(10, 50)))
        cv2.ellipse(labels, centre, axes, float(rng.integers(0, 180)), 0, 360, int(part), -1)
    return labels


def densepose_doc(
    image_dir: Path, n_images: int = 3, persons_per_image: int = 2, seed: int = 0
) -> dict[str, Any]:
    """A valid DensePose-COCO document with its images written into ``image_dir``.

    Every other person carries DensePose data; the others are plain COCO persons.
    """
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    next_ann = 100
    for k in range(n_images):
        width, height = 320 + 16 * k, 240
        name = f"img_{k:03d}.jpg"
        write_image(image_dir / name, width, height, seed=k)
        image_id = 1000 + k
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for j in range(persons_per_image):
            x, y = float(rng.integers(0, 100)), float(rng.integers(0, 60))
            w, h = float(rng.integers(40, width - x)), float(rng.integers(40, height - y))
            ann: dict[str, Any] = {
                "id": next_ann,
                "image_id": image_id,
                "category_id": 1,
                "iscrowd": 0,
                "area": round(w * h * 0.6, 2),
                "bbox": [x, y, w, h],
                "keypoints": [int(v) for v in rng.integers(0, 3, 51)],
                "num_keypoints": 5,
            }
            if j % 2 == 0:
                ann.update(_dp_fields(rng, seed * 1000 + next_ann))
            annotations.append(ann)
            next_ann += 1
    return {"images": images, "annotations": annotations, "categories": [person_category()]}


def _dp_fields(rng: np.random.Generator, seed: int) -> dict[str, Any]:
    n = int(rng.integers(5, 40))
    return {
        "dp_x": [float(v) for v in np.round(rng.random(n) * 255, 4)],
        "dp_y": [float(v) for v in np.round(rng.random(n) * 255, 4)],
        "dp_I": [int(v) for v in rng.integers(1, 25, n)],
        "dp_U": [float(v) for v in rng.random(n)],
        "dp_V": [float(v) for v in rng.random(n)],
        "dp_masks": labels_to_rles(person_labels(seed)),
    }


def person_category() -> dict[str, Any]:
    from annotator.dataset.densepose_io import PERSON_CATEGORY

    return json.loads(json.dumps(PERSON_CATEGORY))


def save_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A new empty project in ``tmp_path / "proj"``, closed after the test."""
    p = Project.create(tmp_path / "proj")
    yield p
    p.close()


def add_person(project: Project, width: int = 640, height: int = 480) -> int:
    """Add one image record (no file needed) with one person; return the person id."""
    n = len(project.images())
    image_id = project.add_image(ImageRecord(f"im{n}.jpg", f"im{n}.jpg", "0" * 64, width, height))
    return project.add_person(Person(image_id, Box(10.0, 20.0, 200.0, 300.0)))
