"""The ground truth to score against: a DensePose-COCO document checked and made into arrays.

The document is checked by the project's own validator (:mod:`annotator.dataset.validate`),
so a bad file is refused with every problem named, as the importers refuse it. Scoring needs
one field more than a valid COCO file: the annotation ``area``, which decides the area ranges
(the reference evaluator reads it and nothing else).

Annotations are grouped as the reference groups them: per (image, category), in file order;
persons without ``dp_x`` are *ignored* (neither matched nor missed), whatever ``iscrowd`` says.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.dataset.errors import NO_VALUE, Problem
from annotator.dataset.validate import check_document, is_number, read_json
from model.evaluation.errors import GroundTruthError


@dataclass
class GroundTruth:
    """N annotations and their P DensePose points.

    Attributes:
        source: the file name (or ``<ground truth>`` for a document given in memory).
        root: folder that relative truth files (``gt_file``) are found in, or None.
        images: image id -> image record.
        image_ids: sorted image ids (every image is evaluated, with persons or not).
        category_ids: sorted category ids.
        annotations: the N annotation records, in file order.
        ids: ``[N]`` int64 annotation ids.
        image_of: ``[N]`` int64 image id of each annotation.
        boxes: ``[N, 4]`` float64 ``bbox`` (x, y, w, h), image pixels.
        areas: ``[N]`` float64 ``area``.
        crowd: ``[N]`` bool ``iscrowd``.
        has_points: ``[N]`` bool, annotation has ``dp_x`` (otherwise ignored).
        point_start: ``[N + 1]`` int64: points of annotation k are ``point_start[k]:[k + 1]``.
        x, y: ``[P]`` float64 ``dp_x``, ``dp_y``, box frame scaled to 0..255.
        i: ``[P]`` int64 ``dp_I`` 1..24.
        u, v: ``[P]`` float64 ``dp_U``, ``dp_V`` in [0, 1].
        blocks: (image id, category id) -> annotation indices in file order.
    """

    source: str
    root: Path | None
    images: dict[int, dict[str, Any]]
    image_ids: list[int]
    category_ids: list[int]
    annotations: list[dict[str, Any]]
    ids: np.ndarray
    image_of: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    crowd: np.ndarray
    has_points: np.ndarray
    point_start: np.ndarray
    x: np.ndarray
    y: np.ndarray
    i: np.ndarray
    u: np.ndarray
    v: np.ndarray
    blocks: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_points(self) -> int:
        return len(self.x)

    def points(self, k: int) -> slice:
        """The points of annotation ``k`` (a slice of ``x``, ``y``, ``i``, ``u``, ``v``)."""
        return slice(int(self.point_start[k]), int(self.point_start[k + 1]))

    @property
    def point_owner(self) -> np.ndarray:
        """``[P]`` annotation index of each point."""
        return np.repeat(np.arange(len(self)), np.diff(self.point_start))

    def index_of(self) -> dict[int, int]:
        """Annotation id -> index."""
        return {int(a): k for k, a in enumerate(self.ids)}


def load_ground_truth(
    source: str | Path | dict[str, Any], *, root: str | Path | None = None
) -> GroundTruth:
    """Read and check a DensePose-COCO document (a file, or a parsed dict).

    Args:
        source: the JSON file or its parsed contents.
        root: folder of relative truth files; default: the JSON file's folder.

    Raises:
        GroundTruthError: unreadable or invalid document (every problem named).
    """
    if isinstance(source, dict):
        doc, name = source, "<ground truth>"
    else:
        name = str(source)
        doc, problems = read_json(source)
        if problems:
            raise GroundTruthError(problems)
        if root is None:
            root = Path(source).resolve().parent
    report = check_document(doc, name)
    problems = list(report.problems)
    if not problems:
        problems = [
            Problem(name, f"annotation {ann['id']}", "area", ann.get("area", NO_VALUE),
                    "missing: the area ranges (medium, large) are read from it")
            for ann in doc["annotations"]
            if not is_number(ann.get("area"))
        ]  # fmt: skip
    if problems:
        raise GroundTruthError(problems)
    return _arrays(doc, name, None if root is None else Path(root))


def _arrays(doc: dict[str, Any], name: str, root: Path | None) -> GroundTruth:
    anns: list[dict[str, Any]] = doc["annotations"]
    images = {int(im["id"]): im for im in doc["images"]}
    blocks: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, ann in enumerate(anns):
        blocks[int(ann["image_id"]), int(ann["category_id"])].append(k)
    has_points = np.array(["dp_x" in a for a in anns], bool)
    counts = np.array([len(a["dp_x"]) if "dp_x" in a else 0 for a in anns], np.int64)

    def points(key: str, dtype: type) -> np.ndarray:
        lists: list[np.ndarray] = [np.asarray(a[key], dtype) for a in anns if "dp_x" in a]
        return np.concatenate(lists) if lists else np.zeros(0, dtype)

    return GroundTruth(
        source=name,
        root=root,
        images=images,
        image_ids=sorted(images),
        category_ids=sorted(int(c["id"]) for c in doc["categories"]),
        annotations=anns,
        ids=np.array([a["id"] for a in anns], np.int64),
        image_of=np.array([a["image_id"] for a in anns], np.int64),
        boxes=np.array([a["bbox"] for a in anns], np.float64).reshape(-1, 4),
        areas=np.array([a["area"] for a in anns], np.float64),
        crowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], bool),
        has_points=has_points,
        point_start=np.r_[0, np.cumsum(counts)].astype(np.int64),
        x=points("dp_x", np.float64),
        y=points("dp_y", np.float64),
        i=np.rint(points("dp_I", np.float64)).astype(np.int64),
        u=points("dp_U", np.float64),
        v=points("dp_V", np.float64),
        blocks=dict(blocks),
    )
