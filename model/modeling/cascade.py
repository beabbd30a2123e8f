"""The paper's multi-task cascade: DensePose with mask and keypoint branches, refined.

Stage 1 runs three branches on the same proposals: DensePose (this package's head), instance
mask and keypoints (torchvision's Mask R-CNN and Keypoint R-CNN heads and predictors, on their
own 14 x 14 RoIAlign). With ``refine``, every first-stage output (DensePose's coarse, I, U, V;
the mask logits; the keypoint heat maps) is pooled to the DensePose RoI size, passed through
its own 1 x 1 convolution and added to the DensePose RoI features; a second stage of each
branch works on that sum. Both stages are supervised (the first stage's losses carry the
``_stage1`` suffix); predictions come from the last stage.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import (
    keypointrcnn_inference,
    keypointrcnn_loss,
    maskrcnn_inference,
    maskrcnn_loss,
)

from model.modeling.losses import densepose_losses
from model.modeling.pooler import RoIPooler
from model.modeling.roi_heads import DensePoseBranch
from model.structures import DensePoseChartOutput

N_KEYPOINTS = 17


class TaskHeads(nn.Module):
    """Mask and keypoint heads of one stage (torchvision's), either may be absent."""

    def __init__(
        self,
        *,
        in_channels: int,
        masks: bool,
        keypoints: bool,
        mask_dims: list[int],
        keypoint_dims: list[int],
    ) -> None:
        super().__init__()
        self.mask = (
            nn.Sequential(
                MaskRCNNHeads(in_channels, mask_dims, 1),
                MaskRCNNPredictor(mask_dims[-1], mask_dims[-1], 2),
            )
            if masks
            else None
        )
        self.keypoint = (
            nn.Sequential(
                KeypointRCNNHeads(in_channels, keypoint_dims),
                KeypointRCNNPredictor(keypoint_dims[-1], N_KEYPOINTS),
            )
            if keypoints
            else None
        )


class CascadeBranch(DensePoseBranch):
    """DensePose + mask + keypoints, with an optional refining second stage.

    Args:
        task_pooler: RoIAlign (14 x 14) over the FPN levels for the first-stage mask and
            keypoint heads.
        stage1: first-stage mask / keypoint heads (on ``task_pooler``'s features).
        refine: add the second stage.
        stage2_head, stage2_predictor: second-stage DensePose head and predictor.
        stage2_tasks: second-stage mask / keypoint heads (on the refined DensePose features).
        feedback: 1 x 1 convolutions of the first-stage outputs, by name ("densepose",
            "mask", "keypoint"), to the DensePose RoI feature channels.
        **kwargs: :class:`DensePoseBranch` arguments (first-stage DensePose).
    """

    def __init__(
        self,
        *,
        task_pooler: RoIPooler,
        stage1: TaskHeads,
        refine: bool,
        stage2_head: nn.Module | None = None,
        stage2_predictor: nn.Module | None = None,
        stage2_tasks: TaskHeads | None = None,
        feedback: nn.ModuleDict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task_pooler = task_pooler
        self.stage1 = stage1
        self.refine = refine
        self.stage2_head = stage2_head
        self.stage2_predictor = stage2_predictor
        self.stage2_tasks = stage2_tasks
        self.feedback = feedback

    def _run(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[dict[str, Any]]:
        """Outputs of each stage: ``{"densepose", "mask", "keypoint"}`` (absent tasks None)."""
        pooled = self.pooled(features, boxes, image_shapes)
        dp1 = self.predictor(self.head(pooled))
        task_features = self.task_pooler(features, boxes, image_shapes)
        first = {"densepose": dp1, **_tasks(self.stage1, task_features)}
        if not self.refine:
            return [first]
        assert self.feedback is not None and self.stage2_tasks is not None
        assert self.stage2_head is not None and self.stage2_predictor is not None
        size = pooled.shape[-1]
        signals = {
            "densepose": torch.cat([dp1.coarse_segm, dp1.fine_segm, dp1.u, dp1.v], 1),
            "mask": first["mask"],
            "keypoint": first["keypoint"],
        }
        refined = pooled
        for name, conv in self.feedback.items():
            refined = refined + conv(F.adaptive_avg_pool2d(signals[name], size))
        second = {
            "densepose": self.stage2_predictor(self.stage2_head(refined)),
            **_tasks(self.stage2_tasks, refined),
        }
        return [first, second]

    def forward(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> DensePoseChartOutput:
        return self._run(features, boxes, image_shapes)[-1]["densepose"]

    def predict(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[DensePoseChartOutput, list[dict[str, torch.Tensor]]]:
        """Last-stage DensePose, and per image ``masks`` / ``keypoints`` in torchvision's form."""
        last = self._run(features, boxes, image_shapes)[-1]
        extras: list[dict[str, torch.Tensor]] = [{} for _ in boxes]
        if last["mask"] is not None:
            labels = [torch.ones(len(b), dtype=torch.int64, device=b.device) for b in boxes]
            for extra, masks in zip(extras, maskrcnn_inference(last["mask"], labels), strict=True):
                extra["masks"] = masks
        if last["keypoint"] is not None and any(len(b) for b in boxes):
            points, scores = keypointrcnn_inference(last["keypoint"], boxes)
            for extra, p, s in zip(extras, points, scores, strict=True):
                extra["keypoints"], extra["keypoints_scores"] = p, s
        return last["densepose"], extras

    def losses(
        self,
        features: dict[str, torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Any]],
        proposals: list[torch.Tensor],
        matched_idxs: list[torch.Tensor],
        labels: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        boxes, people, packed = self.training_rois(targets, proposals, matched_idxs, labels)
        stages = self._run(features, boxes, image_shapes)
        losses: dict[str, torch.Tensor] = {}
        for k, out in enumerate(stages):
            suffix = "" if k == len(stages) - 1 else "_stage1"
            stage = densepose_losses(out["densepose"], packed, self.loss_weights)
            if out["mask"] is not None:
                stage["loss_mask"] = maskrcnn_loss(
                    out["mask"],
                    boxes,
                    [t["masks"] for t in targets],
                    [t["labels"] for t in targets],
                    people,
                )
            if out["keypoint"] is not None:
                stage["loss_keypoint"] = keypointrcnn_loss(
                    out["keypoint"], boxes, [t["keypoints"] for t in targets], people
                )
            losses |= {name + suffix: value for name, value in stage.items()}
        return losses


def _tasks(heads: TaskHeads, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
    return {
        "mask": heads.mask(x) if heads.mask is not None else None,
        "keypoint": heads.keypoint(x) if heads.keypoint is not None else None,
    }
