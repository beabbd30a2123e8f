"""DensePose R-CNN: torchvision's Faster R-CNN with the DensePose RoI heads.

The image transform, backbone, RPN and box head are torchvision's; only the RoI heads are
:class:`DensePoseRoIHeads`. Besides the usual ``model(images)`` / ``model(images, targets)``,
:meth:`DensePoseRCNN.densepose_for_boxes` runs the DensePose branch on given boxes (the
evaluation with true boxes, and pre-annotation of boxes a person drew).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models.detection.faster_rcnn import FasterRCNN
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes

from model.modeling.detector_rules import ProposalNetwork
from model.modeling.roi_heads import Branch, DensePoseRoIHeads
from model.structures import DensePoseChartOutput


class DensePoseRCNN(FasterRCNN):
    """Faster R-CNN + FPN whose RoI heads also predict DensePose.

    Args:
        backbone: a backbone with FPN (``out_channels`` attribute).
        densepose: the DensePose branch (RoI, cascade or whole-image).
        min_size_train: shorter image sides drawn from in training (scale jitter).
        min_size_test: shorter image side in inference.
        roi_extra: mask / keypoint parts for torchvision's ``RoIHeads`` (may be empty).
        transform: the image transform (default torchvision's, from the sizes and
            ``image_mean`` / ``image_std``).
        detectron2_rules: filter proposals and detections as detectron2 does
            (:mod:`model.modeling.detector_rules`).
        **kwargs: torchvision ``FasterRCNN`` arguments (RPN, box head, sizes).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        densepose: Branch,
        min_size_train: tuple[int, ...] = (800,),
        min_size_test: int = 800,
        roi_extra: dict[str, nn.Module] | None = None,
        transform: GeneralizedRCNNTransform | None = None,
        detectron2_rules: bool = False,
        **kwargs: Any,
    ) -> None:
        # torchvision accepts only its own box pooler; ours goes straight to the RoI heads.
        box_pool = kwargs.pop("box_roi_pool", None)
        classes = None if "box_predictor" in kwargs else 2
        super().__init__(backbone, num_classes=classes, min_size=min_size_train, **kwargs)
        self.min_size_train = tuple(min_size_train)
        self.min_size_test = min_size_test
        if transform is not None:
            self.transform = transform
        rpn: Any = getattr(self, "rpn")  # noqa: B009 (torchvision leaves it untyped)
        self.rpn = ProposalNetwork(
            rpn.anchor_generator,
            rpn.head,
            kwargs.get("rpn_fg_iou_thresh", 0.7),
            kwargs.get("rpn_bg_iou_thresh", 0.3),
            kwargs.get("rpn_batch_size_per_image", 256),
            kwargs.get("rpn_positive_fraction", 0.5),
            rpn._pre_nms_top_n,
            rpn._post_nms_top_n,
            rpn.nms_thresh,
            score_thresh=rpn.score_thresh,
        )
        self.rpn.detectron2_rules = detectron2_rules
        base: Any = getattr(self, "roi_heads")  # noqa: B009 (torchvision leaves it untyped)
        self.roi_heads = DensePoseRoIHeads(
            densepose=densepose,
            detectron2_rules=detectron2_rules,
            box_roi_pool=box_pool if box_pool is not None else base.box_roi_pool,
            box_head=base.box_head,
            box_predictor=base.box_predictor,
            fg_iou_thresh=kwargs.get("box_fg_iou_thresh", 0.5),
            bg_iou_thresh=kwargs.get("box_bg_iou_thresh", 0.5),
            batch_size_per_image=kwargs.get("box_batch_size_per_image", 512),
            positive_fraction=kwargs.get("box_positive_fraction", 0.25),
            bbox_reg_weights=kwargs.get("bbox_reg_weights"),
            score_thresh=kwargs.get("box_score_thresh", 0.05),
            nms_thresh=kwargs.get("box_nms_thresh", 0.5),
            detections_per_img=kwargs.get("box_detections_per_img", 100),
            **(roi_extra or {}),
        )
        self.train(self.training)

    def train(self, mode: bool = True) -> DensePoseRCNN:
        super().train(mode)
        # torchvision draws the size from min_size in training and takes the last in eval.
        self.transform.min_size = self.min_size_train if mode else (self.min_size_test,)
        return self

    @torch.no_grad()
    def densepose_for_boxes(
        self, images: list[torch.Tensor], boxes: list[torch.Tensor]
    ) -> list[DensePoseChartOutput]:
        """DensePose of given boxes: per image, the outputs for its ``[N, 4]`` xyxy boxes
        (original image pixels)."""
        return self.detect_and_densepose(images, boxes, detect=False)[1]

    @torch.no_grad()
    def detect_and_densepose(
        self, images: list[torch.Tensor], boxes: list[torch.Tensor], detect: bool = True
    ) -> tuple[list[dict[str, Any]], list[DensePoseChartOutput]]:
        """Detections (as ``model(images)`` gives them) and the DensePose of given boxes, from
        one pass of the backbone (pre-annotation needs both)."""
        original = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        image_list, _ = self.transform(images)
        features = self.backbone(image_list.tensors)
        detections: list[dict[str, Any]] = []
        if detect:
            proposals, _ = self.rpn(image_list, features)
            found, _ = self.roi_heads(features, proposals, image_list.image_sizes)
            detections = self.transform.postprocess(found, image_list.image_sizes, original)
        scaled = [
            resize_boxes(b.to(image_list.tensors.dtype), orig, new)
            for b, orig, new in zip(boxes, original, image_list.image_sizes, strict=True)
        ]
        given = self.roi_heads.densepose_on_boxes(features, scaled, image_list.image_sizes)
        return detections, given
