"""Small, real DensePose-COCO files for the data tests: JSON, JPEG images, pycocotools RLEs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from annotator.dataset.densepose_io import PERSON_CATEGORY


def write_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A real JPEG (or PNG, by suffix) of random pixels."""
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)
    return path


def rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed RLE (JSON form) of a bool / 0-1 mask."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(mask.shape), "counts": encoded["counts"].decode("ascii")}


def overlapping_dp_masks() -> tuple[list[Any], np.ndarray]:
    """14 dp_masks entries whose parts 1 (torso) and 2 (right hand) overlap, and the label
    map a loader must decode (the later part wins where they overlap)."""
    torso = np.zeros((256, 256), bool)
    torso[20:140, 60:200] = True
    hand = np.zeros((256, 256), bool)
    hand[120:180, 100:160] = True
    head = np.zeros((256, 256), bool)
    head[0:20, 100:150] = True
    entries: list[Any] = [[] for _ in range(14)]
    entries[0], entries[1], entries[13] = rle(torso), rle(hand), rle(head)
    expected = np.zeros((256, 256), np.uint8)
    expected[torso] = 1
    expected[hand] = 2
    expected[head] = 14
    return entries, expected


def dp_points(n: int, seed: int) -> dict[str, list[float]]:
    """``n`` valid DensePose points (box frame 0..255, charts 1..24, U, V in [0, 1])."""
    rng = np.random.default_rng(seed)
    return {
        "dp_x": np.round(rng.uniform(0, 255, n), 4).tolist(),
        "dp_y": np.round(rng.uniform(0, 255, n), 4).tolist(),
        "dp_I": rng.integers(1, 25, n).astype(float).tolist(),  # floats, as the official files
        "dp_U": np.round(rng.uniform(0, 1, n), 6).tolist(),
        "dp_V": np.round(rng.uniform(0, 1, n), 6).tolist(),
    }


def keypoints(seed: int, hidden: tuple[int, ...] = ()) -> list[float]:
    """51 COCO keypoint numbers (pixel indices), keypoints in ``hidden`` unlabelled."""
    rng = np.random.default_rng(seed)
    out: list[float] = []
    for k in range(17):
        if k in hidden:
            out += [0, 0, 0]
        else:
            out += [float(rng.integers(5, 50)), float(rng.integers(5, 40)), 2]
    return out


def official_style(folder: Path) -> tuple[Path, Path, dict[str, Any]]:
    """A DensePose-COCO file like the official ones, and its images.

    image 1 (80 x 60): person 11 with points and overlapping dp_masks, person 12 plain COCO
    (polygon, keypoints), person 13 a crowd (uncompressed RLE);
    image 2 (96 x 72): person 21 with points, compressed RLE segmentation, keypoints with
    two unlabelled; image 3 (64 x 48): nobody.
    """
    images_dir = folder / "images"
    write_image(images_dir / "a.jpg", 80, 60, seed=1)
    write_image(images_dir / "b.jpg", 96, 72, seed=2)
    write_image(images_dir / "c.png", 64, 48, seed=3)
    entries, _ = overlapping_dp_masks()
    crowd = np.zeros((60, 80), np.uint8)
    crowd[40:60, 0:30] = 1
    seg_b = np.zeros((72, 96), bool)
    seg_b[10:60, 20:70] = True
    annotations = [
        {"id": 11, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 900.0,
         "bbox": [10.0, 5.0, 30.0, 40.0], "dp_masks": entries, **dp_points(12, 1)},
        {"id": 12, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 300.0,
         "bbox": [50.0, 10.0, 20.0, 30.0],
         "segmentation": [[50.0, 10.0, 70.0, 10.0, 70.0, 40.0, 50.0, 40.0]],
         "keypoints": keypoints(5), "num_keypoints": 17},
        {"id": 13, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": 600.0,
         "bbox": [0.0, 40.0, 30.0, 20.0],
         "segmentation": {"size": [60, 80], "counts": _uncompressed(crowd)}},
        {"id": 21, "image_id": 2, "category_id": 1, "iscrowd": 0, "area": 2500.0,
         "bbox": [20.0, 10.0, 50.0, 50.0], "segmentation": rle(seg_b),
         "keypoints": keypoints(6, hidden=(3, 4)), "num_keypoints": 15,
         "dp_masks": entries, **dp_points(7, 2)},
    ]  # fmt: skip
    doc = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 80, "height": 60},
            {"id": 2, "file_name": "b.jpg", "width": 96, "height": 72},
            {"id": 3, "file_name": "c.png", "width": 64, "height": 48},
        ],
        "annotations": annotations,
        "categories": [PERSON_CATEGORY],
    }
    json_file = folder / "densepose.json"
    json_file.write_text(json.dumps(doc))
    return json_file, images_dir, doc


def _uncompressed(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE counts (column-major runs, starting with zeros)."""
    flat = mask.ravel(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return [int(c) for c in counts]
