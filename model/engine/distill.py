"""Distillation (the paper's ground-truth interpolation): a teacher's dense labels for a student.

A teacher trained on the sparse points runs on every annotated person's true box of the
training images; inside the person's mask (the union of its dp_masks, else its instance
mask), where it predicts a chart, its (I, U, V) become dense labels: up to
``points_per_person`` pixels per person, drawn at random (seeded by the annotation id),
stored with the box-frame positions the data uses (pixel centres, ``* 255`` like the
synthetic annotations). A student then trains on those labels plus the real points
(``data.teacher``).

``LABELS/teacher.json`` says which teacher, checkpoint and data; ``LABELS/points.npz`` holds
``ann_id, x, y, i, u, v`` per point.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from model.structures import DensePoseResult, DensePoseTargets

if TYPE_CHECKING:
    from model.data.dataset import DensePoseCocoDataset
    from model.inference.predictor import Predictor

POINTS_FILE = "points.npz"
INFO_FILE = "teacher.json"


def _person_mask(
    result: DensePoseResult, box_xywh: np.ndarray, dp_mask: np.ndarray, has_dp_mask: bool
) -> np.ndarray:
    """Which pixels of the result's box lie in the person's dp_masks (all, without masks)."""
    x0, y0, w, h = result.box
    if not has_dp_mask:
        return np.ones((h, w), bool)
    cols = (np.arange(w) + x0 + 0.5 - box_xywh[0]) / box_xywh[2] * 256
    rows = (np.arange(h) + y0 + 0.5 - box_xywh[1]) / box_xywh[3] * 256
    inside_c = (cols >= 0) & (cols < 256)
    inside_r = (rows >= 0) & (rows < 256)
    ci, ri = np.clip(cols.astype(int), 0, 255), np.clip(rows.astype(int), 0, 255)
    return (dp_mask[ri][:, ci] > 0) & inside_r[:, None] & inside_c[None, :]


def _points(
    result: DensePoseResult, box_xywh: np.ndarray, keep: np.ndarray, count: int, seed: int
) -> tuple[np.ndarray, ...]:
    """Up to ``count`` labelled pixels of ``keep`` as box-frame points (x, y, i, u, v)."""
    labels = result.labels.numpy()
    rows, cols = np.nonzero(keep & (labels > 0))
    if len(rows) > count:
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), count, replace=False))
        rows, cols = rows[pick], cols[pick]
    x0, y0, _, _ = result.box
    x = (cols + x0 + 0.5 - box_xywh[0]) / box_xywh[2] * 255.0
    y = (rows + y0 + 0.5 - box_xywh[1]) / box_xywh[3] * 255.0
    uv = result.uv.numpy()
    return (
        np.clip(x, 0, 255).astype(np.float32),
        np.clip(y, 0, 255).astype(np.float32),
        labels[rows, cols].astype(np.int64),
        uv[0, rows, cols].astype(np.float32),
        uv[1, rows, cols].astype(np.float32),
    )


def distill(
    teacher: Path,
    data: Path,
    images: Path,
    out: Path,
    *,
    points_per_person: int = 1000,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the teacher's dense labels for the annotated persons of ``data`` into ``out``."""
    from model.data.dataset import DensePoseCocoDataset
    from model.engine.checkpoint import load_checkpoint
    from model.inference.predictor import Predictor

    ckpt = load_checkpoint(teacher)
    predictor = Predictor.from_checkpoint(ckpt, device=device, score_threshold=0.0)
    dataset = DensePoseCocoDataset(data, images, keep="with_densepose")
    columns: dict[str, list[np.ndarray]] = {k: [] for k in _COLUMNS}
    for index in range(len(dataset)):
        for name, values in _label_image(predictor, dataset, index, points_per_person).items():
            columns[name].extend(values)
        if progress is not None:
            progress(index + 1, len(dataset))
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        k: np.concatenate(v) if v else np.zeros(0) for k, v in columns.items()
    }
    np.savez(out / POINTS_FILE, **arrays)
    info = {
        "teacher": str(teacher),
        "checkpoint": str(ckpt.path),
        "iteration": ckpt.iteration,
        "data": str(data),
        "points_per_person": points_per_person,
        "persons": len(np.unique(arrays["ann_id"])),
        "points": len(arrays["x"]),
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=1))
    return out


