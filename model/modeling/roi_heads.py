"""DensePose in torchvision's RoI heads, the way torchvision adds masks and keypoints.

:class:`DensePoseRoIHeads` is torchvision's ``RoIHeads`` (boxes, and masks / keypoints when
given) plus a DensePose branch: in training it keeps the proposals that torchvision sampled,
picks the positive ones whose IoU with their person exceeds ``fg_iou_threshold`` and trains
the branch on them (:mod:`model.modeling.losses`); in inference it runs the branch on the
detected boxes and adds ``"densepose"`` (a :class:`DensePoseChartOutput`) to each image's
result. Nothing of torchvision's own flow is copied or changed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models.detection.roi_heads import RoIHeads

from model.modeling.heads import FPNDecoder
from model.modeling.losses import ChartLossWeights, densepose_losses, pack_targets
from model.modeling.pooler import AlignedRoIPooler
from model.structures import DensePoseChartOutput, DensePoseTargets


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU ``[N]`` of ``a[k]`` with ``b[k]`` (xyxy boxes ``[N, 4]``)."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(dim=1)
    return inter / (area_a + area_b - inter).clamp(min=1e-9)


class DensePoseBranch(nn.Module):
    """Boxes -> DensePose maps: optional FPN decoder, RoIAlign, head, predictor.

    Args:
        pooler: pools each box's features.
        head: the convolution stack.
        predictor: the chart predictor.
        decoder: merges the FPN levels before pooling (then the pooler has one level).
        in_features: the FPN levels the decoder (or the pooler) reads, finest first.
    """

    def __init__(
        self,
        *,
        pooler: AlignedRoIPooler,
        head: nn.Module,
        predictor: nn.Module,
        decoder: FPNDecoder | None = None,
        in_features: list[str],
    ) -> None:
        super().__init__()
        self.pooler = pooler
        self.head = head
        self.predictor = predictor
        self.decoder = decoder
        self.in_features = list(in_features)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> DensePoseChartOutput:
        if self.decoder is not None:
            features = {"decoded": self.decoder([features[k] for k in self.in_features])}
        pooled = self.pooler(features, boxes, image_shapes)
        return self.predictor(self.head(pooled))


class DensePoseRoIHeads(RoIHeads):
    """torchvision's RoI heads with a DensePose branch.

    Args:
        densepose: the branch.
        loss_weights: the chart loss weights.
        fg_iou_threshold: IoU a positive proposal needs with its person to train the branch.
        **kwargs: torchvision ``RoIHeads`` arguments (box, mask and keypoint parts).
    """

    def __init__(
        self,
        *,
        densepose: DensePoseBranch,
        loss_weights: ChartLossWeights,
        fg_iou_threshold: float = 0.7,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.densepose = densepose
        self.loss_weights = loss_weights
        self.fg_iou_threshold = fg_iou_threshold
        self._sampled: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | None
        self._sampled = None

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
            losses.update(self._densepose_losses(features, image_shapes, targets, *sampled))
        else:
            boxes = [r["boxes"] for r in result]
            outputs = self.densepose_on_boxes(features, boxes, image_shapes)
            for r, out in zip(result, outputs, strict=True):
                r["densepose"] = out
        return result, losses

    def densepose_on_boxes(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[DensePoseChartOutput]:
        """The branch's outputs for given boxes, one :class:`DensePoseChartOutput` per image."""
        out = self.densepose(features, boxes, image_shapes)
        splits = torch.tensor([len(b) for b in boxes]).cumsum(0).tolist()
        starts = [0, *splits[:-1]]
        return [out[s:e] for s, e in zip(starts, splits, strict=True)]

    def _densepose_losses(
        self,
        features: dict[str, torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Any]],
        proposals: list[torch.Tensor],
        matched_idxs: list[torch.Tensor],
        labels: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        boxes, gt_boxes, people = [], [], []
        for props, idx, lab, target in zip(proposals, matched_idxs, labels, targets, strict=True):
            dp: DensePoseTargets = target["densepose"]
            keep = lab > 0
            if len(target["boxes"]):
                gt = target["boxes"][idx.clamp(min=0)]
                keep &= paired_iou(props, gt) > self.fg_iou_threshold
                keep &= dp.has_points[idx.clamp(min=0)] | dp.has_masks[idx.clamp(min=0)]
            else:
                gt = props
                keep &= False
            boxes.append(props[keep])
            gt_boxes.append(gt[keep])
            people.append(idx[keep])
        outputs = self.densepose(features, boxes, image_shapes)
        packed = pack_targets(boxes, gt_boxes, people, [t["densepose"] for t in targets])
        return densepose_losses(outputs, packed, self.loss_weights)
