"""DensePose in torchvision's RoI heads, the way torchvision adds masks and keypoints.

:class:`DensePoseRoIHeads` is torchvision's ``RoIHeads`` (boxes, and masks / keypoints when
given) plus a DensePose branch. In training it keeps the proposals torchvision sampled and
hands them to the branch, which picks the ones it trains on and returns its losses; in
inference it runs the branch on the detected boxes and adds ``"densepose"`` (a
:class:`DensePoseChartOutput`) to each image's result. Nothing of torchvision's own flow is
copied or changed.

A branch is any module with ``forward(features, boxes, image_shapes)`` (the maps of given
boxes) and ``losses(features, image_shapes, targets, proposals, matched_idxs, labels)``:
:class:`DensePoseBranch` (RoIAlign per box: DensePose R-CNN), the cascade
(:mod:`model.modeling.cascade`) and the whole-image network (:mod:`model.modeling.fcn`).
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.roi_heads import RoIHeads

from model.modeling.detector_rules import detectron2_detections
from model.modeling.heads import FPNDecoder
from model.modeling.losses import (
    ChartLossWeights,
    PackedTargets,
    densepose_losses,
    pack_targets,
)
from model.modeling.pooler import RoIPooler
from model.structures import DensePoseChartOutput, DensePoseTargets


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU ``[N]`` of ``a[k]`` with ``b[k]`` (xyxy boxes ``[N, 4]``)."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    return inter / (area_a + area_b - inter).clamp(min=1e-9)


def densepose_proposals(
    targets: list[dict[str, Any]],
    proposals: list[torch.Tensor],
    matched_idxs: list[torch.Tensor],
    labels: list[torch.Tensor],
    fg_iou: float,
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """The sampled proposals that train DensePose: positive, IoU with their person above
    ``fg_iou``, person annotated with points (detectron2's DensePose data filter: a person
    with dp_masks and no points has no DensePose annotation, so it is not pooled). Returns
    per image the proposals, their persons' boxes and their persons' indices."""
    boxes, gt_boxes, people = [], [], []
    for props, idx, lab, target in zip(proposals, matched_idxs, labels, targets, strict=True):
        dp: DensePoseTargets = target["densepose"]
        keep = lab > 0
        person = idx.clamp(min=0)
        if len(target["boxes"]):
            gt = target["boxes"][person]
            keep &= paired_iou(props, gt) > fg_iou
            keep &= dp.has_points[person]
        else:
            gt = props
            keep &= False
        boxes.append(props[keep])
        gt_boxes.append(gt[keep])
        people.append(idx[keep])
    return boxes, gt_boxes, people


class Branch(nn.Module, abc.ABC):
    """What :class:`DensePoseRoIHeads` asks of a DensePose branch (see the module docstring)."""

    @abc.abstractmethod
    def forward(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> DensePoseChartOutput:
        """The maps ``[R, ...]`` of the given boxes (per image ``[R_b, 4]`` xyxy, resized-image
        pixels) of all images."""

    def predict(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[DensePoseChartOutput, list[dict[str, torch.Tensor]]]:
        """Inference: the boxes' maps ``[R, ...]``, and per image any other outputs (masks,
        keypoints of the cascade; none by default)."""
        return self(features, boxes, image_shapes), [{} for _ in boxes]

    @abc.abstractmethod
    def losses(
        self,
        features: dict[str, torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Any]],
        proposals: list[torch.Tensor],
        matched_idxs: list[torch.Tensor],
        labels: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Training: the losses, given torchvision's sampled proposals and their matches."""


