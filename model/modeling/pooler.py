"""RoIAlign over FPN levels with the half-pixel offset (detectron2's ROIAlignV2).

torchvision's ``MultiScaleRoIAlign`` always pools with ``aligned=False``: it samples the
feature map half a pixel off, which shifts every DensePose map by half a feature cell (2
image pixels at stride 4). The DensePose reference pools with ``aligned=True``; this pooler
does the same, with the usual FPN level assignment (a box of side ``s`` goes to level
``floor(4 + log2(s / 224))``, clamped to the levels present).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import roi_align


class AlignedRoIPooler(nn.Module):
    """Pools a fixed-size feature patch per box from the level that suits its size.

    Args:
        featmap_names: the FPN levels to pool from, finest first.
        output_size: side of the pooled patch, feature cells.
        sampling_ratio: bilinear samples per bin side (0: adaptive).
        aligned: half-pixel offset (True for detectron2's ROIAlignV2).
        canonical_scale: box side mapped to ``canonical_level``, pixels.
        canonical_level: FPN level of a ``canonical_scale`` box.
    """

    def __init__(
        self,
        *,
        featmap_names: list[str],
        output_size: int,
        sampling_ratio: int = 2,
        aligned: bool = True,
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
        rois = (
            torch.cat(
                [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)]
            )
            if boxes
            else torch.zeros((0, 5), device=maps[0].device)
        )
        rois = rois.to(maps[0].dtype)
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
