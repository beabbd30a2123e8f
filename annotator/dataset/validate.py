"""Check COCO / DensePose-COCO documents and report every problem.

One checker serves ``dpstudio dataset validate`` and every importer (an importer refuses a
file with problems and names them all). Each problem names the file, the record (image or
annotation id, or its index when the id itself is bad), the field and the value.

What is checked (DESIGN.md section 4, detectron2's DensePose loader, pycocotools):

* ``images``: ``id`` (integer, unique), ``file_name`` (text), ``width``/``height`` (> 0).
* ``categories``: ``id`` (integer, unique), ``name``; a ``person`` category must exist;
  its ``keypoints`` are names and ``skeleton`` pairs of 1-based keypoint numbers.
* ``annotations``: ``id`` (integer, unique), ``image_id`` and ``category_id`` that exist,
  ``bbox`` of 4 finite numbers with positive size inside the image (1 pixel tolerance),
  ``iscrowd`` 0/1, ``area`` >= 0, ``segmentation`` (polygons or RLE of the image's size),
  ``keypoints`` (3 numbers per category keypoint, visibility 0..2), ``num_keypoints``.
* DensePose fields, when an annotation has any: ``dp_x``, ``dp_y``, ``dp_I``, ``dp_U``,
  ``dp_V`` all present, lists of equal length, ``dp_x``/``dp_y`` in [0, 255], ``dp_I``
  whole numbers in 1..24 (``2.0`` is accepted: the official files write floats), ``dp_U``,
  ``dp_V`` in [0, 1]; ``dp_masks`` (optional) a list of 14 entries, each empty (absent part)
  or a compressed RLE of 256 x 256 whose run lengths are checked without decoding.
  Annotations without any DensePose field are plain COCO persons, which is allowed.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from annotator.dataset import jsonio
from annotator.dataset.errors import NO_VALUE, Problem
from annotator.dataset.masks import DP_SIZE, check_rle_counts
from annotator.surface.parts import N_COARSE, N_FINE

DP_POINT_KEYS = ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")
DP_KEYS = (*DP_POINT_KEYS, "dp_masks")
BOX_TOLERANCE = 1.0  # pixels a box may stick out of its image (float round-off)
_MAX_ID = 2**63 - 1
_SHOWN_PER_FIELD = 5  # bad values listed one by one per (annotation, field); then a count
_BATCH = 2000  # annotations whose dp_ lists are checked together
_DP_SHAPE = [DP_SIZE, DP_SIZE]
_DP_RANGES = (
    ("dp_x", 0.0, 255.0, False),
    ("dp_y", 0.0, 255.0, False),
    ("dp_I", 1, N_FINE, True),
    ("dp_U", 0.0, 1.0, False),
    ("dp_V", 0.0, 1.0, False),
)

Progress = Callable[[str, int, int], None]


@dataclass
class ValidationReport:
    """The outcome of checking one document.

    Attributes:
        file: the file checked.
        problems: every problem found.
        images: number of image records.
        annotations: number of annotation records.
        densepose: annotations carrying DensePose points.
        points: DensePose points in all.
    """

    file: str
    problems: list[Problem] = field(default_factory=list)
    images: int = 0
    annotations: int = 0
    densepose: int = 0
    points: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def is_int(value: Any) -> TypeGuard[int]:
    """A JSON integer (not a bool)."""
    return type(value) is int


def is_number(value: Any) -> bool:
    """A finite JSON number (not a bool)."""
    return type(value) in (int, float) and math.isfinite(value)


def _all_numbers(values: list[Any]) -> bool:
    """Every item is a finite JSON number (fast path for long lists)."""
    return set(map(type, values)) <= {int, float} and all(map(math.isfinite, values))


def read_json(path: str | Path) -> tuple[Any, list[Problem]]:
    """Parse a JSON file; problems name the line and column of a syntax error."""
    name = str(path)
    try:
        return jsonio.load_file(path), []
    except FileNotFoundError:
        return None, [Problem(name, "", "", NO_VALUE, "file not found")]
    except IsADirectoryError:
        return None, [Problem(name, "", "", NO_VALUE, "is a folder, not a JSON file")]
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        message = f"not valid JSON ({exc.msg}; truncated or malformed file?)"
        return None, [Problem(name, where, "", NO_VALUE, message)]
    except (UnicodeDecodeError, RecursionError, OSError) as exc:
        return None, [Problem(name, "", "", NO_VALUE, f"cannot be read as JSON: {exc}")]


def validate_file(path: str | Path, *, progress: Progress | None = None) -> ValidationReport:
    """Read and check a COCO / DensePose-COCO JSON file."""
    doc, problems = read_json(path)
    if problems:
        return ValidationReport(str(path), problems)
    return check_document(doc, str(path), progress=progress)


def check_document(
    doc: Any,
    file: str,
    *,
    person_only: bool = False,
    progress: Progress | None = None,
) -> ValidationReport:
    """Check a parsed document.

    Args:
        doc: the parsed JSON.
        file: its name, for the problems.
        person_only: check only annotations of the ``person`` category (importers).
        progress: called as ``progress("validate", done, total)``.
    """
    checker = _Checker(file)
    report = ValidationReport(file, checker.problems)
    if not isinstance(doc, dict):
        checker.add("", "", _kind(doc), "the document must be a JSON object")
        return report
    images = checker.images(_list_of(checker, doc, "images"))
    categories, person = checker.categories(_list_of(checker, doc, "categories"))
    annotations = _list_of(checker, doc, "annotations")
    report.images, report.annotations = len(images), len(annotations)
    ids: dict[int, int] = {}
    for k, ann in enumerate(annotations):
        if person_only and _other_category(ann, categories, person):
            continue
        points = checker.annotation(k, ann, ids, images, categories)
        if points is not None:
            report.densepose += 1
            report.points += points
        if progress and (k % 5000 == 0 or k == len(annotations) - 1):
            progress("validate", k + 1, len(annotations))
    checker.check_point_lists()
    checker.check_rles()
    return report


def _other_category(ann: Any, categories: dict[int, int], person: int | None) -> bool:
    """The annotation is of a known category that is not ``person`` (importers skip it)."""
    if not isinstance(ann, dict):
        return False
    category = ann.get("category_id")
    return is_int(category) and category in categories and category != person


def _list_of(checker: _Checker, doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, NO_VALUE)
    if value is NO_VALUE:
        checker.add("", key, NO_VALUE, f"missing: a COCO file needs '{key}'")
        return []
    if not isinstance(value, list):
        checker.add("", key, _kind(value), "must be a list")
        return []
    return value


def _kind(value: Any) -> str:
    return type(value).__name__


class _Checker:
    """Collects problems while walking a document."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._rles: list[tuple[str, str, str, int]] = []  # record, field, counts, area
        self._pending: list[tuple[str, dict[str, Any]]] = []  # annotations with dp_ lists

    def add(self, record: str, field_name: str, value: Any, message: str) -> None:
        self.problems.append(Problem(self.file, record, field_name, value, message))

    # -- images and categories -------------------------------------------------------------

    def images(self, records: list[Any]) -> dict[int, tuple[Any, Any]]:
        """Check image records; return ``{id: (width, height)}`` of those with a good id."""
        sizes: dict[int, tuple[Any, Any]] = {}
        for k, im in enumerate(records):
            where = f"images[{k}]"
            if not isinstance(im, dict):
                self.add(where, "", _kind(im), "an image must be a JSON object")
                continue
            image_id = im.get("id", NO_VALUE)
            if self._id(where, image_id):
                where = f"image {image_id}"
                if image_id in sizes:
                    self.add(where, "id", image_id, "duplicate image id")
            name = im.get("file_name", NO_VALUE)
            if not isinstance(name, str) or not name.strip():
                self.add(where, "file_name", name, "must be a non-empty text")
            for key in ("width", "height"):
                value = im.get(key, NO_VALUE)
                if not is_int(value) or value <= 0:
                    self.add(where, key, value, "must be a whole number of pixels > 0")
            if is_int(image_id) and image_id not in sizes:
                sizes[image_id] = (im.get("width"), im.get("height"))
        return sizes

    def categories(self, records: list[Any]) -> tuple[dict[int, int], int | None]:
        """Check categories; return ``{id: number of keypoints}`` and the person id."""
        found: dict[int, int] = {}
        person = None
        for k, cat in enumerate(records):
            where = f"categories[{k}]"
            if not isinstance(cat, dict):
                self.add(where, "", _kind(cat), "a category must be a JSON object")
                continue
            cat_id = cat.get("id", NO_VALUE)
            if not self._id(where, cat_id):
                continue
            where = f"category {cat_id}"
            if cat_id in found:
                self.add(where, "id", cat_id, "duplicate category id")
            if not isinstance(cat.get("name"), str):
                self.add(where, "name", cat.get("name", NO_VALUE), "must be a text")
            found[cat_id] = self._keypoint_names(where, cat)
            if cat.get("name") == "person" and person is None:
                person = cat_id
        if records and person is None:
            self.add("categories", "name", NO_VALUE, "no 'person' category")
        return found, person

    def _keypoint_names(self, where: str, cat: dict[str, Any]) -> int:
        names = cat.get("keypoints", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            self.add(where, "keypoints", names, "must be a list of keypoint names")
            return -1
        skeleton = cat.get("skeleton", [])
        good = isinstance(skeleton, list) and all(
            isinstance(pair, list)
            and len(pair) == 2
            and all(is_int(v) and 1 <= v <= len(names) for v in pair)
            for pair in skeleton
        )
        if not good:
            self.add(where, "skeleton", skeleton, "must be pairs of keypoint numbers 1..K")
        return len(names)

    def _id(self, where: str, value: Any) -> bool:
        if value is NO_VALUE:
            self.add(where, "id", NO_VALUE, "missing")
            return False
        if not is_int(value) or not 0 <= value <= _MAX_ID:
            self.add(where, "id", value, "must be a whole number >= 0 (64-bit)")
            return False
        return True

    # -- annotations -----------------------------------------------------------------------

    def annotation(
        self,
        k: int,
        ann: Any,
        ids: dict[int, int],
        images: dict[int, tuple[Any, Any]],
        categories: dict[int, int],
    ) -> int | None:
        """Check one annotation; return its number of DensePose points (None: no points)."""
        where = f"annotations[{k}]"
        if not isinstance(ann, dict):
            self.add(where, "", _kind(ann), "an annotation must be a JSON object")
            return None
        ann_id = ann.get("id", NO_VALUE)
        if self._id(where, ann_id):
            where = f"annotation {ann_id}"
            if ann_id in ids:
                also = f"annotations[{ids[ann_id]}]"
                self.add(where, "id", ann_id, f"duplicate annotation id (also {also})")
            else:
                ids[ann_id] = k
        size = self._references(where, ann, images, categories)
        self._box(where, ann.get("bbox", NO_VALUE), size)
        category = ann.get("category_id")
        n_keypoints = categories.get(category, -1) if is_int(category) else -1
        self._coco_fields(where, ann, size, n_keypoints)
        if not any(key in ann for key in DP_KEYS):
            return None
        return self.densepose(where, ann)

    def _references(
        self,
        where: str,
        ann: dict[str, Any],
        images: dict[int, tuple[Any, Any]],
        categories: dict[int, int],
    ) -> tuple[Any, Any] | None:
        image_id = ann.get("image_id", NO_VALUE)
        if not is_int(image_id) or image_id not in images:
            self.add(where, "image_id", image_id, "no image with this id")
        category = ann.get("category_id", NO_VALUE)
        if not is_int(category) or category not in categories:
            self.add(where, "category_id", category, "no category with this id")
        size = images.get(image_id) if is_int(image_id) else None
        if size is None or not all(is_int(v) and v > 0 for v in size):
            return None
        return size

    def _box(self, where: str, box: Any, size: tuple[Any, Any] | None) -> None:
        if box is NO_VALUE:
            self.add(where, "bbox", NO_VALUE, "missing")
            return
        if not isinstance(box, list) or len(box) != 4 or not _all_numbers(box):
            self.add(where, "bbox", box, "must be [x, y, width, height], 4 finite numbers")
            return
        x, y, w, h = box
        if w <= 0 or h <= 0:
            self.add(where, "bbox", box, "width and height must be > 0")
        elif size is not None:
            width, height = size
            t = BOX_TOLERANCE
            if x < -t or y < -t or x + w > width + t or y + h > height + t:
                self.add(where, "bbox", box, f"outside the image ({width} x {height} pixels)")

    def _coco_fields(
        self, where: str, ann: dict[str, Any], size: tuple[Any, Any] | None, n_keypoints: int
    ) -> None:
        crowd = ann.get("iscrowd", 0)
        if not is_int(crowd) or crowd not in (0, 1):
            self.add(where, "iscrowd", crowd, "must be 0 or 1")
        if "area" in ann and (not is_number(ann["area"]) or ann["area"] < 0):
            self.add(where, "area", ann["area"], "must be a number >= 0")
        if "segmentation" in ann:
            self._segmentation(where, ann["segmentation"], size)
        if "keypoints" in ann:
            self._keypoints(where, ann["keypoints"], n_keypoints)
        if "num_keypoints" in ann and (
            not is_int(ann["num_keypoints"]) or ann["num_keypoints"] < 0
        ):
            self.add(where, "num_keypoints", ann["num_keypoints"], "must be a whole number >= 0")

    def _segmentation(self, where: str, segm: Any, size: tuple[Any, Any] | None) -> None:
        if isinstance(segm, list):
            for j, poly in enumerate(segm):
                if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                    message = "a polygon needs >= 3 (x, y) pairs"
                    self.add(where, f"segmentation[{j}]", poly, message)
                elif not all(is_number(v) for v in poly):
                    self.add(where, f"segmentation[{j}]", poly, "polygon values must be numbers")
            return
        if not isinstance(segm, dict):
            self.add(where, "segmentation", segm, "must be a polygon list or an RLE object")
            return
        hw = segm.get("size", NO_VALUE)
        if not (isinstance(hw, list) and len(hw) == 2 and all(is_int(v) and v > 0 for v in hw)):
            self.add(where, "segmentation.size", hw, "must be [height, width]")
            return
        if size is not None and hw != [size[1], size[0]]:
            self.add(where, "segmentation.size", hw, f"the image is {size[1]} x {size[0]}")
        counts = segm.get("counts", NO_VALUE)
        if isinstance(counts, str):
            self._rles.append((where, "segmentation", counts, hw[0] * hw[1]))
        elif isinstance(counts, list) and all(is_int(c) and c >= 0 for c in counts):
            if sum(counts) != hw[0] * hw[1]:
                self.add(where, "segmentation.counts", f"sum {sum(counts)}", "runs != h * w")
        else:
            self.add(where, "segmentation.counts", counts, "must be an RLE string or run list")

    def _keypoints(self, where: str, keypoints: Any, n_keypoints: int) -> None:
        if not isinstance(keypoints, list) or not _all_numbers(keypoints):
            self.add(where, "keypoints", keypoints, "must be a list of numbers")
            return
        if n_keypoints >= 0 and len(keypoints) != 3 * n_keypoints:
            self.add(where, "keypoints", f"{len(keypoints)} values", f"need 3 x {n_keypoints}")
        visibility = keypoints[2::3]
        if not set(visibility) <= {0, 1, 2}:
            self.add(where, "keypoints", visibility, "visibility flags must be 0, 1 or 2")

    # -- DensePose -------------------------------------------------------------------------

    def densepose(self, where: str, ann: dict[str, Any]) -> int | None:
        """Check the DensePose fields; return the number of points (None if absent)."""
        if "dp_masks" in ann:
            self._dp_masks(where, ann["dp_masks"])
        present = [key for key in DP_POINT_KEYS if key in ann]
        if not present:
            return None
        if len(present) < len(DP_POINT_KEYS):
            missing = [key for key in DP_POINT_KEYS if key not in ann]
            self.add(where, ",".join(missing), NO_VALUE, "missing: the five dp_ lists go together")
            return None
        lengths = {key: len(ann[key]) for key in DP_POINT_KEYS if isinstance(ann[key], list)}
        if len(set(lengths.values())) > 1:
            self.add(where, "dp_x..dp_V", lengths, "the five dp_ lists must have equal length")
        for key in DP_POINT_KEYS:
            if key not in lengths:
                self.add(where, key, _kind(ann[key]), "must be a list of numbers")
        if len(lengths) == len(DP_POINT_KEYS):
            self._pending.append((where, ann))
            if len(self._pending) >= _BATCH:
                self.check_point_lists()
        return min(lengths.values(), default=0)

    def check_point_lists(self) -> None:
        """Check the dp_ number lists of the queued annotations, many at a time."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        for key, lo, hi, whole in _DP_RANGES:
            lists = [ann[key] for _, ann in pending]
            if not set(map(type, itertools.chain.from_iterable(lists))) <= {int, float}:
                for where, ann in pending:  # rare: find the culprits one list at a time
                    self.numbers(where, key, ann[key], lo, hi, whole=whole)
                continue
            lengths = np.fromiter(map(len, lists), np.int64, len(lists))
            ends = np.cumsum(lengths)
            flat = itertools.chain.from_iterable(lists)
            values = np.fromiter(flat, np.float64, int(ends[-1]))
            bad = ~((values >= lo) & (values <= hi))  # NaN and inf fail too
            if whole:
                bad |= values != np.round(values)
            positions = np.flatnonzero(bad)
            if len(positions) == 0:
                continue
            owners = np.searchsorted(ends, positions, side="right")
            kind = "a whole number" if whole else "a number"
            for owner in np.unique(owners).tolist():
                where, ann = pending[owner]
                local = positions[owners == owner] - (ends[owner] - lengths[owner])
                message = f"must be {kind} in [{lo}, {hi}]"
                self._list_bad(where, key, ann[key], local.tolist(), message)

    def numbers(
        self, where: str, key: str, values: Any, lo: float, hi: float, *, whole: bool = False
    ) -> None:
        """Check a list of numbers in [lo, hi] (whole numbers if ``whole``)."""
        if not isinstance(values, list):
            self.add(where, key, _kind(values), "must be a list of numbers")
            return
        if not set(map(type, values)) <= {int, float}:
            bad = [j for j, v in enumerate(values) if type(v) not in (int, float)]
            self._list_bad(where, key, values, bad, "must be a number")
            return
        array = np.asarray(values, dtype=np.float64)
        bad_mask = ~((array >= lo) & (array <= hi))  # NaN and inf fail too
        if whole:
            bad_mask |= array != np.round(array)
        bad = np.flatnonzero(bad_mask).tolist()
        kind = "a whole number" if whole else "a number"
        self._list_bad(where, key, values, bad, f"must be {kind} in [{lo}, {hi}]")

    def _list_bad(
        self, where: str, key: str, values: list[Any], bad: list[int], message: str
    ) -> None:
        for j in bad[:_SHOWN_PER_FIELD]:
            self.add(where, f"{key}[{j}]", values[j], message)
        if len(bad) > _SHOWN_PER_FIELD:
            more = len(bad) - _SHOWN_PER_FIELD
            self.add(where, key, f"{more} more values", message)

    def _dp_masks(self, where: str, entries: Any) -> None:
        if not isinstance(entries, list) or len(entries) != N_COARSE:
            length = len(entries) if isinstance(entries, list) else _kind(entries)
            self.add(where, "dp_masks", length, "must be a list of 14 entries (one per part)")
            return
        for j, entry in enumerate(entries):
            if not entry:  # [], {} or null: an absent part
                continue
            name = f"dp_masks[{j}]"
            if not isinstance(entry, dict):
                self.add(where, name, _kind(entry), "must be an RLE object or [] (absent part)")
                continue
            size = entry.get("size", NO_VALUE)
            if size != _DP_SHAPE or type(size[0]) is not int or type(size[1]) is not int:
                self.add(where, f"{name}.size", size, "must be [256, 256]")
                continue
            counts = entry.get("counts", NO_VALUE)
            if isinstance(counts, str):
                self._rles.append((where, name, counts, DP_SIZE * DP_SIZE))
            elif isinstance(counts, list):
                message = "uncompressed RLE: detectron2 decodes compressed strings only"
                self.add(where, f"{name}.counts", "list", message)
            else:
                self.add(where, f"{name}.counts", _kind(counts), "must be a compressed RLE text")

    def check_rles(self) -> None:
        """Check every RLE string collected (in batches, without decoding)."""
        by_area: dict[int, list[tuple[str, str, str, int]]] = {}
        for item in self._rles:
            by_area.setdefault(item[3], []).append(item)
        for area, items in by_area.items():
            results = check_rle_counts([counts for _, _, counts, _ in items], area)
            for (where, name, counts, _), problem in zip(items, results, strict=True):
                if problem:
                    self.add(where, f"{name}.counts", counts, problem)
        self._rles.clear()


def summarize(problems: Sequence[Problem]) -> dict[tuple[str, str], int]:
    """Problem counts by (field without index, message), most frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for p in problems:
        key = (p.field.split("[")[0], p.message)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
