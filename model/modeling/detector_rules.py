"""Proposal filtering and box post-processing: torchvision's rules or detectron2's.

Both detectors make proposals and detections the same way up to a few rules at the edges,
which a model of detectron2's zoo needs as detectron2 applies them (``model.detector_rules``):

====================  =============================  =========================================
step                  torchvision                    detectron2
====================  =============================  =========================================
proposals             drop boxes under 1e-3 px,      drop empty boxes (side 0), NMS on the
                      NMS on sigmoid probabilities   objectness logits
detections            drop boxes under 1e-2 px       keep every non-empty box
back to the image     scale                          scale, clip to the image, drop empty boxes
====================  =============================  =========================================

The last row is :meth:`model.modeling.transform.Detectron2Transform.postprocess`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision.models.detection.rpn import RegionProposalNetwork
from torchvision.ops import boxes as box_ops


class ProposalNetwork(RegionProposalNetwork):
    """torchvision's RPN, with detectron2's proposal filtering when ``detectron2_rules``."""

    detectron2_rules: bool = False

    def filter_proposals(
        self,
        proposals: Tensor,
        objectness: Tensor,
        image_shapes: list[tuple[int, int]],
        num_anchors_per_level: list[int],
    ) -> tuple[list[Tensor], list[Tensor]]:
        if not self.detectron2_rules:
            return super().filter_proposals(
                proposals, objectness, image_shapes, num_anchors_per_level
            )
        n = proposals.shape[0]
        logits = objectness.detach().reshape(n, -1)
        levels = torch.cat(
            [torch.full((k,), i, dtype=torch.int64) for i, k in enumerate(num_anchors_per_level)]
        ).to(logits.device)
        top = self._get_top_n_idx(logits, num_anchors_per_level)
        rows = torch.arange(n, device=logits.device)[:, None]
        logits, boxes_all, levels_all = logits[rows, top], proposals[rows, top], levels[top]
        final_boxes, final_scores = [], []
        for boxes, scores, lvl, shape in zip(
            boxes_all, logits, levels_all, image_shapes, strict=True
        ):
            finite = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
            boxes, scores, lvl = boxes[finite], scores[finite], lvl[finite]
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            keep = _nonempty(boxes)
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = box_ops.batched_nms(boxes, scores, lvl, self.nms_thresh)[: self.post_nms_top_n()]
            final_boxes.append(boxes[keep])
            final_scores.append(scores[keep])
        return final_boxes, final_scores


def _nonempty(boxes: Tensor) -> Tensor:
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def detectron2_detections(
    class_logits: Tensor,
    boxes: Tensor,
    image_shapes: list[tuple[int, int]],
    boxes_per_image: list[int],
    *,
    score_thresh: float,
    nms_thresh: float,
    detections_per_img: int,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """detectron2's ``fast_rcnn_inference`` on torchvision's outputs.

    Args:
        class_logits: ``[R, K + 1]`` logits, background first (torchvision's order).
        boxes: ``[R, K + 1, 4]`` decoded boxes per class.
        image_shapes: per image, its resized (height, width).
        boxes_per_image: proposals per image.

    Returns:
        per image, boxes ``[D, 4]``, scores ``[D]`` and labels ``[D]`` (1..K), best first.
    """
    scores_all = F.softmax(class_logits, -1).split(boxes_per_image)
    out_boxes, out_scores, out_labels = [], [], []
    per_image = zip(scores_all, boxes.split(boxes_per_image), image_shapes, strict=True)
    for scores, image_boxes, shape in per_image:
        finite = torch.isfinite(image_boxes).all(dim=2).all(dim=1) & torch.isfinite(scores).all(1)
        scores, image_boxes = scores[finite][:, 1:], image_boxes[finite][:, 1:]
        image_boxes = box_ops.clip_boxes_to_image(image_boxes.reshape(-1, 4), shape)
        image_boxes = image_boxes.view(-1, scores.shape[1], 4)
        chosen = scores > score_thresh
        index = chosen.nonzero()
        kept_boxes, kept_scores = image_boxes[chosen], scores[chosen]
        labels = index[:, 1] + 1
        keep = box_ops.batched_nms(kept_boxes, kept_scores, labels, nms_thresh)
        keep = keep[:detections_per_img]
        out_boxes.append(kept_boxes[keep])
        out_scores.append(kept_scores[keep])
        out_labels.append(labels[keep])
    return out_boxes, out_scores, out_labels