#: The columns of a labels file: annotation id, box-frame position, chart, U, V per point.
_COLUMNS = ("ann_id", "x", "y", "i", "u", "v")


def _label_image(
    predictor: Predictor, dataset: DensePoseCocoDataset, index: int, points_per_person: int
) -> dict[str, list[np.ndarray]]:
    """The teacher's points of the annotated persons of one image, by column."""
    from model.inference.on_dataset import read_image

    persons = dataset.persons(index)
    target = dataset[index].target
    dp: DensePoseTargets = target["densepose"]
    chosen = np.flatnonzero(persons.has_points)
    image = read_image(dataset.info(index).path)
    results = predictor.on_boxes(image, target["boxes"][chosen].numpy())
    columns: dict[str, list[np.ndarray]] = {k: [] for k in _COLUMNS}
    for k, pred in zip(chosen, results, strict=True):
        box = persons.boxes[k]
        keep = _person_mask(pred.densepose, box, dp.masks[k].numpy(), bool(dp.has_masks[k]))
        ann_id = int(persons.ann_ids[k])
        x, y, i, u, v = _points(pred.densepose, box, keep, points_per_person, ann_id)
        for name, values in zip(_COLUMNS, (np.full(len(x), ann_id), x, y, i, u, v), strict=True):
            columns[name].append(values)
    return columns


class TeacherLabels:
    """The points of a teacher's labels folder, by annotation id."""

    def __init__(self, folder: Path) -> None:
        path = Path(folder) / POINTS_FILE
        if not path.is_file():
            raise ValueError(
                f"{folder}: no teacher labels ({POINTS_FILE}); make them with "
                "`dpstudio model distill --teacher RUN ...`"
            )
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        order = np.argsort(arrays["ann_id"], kind="stable")
        self.arrays = {k: v[order] for k, v in arrays.items()}
        ids = self.arrays["ann_id"].astype(np.int64)
        self.ids, self.starts = np.unique(ids, return_index=True)
        self.ends = np.r_[self.starts[1:], len(ids)]

    def of(self, ann_id: int) -> dict[str, np.ndarray] | None:
        k = int(np.searchsorted(self.ids, ann_id))
        if k >= len(self.ids) or self.ids[k] != ann_id:
            return None
        sl = slice(int(self.starts[k]), int(self.ends[k]))
        return {name: values[sl] for name, values in self.arrays.items()}


class WithTeacher:
    """A sample source whose persons carry the teacher's points beside their own.

    Args:
        source: the training samples (:class:`~model.data.dataset.DensePoseCocoDataset`).
        labels: the teacher's points.
    """

    def __init__(self, source: Any, labels: TeacherLabels) -> None:
        self.source = source
        self.labels = labels
        self.body_model = source.body_model

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Any:
        return self.load(index, np.random.default_rng(index))

    def load(self, index: int, rng: np.random.Generator) -> Any:
        sample = self.source.load(index, rng)
        dp: DensePoseTargets = sample.target["densepose"]
        extra: list[tuple[int, dict[str, np.ndarray]]] = []
        for k, ann_id in enumerate(self.source.persons(index).ann_ids):
            found = self.labels.of(int(ann_id))
            if found is not None and len(found["x"]):
                extra.append((k, found))
        if not extra:
            return sample
        person = torch.cat([dp.person] + [torch.full((len(e["x"]),), k) for k, e in extra])

        def cat(name: str, dtype: torch.dtype) -> torch.Tensor:
            return torch.cat(
                [getattr(dp, name)] + [torch.as_tensor(e[name], dtype=dtype) for _, e in extra]
            )

        has_points = dp.has_points.clone()
        has_points[[k for k, _ in extra]] = True
        merged = replace(
            dp,
            has_points=has_points,
            person=person,
            x=cat("x", torch.float32),
            y=cat("y", torch.float32),
            i=cat("i", torch.int64),
            u=cat("u", torch.float32),
            v=cat("v", torch.float32),
            dense=True,
        )
        return sample._replace(target={**sample.target, "densepose": merged})
