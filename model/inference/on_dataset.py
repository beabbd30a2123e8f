"""Run a model over the images of a DensePose-COCO file: detections to score.

With ``gt_boxes`` the DensePose branch runs on every annotated person's true box instead of
on detections (each detection then carries the annotation id, score 1), which measures the
DensePose head alone, as the paper's single-person figures do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.evaluation.results import Detection
from model.inference.predictor import PersonPrediction, Predictor


@dataclass(frozen=True)
class ImageEntry:
    """One image of the file and its annotated persons' true boxes.

    Attributes:
        image_id: COCO id.
        path: the image file.
        gt_ids: annotation ids of the persons with DensePose points.
        gt_boxes: ``[N, 4]`` xyxy float boxes of those persons.
    """

    image_id: int
    path: Path
    gt_ids: list[int]
    gt_boxes: np.ndarray


def read_entries(data: str | Path, images: str | Path) -> list[ImageEntry]:
    """The images of a DensePose-COCO file (with their annotated boxes), in file order."""
    data = Path(data)
    try:
        doc = json.loads(data.read_text())
        persons: dict[int, list[dict[str, Any]]] = {}
        for ann in doc.get("annotations", []):
            if "dp_x" in ann and not ann.get("iscrowd", 0):
                persons.setdefault(int(ann["image_id"]), []).append(ann)
        entries = []
        for img in doc["images"]:
            anns = persons.get(int(img["id"]), [])
            boxes = np.array(
                [
                    [
                        a["bbox"][0],
                        a["bbox"][1],
                        a["bbox"][0] + a["bbox"][2],
                        a["bbox"][1] + a["bbox"][3],
                    ]
                    for a in anns
                ],
                np.float32,
            )
            entries.append(
                ImageEntry(
                    int(img["id"]),
                    Path(images) / img["file_name"],
                    [int(a["id"]) for a in anns],
                    boxes.reshape(-1, 4),
                )
            )
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{data}: not a readable DensePose-COCO file ({exc!r})") from exc
    return entries


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 image; ValueError naming the file when it cannot be read."""
    import cv2

    data = np.fromfile(path, np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise ValueError(f"{path}: missing or not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def predictions_to_detections(
    image_id: int, people: list[PersonPrediction], gt_ids: list[int] | None = None
) -> list[Detection]:
    return [
        Detection(
            image_id=image_id,
            category_id=1,
            bbox=tuple(p.xywh),  # type: ignore[arg-type]
            score=p.score,
            densepose=p.densepose,
            gt_id=None if gt_ids is None else gt_ids[k],
        )
        for k, p in enumerate(people)
    ]


def iter_detections(
    predictor: Predictor,
    entries: list[ImageEntry],
    *,
    gt_boxes: bool = False,
    on_error: Callable[[str], None] | None = None,
) -> Iterator[tuple[ImageEntry, list[Detection]]]:
    """Per image, its detections. Unreadable images are reported through ``on_error`` and
    skipped (raised if no ``on_error`` is given)."""
    for entry in entries:
        try:
            image = read_image(entry.path)
        except ValueError as exc:
            if on_error is None:
                raise
            on_error(str(exc))
            continue
        if gt_boxes:
            people = predictor.on_boxes(image, entry.gt_boxes) if len(entry.gt_boxes) else []
            yield entry, predictions_to_detections(entry.image_id, people, entry.gt_ids)
        else:
            yield entry, predictions_to_detections(entry.image_id, predictor(image))
