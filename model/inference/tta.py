"""Test-time augmentation: the image at several sizes and mirrored, the answers merged.

As detectron2's DensePose TTA does: every view (each shorter side of ``scales``, each mirrored
when ``flip``) runs the detector; the views' boxes, brought back to the image, are merged by
non-maximum suppression; then every view runs the DensePose head on the merged boxes, a
mirrored view's maps are brought back (columns reversed, chart channels swapped, each chart's
U and V through the chart symmetry table, :meth:`model.data.flip.FlipTable.flip_maps`), and
the raw maps (coarse and fine segmentation, U, V) are averaged. Confidence maps are not
averaged: a model that estimates them gives none under TTA.

The backbone runs once per view (its features are kept for the second pass); the cost is
about the number of views times one inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import boxes as box_ops

from annotator.surface.parts import FLIP_COARSE
from model.data.flip import FlipTable
from model.structures import DensePoseChartOutput


@dataclass(frozen=True)
class Augmentation:
    """The views of test-time augmentation.

    Attributes:
        scales: shorter sides (pixels); empty: the model's own test size.
        flip: each size also mirrored.
    """

    scales: tuple[int, ...] = ()
    flip: bool = True


@dataclass
class _View:
    """One view: its backbone features, its padded batch and its resized size."""

    flipped: bool
    features: dict[str, Tensor]
    tensors: Tensor
    size: tuple[int, int]


@torch.no_grad()
def augmented(
    model: Any,
    image: Tensor,
    aug: Augmentation,
    table: FlipTable | None,
    boxes: Tensor | None = None,
) -> dict[str, Any]:
    """One image's output as ``model([image])[0]`` gives it, under ``aug``.

    Args:
        model: a :class:`~model.modeling.rcnn.DensePoseRCNN` in eval mode.
        image: ``[3, H, W]`` float RGB in [0, 1], on the model's device.
        table: the chart symmetry of the model's charts (needed when ``aug.flip``).
        boxes: ``[N, 4]`` xyxy given boxes (then no detection: their DensePose, score 1).

    Returns:
        ``{"boxes", "scores", "labels", "densepose"}`` in image pixels.
    """
    if aug.flip and table is None:
        raise ValueError("test-time flip needs the chart symmetry of the model's charts")
    height, width = image.shape[-2:]
    views = _views(model, image, aug)
    if boxes is None:
        boxes, scores, labels = _merged_detections(model, views, (height, width))
    else:
        scores = torch.ones(len(boxes), device=boxes.device)
        labels = torch.ones(len(boxes), dtype=torch.int64, device=boxes.device)
    outputs = [_densepose(model, view, boxes, (height, width), table) for view in views]
    return {"boxes": boxes, "scores": scores, "labels": labels, "densepose": _mean(outputs)}


def _views(model: Any, image: Tensor, aug: Augmentation) -> list[_View]:
    scales = aug.scales or (int(model.min_size_test),)
    saved = model.transform.min_size
    views = []
    try:
        for scale in scales:
            for flipped in (False, True) if aug.flip else (False,):
                model.transform.min_size = (scale,)
                image_list, _ = model.transform([image.flip(-1) if flipped else image])
                features = model.backbone(image_list.tensors)
                size = image_list.image_sizes[0]
                views.append(_View(flipped, features, image_list.tensors, size))
    finally:
        model.transform.min_size = saved
    return views


def _merged_detections(
    model: Any, views: list[_View], size: tuple[int, int]
) -> tuple[Tensor, Tensor, Tensor]:
    """Every view's detections in image pixels, merged by NMS (the model's threshold)."""
    from torchvision.models.detection.image_list import ImageList

    heads = model.roi_heads
    all_boxes, all_scores, all_labels = [], [], []
    for view in views:
        proposals, _ = model.rpn(ImageList(view.tensors, [view.size]), view.features)
        boxes, scores, labels = heads.detect_boxes(view.features, proposals, [view.size])
        boxes = _to_image(boxes[0], view, size)
        all_boxes.append(boxes)
        all_scores.append(scores[0])
        all_labels.append(labels[0])
    boxes, scores, labels = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_labels)
    keep = box_ops.batched_nms(boxes, scores, labels, heads.nms_thresh)
    keep = keep[: heads.detections_per_img]
    return boxes[keep], scores[keep], labels[keep]


def _to_image(boxes: Tensor, view: _View, size: tuple[int, int]) -> Tensor:
    """Boxes of a view (resized, maybe mirrored) in image pixels, clipped, mirrored back."""
    boxes = box_ops.clip_boxes_to_image(resize_boxes(boxes, view.size, size), size)
    return _mirror(boxes, size[1]) if view.flipped else boxes


def _mirror(boxes: Tensor, width: int) -> Tensor:
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)


def _densepose(
    model: Any, view: _View, boxes: Tensor, size: tuple[int, int], table: FlipTable | None
) -> DensePoseChartOutput:
    """The view's maps of the image boxes, brought back to the unmirrored image."""
    in_view = _mirror(boxes, size[1]) if view.flipped else boxes
    scaled = resize_boxes(in_view, size, view.size)
    (out,) = model.roi_heads.densepose_on_boxes(view.features, [scaled], [view.size])
    out = DensePoseChartOutput(
        coarse_segm=out.coarse_segm, fine_segm=out.fine_segm, u=out.u, v=out.v
    )
    if not view.flipped or len(boxes) == 0:
        return out
    assert table is not None
    coarse = out.coarse_segm.flip(-1)
    if coarse.shape[1] == len(FLIP_COARSE):
        coarse = coarse[:, torch.as_tensor(FLIP_COARSE, device=coarse.device)]
    fine, u, v = table.flip_maps(out.fine_segm, out.u, out.v)
    return DensePoseChartOutput(coarse_segm=coarse, fine_segm=fine, u=u, v=v)


def _mean(outputs: list[DensePoseChartOutput]) -> DensePoseChartOutput:
    def mean(name: str) -> Tensor:
        return torch.stack([getattr(o, name) for o in outputs]).mean(dim=0)

    return DensePoseChartOutput(
        coarse_segm=mean("coarse_segm"), fine_segm=mean("fine_segm"), u=mean("u"), v=mean("v")
    )
