"""RoIAlign over FPN levels, with or without the half-pixel offset.

torchvision's ``MultiScaleRoIAlign`` always pools with ``aligned=False``, which samples the
feature map half a cell off (2 image pixels at stride 4). detectron2 names the two kinds
"ROIAlign" (``aligned=False``) and "ROIAlignV2" (``aligned=True``). Its DensePose config
default is ROIAlignV2, but every shipped DensePose config inherits
``Base-DensePose-RCNN-FPN.yaml``, which sets the DensePose pooler (and the box pooler) to
"ROIAlign": the published models pool without the offset. So the offset is a config field
(``model.densepose.pooler_aligned``); which presets use which is in
``docs/adr/0010-model-package.md``. Boxes go to the usual FPN level: a box of side ``s`` to
``floor(4 + log2(s / 224 + 1e-8))``, clamped to the levels present (detectron2's rule).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import roi_align


def roi_tensor(boxes: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """``[R, 5]`` rows (image index, x0, y0, x1, y1) of per-image xyxy boxes, as
    ``roi_align`` takes them, on the device and in the dtype of ``like``."""
    if not boxes:
        return like.new_zeros((0, 5))
    rows = [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)]
    return torch.cat(rows).to(device=like.device, dtype=like.dtype)


class RoIPooler(nn.Module):
    """Pools a fixed-size feature patch per box from the level that suits its size.

    Args:
        featmap_names: the FPN levels to pool from, finest first.
        output_size: side of the pooled patch, feature cells.
        sampling_ratio: bilinear samples per bin side (0: adaptive).
        aligned: half-pixel offset (True: detectron2's ROIAlignV2; False: its "ROIAlign" and
            torchvision's ``MultiScaleRoIAlign``).
        canonical_scale: box side mapped to ``canonical_level``, pixels.
        canonical_level: FPN level of a ``canonical_scale`` box.
    """

    def __init__(
        self,
        *,
        featmap_names: list[str],
        output_size: int,
        sampling_ratio: int = 2,
        aligned: bool,
        canonical_scale: int = 224,
        canonical_level: int = 4,
    ) -> None:
        super().__init__()
        self.featmap_names = list(featmap_names)
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level

    def forward(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        """Pooled features ``[R, C, output_size, output_size]`` for the R boxes of all images.

        Args:
            features: FPN maps ``[B, C, H_l, W_l]`` by name.
            boxes: per image, ``[R_b, 4]`` xyxy boxes in the (resized) image's pixels.
            image_shapes: per image, the (height, width) of the resized image.
        """
        maps = [features[name] for name in self.featmap_names]
        padded_h = max(h for h, _ in image_shapes)
        scales = [2.0 ** round(math.log2(m.shape[-2] / padded_h)) for m in maps]
        rois = roi_tensor(boxes, maps[0])
        if len(maps) == 1:
            return self._pool(maps[0], rois, scales[0])
        levels = self._levels(rois[:, 1:], scales)
        out = maps[0].new_zeros((len(rois), maps[0].shape[1], self.output_size, self.output_size))
        for level, (feature, scale) in enumerate(zip(maps, scales, strict=True)):
            index = torch.nonzero(levels == level).squeeze(1)
            out[index] = self._pool(feature, rois[index], scale).to(out.dtype)
        return out

    def _pool(self, feature: torch.Tensor, rois: torch.Tensor, scale: float) -> torch.Tensor:
        return roi_align(
            feature,
            rois.to(feature.dtype),
            output_size=self.output_size,
            spatial_scale=scale,
            sampling_ratio=self.sampling_ratio,
            aligned=self.aligned,
        )

    def _levels(self, boxes: torch.Tensor, scales: list[float]) -> torch.Tensor:
        """Index into ``scales`` of the level each box ``[R, 4]`` is pooled from."""
        finest = -round(math.log2(scales[0]))
        side = torch.sqrt(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=0))
        level = torch.floor(self.canonical_level + torch.log2(side / self.canonical_scale + 1e-8))
        return (level.clamp(finest, finest + len(scales) - 1) - finest).to(torch.int64)