class DensePoseBranch(Branch):
    """Boxes -> DensePose maps: optional FPN decoder, RoIAlign, head, predictor.

    Args:
        pooler: pools each box's features.
        head: the convolution stack.
        predictor: the chart predictor.
        loss_weights: the chart loss weights.
        fg_iou_threshold: IoU a proposal needs with its person to train the branch.
        decoder: merges the FPN levels before pooling (then the pooler has one level).
        in_features: the FPN levels the decoder (or the pooler) reads, finest first.
    """

    def __init__(
        self,
        *,
        pooler: RoIPooler,
        head: nn.Module,
        predictor: nn.Module,
        loss_weights: ChartLossWeights,
        fg_iou_threshold: float = 0.7,
        decoder: FPNDecoder | None = None,
        in_features: list[str],
    ) -> None:
        super().__init__()
        self.pooler = pooler
        self.head = head
        self.predictor = predictor
        self.decoder = decoder
        self.in_features = list(in_features)
        self.loss_weights = loss_weights
        self.fg_iou_threshold = fg_iou_threshold

    def pooled(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        """RoI features ``[R, C, s, s]`` of the boxes of all images."""
        if self.decoder is not None:
            features = {"decoded": self.decoder([features[k] for k in self.in_features])}
        return self.pooler(features, boxes, image_shapes)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> DensePoseChartOutput:
        return self.predictor(self.head(self.pooled(features, boxes, image_shapes)))

    def losses(
        self,
        features: dict[str, torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Any]],
        proposals: list[torch.Tensor],
        matched_idxs: list[torch.Tensor],
        labels: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        boxes, _, packed = self.training_rois(targets, proposals, matched_idxs, labels)
        return densepose_losses(self(features, boxes, image_shapes), packed, self.loss_weights)

    def training_rois(
        self,
        targets: list[dict[str, Any]],
        proposals: list[torch.Tensor],
        matched_idxs: list[torch.Tensor],
        labels: list[torch.Tensor],
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], PackedTargets | None]:
        """The proposals that train the branch (per image), their persons' indices, and
        their annotations packed for the losses."""
        boxes, gt_boxes, people = densepose_proposals(
            targets, proposals, matched_idxs, labels, self.fg_iou_threshold
        )
        packed = pack_targets(boxes, gt_boxes, people, [t["densepose"] for t in targets])
        return boxes, people, packed


class DensePoseRoIHeads(RoIHeads):
    """torchvision's RoI heads with a DensePose branch.

    Args:
        densepose: the branch (see the module docstring).
        **kwargs: torchvision ``RoIHeads`` arguments (box, mask and keypoint parts).
    """

    def __init__(self, *, densepose: Branch, detectron2_rules: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.densepose = densepose
        self.detectron2_rules = detectron2_rules
        self._sampled: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | None
        self._sampled = None

    def postprocess_detections(
        self,
        class_logits: torch.Tensor,
        box_regression: torch.Tensor,
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """torchvision's, or detectron2's rules (:mod:`model.modeling.detector_rules`)."""
        if not self.detectron2_rules:
            return super().postprocess_detections(
                class_logits, box_regression, proposals, image_shapes
            )
        return detectron2_detections(
            class_logits,
            self.box_coder.decode(box_regression, proposals),
            image_shapes,
            [len(p) for p in proposals],
            score_thresh=self.score_thresh,
            nms_thresh=self.nms_thresh,
            detections_per_img=self.detections_per_img,
        )

    def select_training_samples(self, proposals, targets):
        """torchvision's sampling, remembered for the DensePose branch."""
        proposals, matched_idxs, labels, regression_targets = super().select_training_samples(
            proposals, targets
        )
        self._sampled = (proposals, matched_idxs, labels)
        return proposals, matched_idxs, labels, regression_targets

    def forward(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
        result, losses = super().forward(features, proposals, image_shapes, targets)
        if self.training:
            if targets is None or self._sampled is None:
                raise ValueError("DensePose training needs targets")
            sampled, self._sampled = self._sampled, None
            losses.update(self.densepose.losses(features, image_shapes, targets, *sampled))
        else:
            boxes = [r["boxes"] for r in result]
            out, extras = self.densepose.predict(features, boxes, image_shapes)
            for r, part, extra in zip(result, _split(out, boxes), extras, strict=True):
                r["densepose"] = part
                r.update(extra)
        return result, losses

    def detect_boxes(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Inference of the box head only: per image, boxes, scores and labels (resized-image
        pixels), as :meth:`forward` finds them, without the DensePose branch."""
        x = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(x)
        return self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)

    def densepose_on_boxes(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[DensePoseChartOutput]:
        """The branch's outputs for given boxes, one :class:`DensePoseChartOutput` per image."""
        return _split(self.densepose(features, boxes, image_shapes), boxes)


def _split(out: DensePoseChartOutput, boxes: list[torch.Tensor]) -> list[DensePoseChartOutput]:
    """The rows of each image."""
    ends = torch.tensor([len(b) for b in boxes]).cumsum(0).tolist()
    return [out[s:e] for s, e in zip([0, *ends[:-1]], ends, strict=True)]
