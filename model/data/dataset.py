"""DensePose-COCO images and targets for torchvision's detection models.

Reads any DensePose-COCO file: the official ones (persons without DensePose fields,
crowd persons, polygon or RLE ``segmentation``, 17 keypoints), our export
(:mod:`annotator.dataset.densepose_io`) and ``dpstudio synth`` folders (which add the exact
per-pixel truth, :mod:`annotator.synth.writer`). One sample is
``(image [3, H, W] float32 RGB in [0, 1], target, ImageInfo)``; torchvision's detection
models normalise images themselves.

Targets (:mod:`model.structures`): ``boxes`` ``[N, 4]`` xyxy image pixels, ``labels``
``[N]`` (1, person), ``densepose`` (:class:`DensePoseTargets`), and on request ``masks``
``[N, H, W]`` uint8 and ``keypoints`` ``[N, 17, 3]``. N counts every non-crowd person, with
or without DensePose data: persons without points still train the detector
(``has_points`` False). Crowd persons are dropped (see :mod:`model.data.records`).

DensePose points stay in the box frame as stored: ``x = dp_x``, ``y = dp_y``, which the
model reads as detectron2's loader does, ``x_img = x0 + x * w / 256``. NOTE: the reference
evaluator maps points back with ``/ 255`` (``dp_x * w / 255``), and our export and the
synthetic annotations write ``dp_x = (x - x0) / w * 255``; training keeps the reference
loader's ``/ 256`` (a shift of at most 1/256 of the box), evaluation the evaluator's
``/ 255``.

Points modes (images whose record has ``gt_file``; other images keep their annotated
points): ``"sparse"`` the annotated points; ``"dense"`` every skin pixel of each person
annotated with points, with exact I, U, V (:mod:`model.data.dense_truth`); ``"dense_sample"`` a
random sample of ``points_per_person`` of them, drawn from the generator passed to
:meth:`DensePoseCocoDataset.load`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from annotator.dataset.errors import Problem
from model.data.dense_truth import dense_points, read_truth_pixels
from model.data.errors import DatasetError
from model.data.records import ImageEntry, PackedList, PersonRecords, read_densepose_coco
from model.data.targets import DpMaskCache, continuous_keypoints, instance_mask
from model.data.transforms import cap_size
from model.structures import DensePoseTargets

log = logging.getLogger(__name__)

PointsMode = Literal["sparse", "dense", "dense_sample"]
KeepImages = Literal["all", "with_persons", "with_densepose"]
_N_KEYPOINTS = 17


@dataclass(frozen=True)
class ImageInfo:
    """Which image a sample is, and how its tensor relates to the file.

    Attributes:
        image_id: COCO image id.
        file_name: as in the JSON.
        path: the image file.
        width, height: the file's size in pixels.
        scale: the tensor is the file resized by this factor (1.0 unless ``max_size``
            shrank it); predictions map back to the file by dividing by it.
    """

    image_id: int
    file_name: str
    path: Path
    width: int
    height: int
    scale: float = 1.0


class SampleSource(Protocol):
    """What the training stream reads samples from: :class:`DensePoseCocoDataset`, or one
    that adds to its samples (a teacher's labels, :class:`model.engine.distill.WithTeacher`)."""

    @property
    def body_model(self) -> str | None: ...

    def __len__(self) -> int: ...

    def load(self, index: int, rng: np.random.Generator) -> Sample: ...


class Sample(NamedTuple):
    """One image: ``image`` ``[3, H, W]`` float32 RGB in [0, 1], ``target``, ``info``."""

    image: torch.Tensor
    target: dict[str, Any]
    info: ImageInfo


class DensePoseCocoDataset(Dataset[Sample]):
    """A DensePose-COCO JSON file and its image folder.

    Args:
        json_file: the DensePose-COCO (or plain COCO) JSON.
        image_root: the folder ``file_name`` is relative to.
        points: "sparse", "dense" or "dense_sample" (see the module docstring).
        points_per_person: the sample size of "dense_sample".
        keep: which images: "all", "with_persons" (at least one non-crowd person), or
            "with_densepose" (at least one person with points: detectron2's training set).
        instance_masks: add ``masks`` ``[N, H, W]`` to the targets (mask head).
        keypoints: add ``keypoints`` ``[N, 17, 3]`` to the targets (keypoint head).
        max_size: shrink images whose longer side exceeds this many pixels (None: never).
        validate: check the whole JSON first (every problem listed at once).
        check_files: check that every image (and, for dense points, truth) file exists.
        cache_dp_masks: keep decoded ``dp_masks`` (run-length encoded) per process.

    Raises:
        DatasetError: the JSON is malformed or files are missing (all listed).
        ValueError: inconsistent arguments.
    """

    def __init__(
        self,
        json_file: str | Path,
        image_root: str | Path,
        *,
        points: PointsMode = "sparse",
        points_per_person: int | None = None,
        keep: KeepImages = "all",
        instance_masks: bool = False,
        keypoints: bool = False,
        max_size: int | None = None,
        validate: bool = True,
        check_files: bool = True,
        cache_dp_masks: bool = True,
    ) -> None:
        _check_arguments(points, points_per_person, keep, max_size)
        self.json_file = Path(json_file)
        self.image_root = Path(image_root)
        self.truth_root = self.json_file.parent
        self.points = points
        self.points_per_person = points_per_person
        self.instance_masks = instance_masks
        self.keypoints = keypoints
        self.max_size = max_size
        entries, self.stats = read_densepose_coco(self.json_file, validate=validate)
        entries = [e for e in entries if _kept(e, keep)]
        if points != "sparse" and not any(e.gt_file for e in entries):
            raise ValueError(
                f"points={points!r} needs per-pixel ground truth (image records with "
                f"'gt_file', as `dpstudio synth` writes); {self.json_file} has none"
            )
        if check_files:
            self._check_files(entries)
        self.image_ids = [e.image_id for e in entries]
        self._entries = PackedList(entries)
        self._dp_masks = DpMaskCache(cache_dp_masks)
        log.info("%s: %d images kept, %s", self.json_file, len(entries), self.stats)

    @classmethod
    def from_synth(cls, folder: str | Path, **kwargs: Any) -> DensePoseCocoDataset:
        """A ``dpstudio synth`` folder (``densepose.json``, ``images/``, ``gt/``)."""
        folder = Path(folder)
        return cls(folder / "densepose.json", folder / "images", **kwargs)

    @property
    def body_model(self) -> str | None:
        """The body model whose charts the (I, U, V) refer to (None: SMPL, official data)."""
        return self.stats.body_model

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Sample:
        """Sample ``index``, unaugmented (a "dense_sample" draw seeded by ``index``)."""
        return self.load(index, np.random.default_rng(index))

    def persons(self, index: int) -> PersonRecords:
        """The persons of sample ``index``, in target order (annotation ids, boxes...)."""
        entry: ImageEntry = self._entries[index]
        return entry.persons

    def info(self, index: int) -> ImageInfo:
        """The image of sample ``index`` (without reading it)."""
        entry: ImageEntry = self._entries[index]
        path = self.image_root / entry.file_name
        longer = max(entry.width, entry.height)
        scale = 1.0 if self.max_size is None else min(1.0, self.max_size / longer)
        return ImageInfo(entry.image_id, entry.file_name, path, entry.width, entry.height, scale)

    def load(self, index: int, rng: np.random.Generator) -> Sample:
        """Sample ``index``; ``rng`` draws the "dense_sample" points.

        Raises:
            DatasetError: the image or its truth is missing, corrupt or of the wrong size.
        """
        entry: ImageEntry = self._entries[index]
        path = self.image_root / entry.file_name
        image = _read_image(path, entry)
        target = self._target(index, entry, rng)
        scale = 1.0
        if self.max_size is not None:
            image, target, scale = cap_size(image, target, self.max_size)
        # In numpy: torch's element-wise ops use several threads, which on a busy machine
        # made this 20 times slower (22 ms against 0.8 ms for 512 x 512 x 3, NOTES-data.md).
        chw = np.divide(image.transpose(2, 0, 1), np.float32(255.0), dtype=np.float32)
        info = ImageInfo(entry.image_id, entry.file_name, path, entry.width, entry.height, scale)
        return Sample(torch.from_numpy(chw), target, info)

    # -- targets ---------------------------------------------------------------------------

    def _target(self, index: int, entry: ImageEntry, rng: np.random.Generator) -> dict[str, Any]:
        persons = entry.persons
        n = len(persons)
        xywh = persons.boxes
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        dp_labels = self._dp_mask_labels(index, entry)
        target: dict[str, Any] = {
            "boxes": torch.from_numpy(xyxy.astype(np.float32)),
            "labels": torch.ones(n, dtype=torch.int64),
            "densepose": self._densepose(entry, dp_labels, rng),
        }
        if self.instance_masks:
            masks = np.zeros((n, entry.height, entry.width), np.uint8)
            for k in range(n):
                masks[k] = instance_mask(
                    persons.segmentation[k], dp_labels[k], xywh[k], entry.height, entry.width
                )
            target["masks"] = torch.from_numpy(masks)
        if self.keypoints:
            kp = persons.keypoints
            if kp is None or kp.shape[1] != _N_KEYPOINTS:
                kp = np.zeros((n, _N_KEYPOINTS, 3), np.float32)
            target["keypoints"] = torch.from_numpy(continuous_keypoints(kp))
        return target

    def _dp_mask_labels(self, index: int, entry: ImageEntry) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for k, entries in enumerate(entry.persons.dp_masks):
            if entries is None:
                out.append(None)
                continue
            try:
                out.append(self._dp_masks.labels((index, k), entries))
            except ValueError as exc:
                record = f"annotation {int(entry.persons.ann_ids[k])}"
                raise DatasetError.one(str(self.json_file), record, "dp_masks", str(exc)) from exc
        return out

    def _densepose(
        self, entry: ImageEntry, dp_labels: list[np.ndarray | None], rng: np.random.Generator
    ) -> DensePoseTargets:
        persons = entry.persons
        n = len(persons)
        masks = np.zeros((n, 256, 256), np.uint8)
        for k, labels in enumerate(dp_labels):
            if labels is not None:
                masks[k] = labels
        dense = self.points != "sparse" and entry.gt_file is not None
        if dense:
            person, x, y, i, u, v = self._dense_points(entry, rng)
        else:
            counts = np.diff(persons.point_start)
            person = np.repeat(np.arange(n, dtype=np.int64), counts)
            x, y, i_f, u, v = persons.points.T
            i = np.rint(i_f).astype(np.int64)
        return DensePoseTargets(
            has_points=torch.from_numpy(persons.has_points.copy()),
            person=torch.from_numpy(person),
            x=torch.from_numpy(np.ascontiguousarray(x, np.float32)),
            y=torch.from_numpy(np.ascontiguousarray(y, np.float32)),
            i=torch.from_numpy(np.ascontiguousarray(i, np.int64)),
            u=torch.from_numpy(np.ascontiguousarray(u, np.float32)),
            v=torch.from_numpy(np.ascontiguousarray(v, np.float32)),
            masks=torch.from_numpy(masks),
            has_masks=torch.tensor([labels is not None for labels in dp_labels], dtype=torch.bool),
            dense=dense,
        )

    def _dense_points(self, entry: ImageEntry, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        persons = entry.persons
        chosen = np.flatnonzero(persons.has_points)
        missing = chosen[persons.instance[chosen] < 0]
        if len(missing):
            raise DatasetError.one(
                str(self.json_file),
                f"annotation {int(persons.ann_ids[missing[0]])}",
                "instance",
                "dense points need the person's number in the ground-truth maps "
                "('instance', written by dpstudio synth)",
            )
        assert entry.gt_file is not None
        truth = read_truth_pixels(self.truth_root / entry.gt_file, record=f"image {entry.image_id}")
        if truth.size != (entry.height, entry.width):
            raise DatasetError.one(
                str(self.truth_root / entry.gt_file),
                f"image {entry.image_id}",
                "gt_file",
                f"ground truth is {truth.size[1]} x {truth.size[0]} pixels, the image record "
                f"says {entry.width} x {entry.height}",
            )
        count = self.points_per_person if self.points == "dense_sample" else None
        owner, *rest = dense_points(
            truth, persons.boxes[chosen], persons.instance[chosen], count=count, rng=rng
        )
        return (chosen[owner], *rest)

    # -- files -----------------------------------------------------------------------------

    def _check_files(self, entries: list[ImageEntry]) -> None:
        problems = []
        dense = self.points != "sparse"
        for e in entries:
            record = f"image {e.image_id}"
            path = self.image_root / e.file_name
            if not path.is_file():
                message = f"image file not found under {self.image_root} (check image_root)"
                problems.append(Problem(str(path), record, "file_name", e.file_name, message))
            truth = self.truth_root / e.gt_file if dense and e.gt_file else None
            if truth is not None and not truth.is_file():
                message = f"ground-truth file not found under {self.truth_root}"
                problems.append(Problem(str(truth), record, "gt_file", e.gt_file, message))
        if problems:
            raise DatasetError(problems)


def _check_arguments(
    points: str, points_per_person: int | None, keep: str, max_size: int | None
) -> None:
    if points not in ("sparse", "dense", "dense_sample"):
        raise ValueError(f"points must be 'sparse', 'dense' or 'dense_sample', got {points!r}")
    if (points == "dense_sample") != (points_per_person is not None):
        raise ValueError("points_per_person goes with points='dense_sample' (and only with it)")
    if points_per_person is not None and points_per_person < 1:
        raise ValueError(f"points_per_person must be >= 1, got {points_per_person}")
    if keep not in ("all", "with_persons", "with_densepose"):
        raise ValueError(f"keep must be 'all', 'with_persons' or 'with_densepose', got {keep!r}")
    if max_size is not None and max_size < 32:
        raise ValueError(f"max_size must be at least 32 pixels, got {max_size}")


def _kept(entry: ImageEntry, keep: str) -> bool:
    if keep == "with_persons":
        return len(entry.persons) > 0
    if keep == "with_densepose":
        return bool(entry.persons.has_points.any())
    return True


def _read_image(path: Path, entry: ImageEntry) -> np.ndarray:
    """The image ``[H, W, 3]`` uint8 RGB, checked against the record's size."""
    import cv2

    record = f"image {entry.image_id}"
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        if not path.is_file():
            raise DatasetError.one(str(path), record, "file_name", "image file not found")
        raise DatasetError.one(
            str(path), record, "file_name", "cannot be decoded as an image (corrupt file?)"
        )
    h, w = data.shape[:2]
    if (w, h) != (entry.width, entry.height):
        raise DatasetError.one(
            str(path),
            record,
            "width/height",
            f"the file is {w} x {h} pixels, the record says {entry.width} x {entry.height}",
        )
    # BGR -> RGB as a view (the float conversion copies): no cv2.cvtColor, whose thread pool
    # would make forked loader workers hang (see model.data.loader).
    return data[..., ::-1]
