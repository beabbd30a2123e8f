"""DensePose-COCO JSON -> compact per-image records that loader workers can share.

One parse of the JSON (checked first by :mod:`annotator.dataset.validate`, which names every
bad file, record and field), then each image becomes an :class:`ImageEntry` of numpy arrays,
pickled into one byte buffer (:class:`PackedList`). Why: the official training file is
about 600 MB of JSON, millions of Python floats; worker processes forked from the trainer
touch the reference counts of Python objects and so copy the pages that hold them, one copy
per worker. A single numpy buffer is never touched that way.

What a record keeps (everything the targets need, nothing else):

* crowd persons (``iscrowd`` 1) are dropped: torchvision's detection heads have no notion
  of a crowd region (they would be trained as ordinary boxes), and detectron2's DensePose
  mapper drops them as well;
* annotations of other categories are dropped (every kept person has label 1);
* ``dp_x`` .. ``dp_V`` as they are in the file (box frame, see :mod:`model.data.dataset`),
  ``dp_masks`` and ``segmentation`` as given (decoded later, on demand), ``keypoints`` as
  ``[N, K, 3]`` numbers, and ``instance`` (the person's number in a synthetic image's
  ground-truth maps, an extra key written by ``dpstudio synth``).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.dataset.validate import DP_POINT_KEYS, check_document, read_json
from model.data.errors import DatasetError


@dataclass(frozen=True)
class PersonRecords:
    """The non-crowd persons of one image.

    Attributes:
        ann_ids: ``[N]`` int64 annotation ids.
        boxes: ``[N, 4]`` float64 COCO ``bbox`` (x, y, w, h), image pixels.
        instance: ``[N]`` int64 the person's number in the ground-truth maps (-1: none).
        has_points: ``[N]`` bool, the person carries ``dp_x`` .. ``dp_V``.
        point_start: ``[N + 1]`` int64, person n's points are rows
            ``point_start[n]:point_start[n + 1]`` of ``points``.
        points: ``[P, 5]`` float32 columns dp_x, dp_y, dp_I, dp_U, dp_V.
        dp_masks: per person, the 14 ``dp_masks`` entries or None.
        segmentation: per person, the COCO ``segmentation`` (polygons or RLE) or None.
        keypoints: ``[N, K, 3]`` float32 COCO keypoints as in the file (pixel indices), or
            None when the category has no keypoints; a person without them has zeros.
    """

    ann_ids: np.ndarray
    boxes: np.ndarray
    instance: np.ndarray
    has_points: np.ndarray
    point_start: np.ndarray
    points: np.ndarray
    dp_masks: tuple[list[Any] | None, ...]
    segmentation: tuple[Any, ...]
    keypoints: np.ndarray | None

    def __len__(self) -> int:
        return len(self.ann_ids)


@dataclass(frozen=True)
class ImageEntry:
    """One image and its persons.

    Attributes:
        image_id: COCO image id.
        file_name: path relative to the image folder, as in the JSON.
        width, height: image size in pixels, as in the JSON.
        gt_file: dense ground truth (``gt/*.npz``) relative to the JSON's folder, or None.
        persons: its non-crowd persons.
    """

    image_id: int
    file_name: str
    width: int
    height: int
    gt_file: str | None
    persons: PersonRecords


@dataclass
class ReadStats:
    """What reading a file kept and dropped, and the body model its (I, U, V) refer to
    (``info.body_model``, written by our export and ``dpstudio synth``; None in the official
    files, whose charts are SMPL's)."""

    images: int = 0
    persons: int = 0
    crowd_dropped: int = 0
    empty_boxes_dropped: int = 0
    other_categories_dropped: int = 0
    densepose_persons: int = 0
    points: int = 0
    body_model: str | None = None


def read_densepose_coco(
    json_file: str | Path, *, validate: bool = True
) -> tuple[list[ImageEntry], ReadStats]:
    """Parse (and, with ``validate``, check) a COCO / DensePose-COCO file.

    Raises:
        DatasetError: the file is missing, not JSON, or has problems (all listed).
    """
    name = str(json_file)
    doc, problems = read_json(json_file)
    if problems:
        raise DatasetError(problems)
    if validate:
        report = check_document(doc, name, person_only=True)
        if report.problems:
            raise DatasetError(report.problems)
    elif not isinstance(doc, dict):
        raise DatasetError.one(name, "", "", "the document must be a JSON object")
    person_ids, n_keypoints = _person_category(doc)
    stats = ReadStats()
    info = doc.get("info")
    if isinstance(info, dict) and isinstance(info.get("body_model"), str):
        stats.body_model = info["body_model"]
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in doc.get("annotations", []):
        if ann.get("category_id") not in person_ids:
            stats.other_categories_dropped += 1
        elif ann.get("iscrowd", 0):
            stats.crowd_dropped += 1
        elif not _has_area(name, ann):  # only unvalidated files get this far
            stats.empty_boxes_dropped += 1
        else:
            by_image.setdefault(ann["image_id"], []).append(ann)
    entries = []
    for im in doc.get("images", []):
        anns = by_image.get(im["id"], [])
        persons = _persons(name, anns, n_keypoints)
        gt_file = im.get("gt_file")
        entries.append(
            ImageEntry(
                image_id=int(im["id"]),
                file_name=str(im["file_name"]),
                width=int(im["width"]),
                height=int(im["height"]),
                gt_file=str(gt_file) if gt_file else None,
                persons=persons,
            )
        )
        stats.persons += len(persons)
        stats.densepose_persons += int(persons.has_points.sum())
        stats.points += len(persons.points)
    stats.images = len(entries)
    return entries, stats


def _has_area(file: str, ann: dict[str, Any]) -> bool:
    """The box ``[x, y, w, h]`` has w > 0 and h > 0 (torchvision refuses the others)."""
    box = ann.get("bbox")
    try:
        return float(box[2]) > 0 and float(box[3]) > 0  # type: ignore[index]
    except (TypeError, ValueError, IndexError) as exc:
        where = f"annotation {ann.get('id')}"
        raise DatasetError.one(file, where, "bbox", "must be [x, y, w, h]", box) from exc


def _person_category(doc: dict[str, Any]) -> tuple[set[int], int]:
    """Ids of the ``person`` categories (id 1 when there are none) and their keypoints."""
    cats = [c for c in doc.get("categories", []) if c.get("name") == "person"]
    if not cats:
        return {1}, 0
    return {c["id"] for c in cats}, len(cats[0].get("keypoints", []))


def _persons(file: str, anns: list[dict[str, Any]], n_keypoints: int) -> PersonRecords:
    n = len(anns)
    has_points = np.array(["dp_x" in a for a in anns], dtype=bool)
    counts = np.array([len(a["dp_x"]) if "dp_x" in a else 0 for a in anns], dtype=np.int64)
    point_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    points = np.zeros((int(point_start[-1]), 5), np.float32)
    keypoints = np.zeros((n, n_keypoints, 3), np.float32) if n_keypoints else None
    for k, ann in enumerate(anns):
        where = f"annotation {ann.get('id')}"
        try:
            if has_points[k]:
                rows = slice(point_start[k], point_start[k + 1])
                points[rows] = np.array([ann[key] for key in DP_POINT_KEYS], np.float64).T
            if keypoints is not None and "keypoints" in ann:
                keypoints[k] = np.asarray(ann["keypoints"], np.float32).reshape(n_keypoints, 3)
        except (ValueError, TypeError, KeyError) as exc:
            field = "keypoints" if "keypoints" in str(exc) else "dp_x..dp_V"
            raise DatasetError.one(file, where, field, f"malformed ({exc})") from exc
    return PersonRecords(
        ann_ids=np.array([a.get("id", -1) for a in anns], dtype=np.int64),
        boxes=np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(n, 4),
        instance=np.array([a.get("instance", -1) for a in anns], dtype=np.int64),
        has_points=has_points,
        point_start=point_start,
        points=points,
        dp_masks=tuple(a.get("dp_masks") for a in anns),
        segmentation=tuple(a.get("segmentation") for a in anns),
        keypoints=keypoints,
    )


class PackedList:
    """A list of picklable items stored as one numpy byte buffer (shared by forked workers).

    Args:
        items: the items; each is pickled once here and unpickled on every access.
    """

    def __init__(self, items: list[Any]) -> None:
        blobs = [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]
        self._ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        self._buffer = np.frombuffer(b"".join(blobs), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> Any:
        start = int(self._ends[index - 1]) if index > 0 else 0
        return pickle.loads(self._buffer[start : int(self._ends[index])].tobytes())

    @property
    def nbytes(self) -> int:
        return int(self._buffer.nbytes + self._ends.nbytes)
