"""The paper's fully convolutional baseline: DensePose for the whole image, no RoIs.

The FPN levels are merged by the decoder into one map at the finest stride; a convolution
stack and the chart predictor turn it into coarse segmentation, I, U and V for every pixel
of the (padded, resized) image. Nothing is pooled per person: in training the points of
every annotated person are read from the whole-image maps and the coarse segmentation is
the union of the people's dp_masks pasted at their boxes (inside the box of a person without
dp_masks, unknown: ignored); a person is scored through a box (detected by the shared
detector, or the true box) by cropping the maps with RoIAlign.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn
from torchvision.ops import roi_align

from model.modeling.heads import FPNDecoder
from model.modeling.losses import (
    ChartLossWeights,
    densepose_losses,
    pack_targets,
    resample_masks,
    xyxy_to_xywh,
)
from model.modeling.pooler import roi_tensor
from model.modeling.roi_heads import Branch
from model.structures import DensePoseChartOutput, DensePoseTargets


class WholeImageBranch(Branch):
    """FPN decoder -> convolution stack -> chart predictor, over the whole image.

    Args:
        decoder: merges the FPN levels (its output stride is ``decoder_stride``).
        head: the convolution stack (at the decoder's stride).
        predictor: the chart predictor (upsamples by ``2 * up_scale``).
        loss_weights: the chart loss weights.
        in_features: the FPN levels the decoder reads, finest first.
        out_stride: image pixels per output cell.
        crop_size: side of the maps cropped for a box (the R-CNN head's output size).
    """

    def __init__(
        self,
        *,
        decoder: FPNDecoder,
        head: nn.Module,
        predictor: nn.Module,
        loss_weights: ChartLossWeights,
        in_features: list[str],
        out_stride: float,
        crop_size: int,
    ) -> None:
        super().__init__()
        self.decoder = decoder
        self.head = head
        self.predictor = predictor
        self.loss_weights = loss_weights
        self.in_features = list(in_features)
        self.out_stride = out_stride
        self.crop_size = crop_size

    def maps(self, features: dict[str, torch.Tensor]) -> DensePoseChartOutput:
        """Whole-image outputs ``[B, C, H, W]`` (cell = ``out_stride`` padded-image pixels)."""
        x = self.decoder([features[k] for k in self.in_features])
        return self.predictor(self.head(x))

    def forward(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> DensePoseChartOutput:
        """The maps of each box ``[R, C, S, S]``, cropped from the whole-image maps."""
        maps = self.maps(features)
        fields = {k: v for k, v in vars(maps).items() if v is not None}
        stacked = torch.cat(list(fields.values()), dim=1)
        crops = roi_align(
            stacked,
            roi_tensor(boxes, stacked),
            output_size=self.crop_size,
            spatial_scale=1.0 / self.out_stride,
            sampling_ratio=2,
            aligned=True,
        )
        out, start = {}, 0
        for name, value in fields.items():
            out[name] = crops[:, start : start + value.shape[1]]
            start += value.shape[1]
        return DensePoseChartOutput(**out)

    def losses(
        self,
        features: dict[str, torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Any]],
        proposals: list[torch.Tensor],
        matched_idxs: list[torch.Tensor],
        labels: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Chart losses of every annotated person on the whole-image maps (proposals unused)."""
        maps = self.maps(features)
        height, width = maps.u.shape[-2:]
        frame = torch.tensor(
            [0.0, 0.0, width * self.out_stride, height * self.out_stride], device=maps.u.device
        )
        gt_boxes = [t["boxes"] for t in targets]
        people = [torch.arange(len(b), device=b.device) for b in gt_boxes]
        frames = [frame.expand(len(b), 4) for b in gt_boxes]
        dps: list[DensePoseTargets] = [t["densepose"] for t in targets]
        packed = pack_targets(frames, gt_boxes, people, dps)
        if packed is not None:  # one output row per image: map each person's row to its image
            image_of_row = torch.cat(
                [torch.full((len(b),), i, device=frame.device) for i, b in enumerate(gt_boxes)]
            )
            packed = replace(packed, roi=image_of_row[packed.roi])
        coarse = self._coarse_labels(gt_boxes, dps, frame, (height, width))
        return densepose_losses(maps, packed, self.loss_weights, coarse_labels=coarse)

    def _coarse_labels(
        self,
        gt_boxes: list[torch.Tensor],
        dps: list[DensePoseTargets],
        frame: torch.Tensor,
        size: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image ``[H, W]`` labels: people's parts, background 0, unknown -1."""
        out = []
        for boxes, dp in zip(gt_boxes, dps, strict=True):
            label = torch.zeros(size, dtype=torch.int64, device=frame.device)
            unknown = torch.zeros(size, dtype=torch.bool, device=frame.device)
            for k in range(len(boxes)):
                x0, y0, x1, y1 = (boxes[k] / self.out_stride).tolist()
                if not bool(dp.has_masks[k]):
                    unknown[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1] = True
                    continue
                parts = resample_masks(
                    dp.masks[k : k + 1],
                    xyxy_to_xywh(boxes[k : k + 1]),
                    xyxy_to_xywh(frame[None]),
                    size,
                )[0]
                label = torch.where(parts > 0, parts, label)
            label[(label == 0) & unknown] = -1
            out.append(label)
        rows = torch.arange(len(out), device=frame.device)
        return rows, torch.stack(out)
