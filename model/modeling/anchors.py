"""detectron2's anchors in torchvision's anchor generator.

Two differences change which proposals a zoo model makes, so a zoo model needs detectron2's:

* torchvision rounds its cell anchors to whole pixels (a 32-pixel anchor of aspect 0.5 becomes
  46 x 22 instead of 45.25 x 22.63); detectron2 keeps ``w = sqrt(s^2 / a)``, ``h = a * w``;
* torchvision derives each level's stride from the padded image and feature sizes
  (``H // H_l``), which for the max-pooled level is not 64 when ``H / 32`` is odd (800 px:
  61); detectron2 uses each level's own stride.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList


class Detectron2AnchorGenerator(AnchorGenerator):
    """Anchors as detectron2's ``DefaultAnchorGenerator`` makes them (offset 0).

    Args:
        sizes: per level, the anchor sizes (pixels).
        aspect_ratios: per level, the aspect ratios (height / width).
        strides: per level, its stride (pixels).
    """

    def __init__(
        self,
        sizes: tuple[tuple[int, ...], ...],
        aspect_ratios: tuple[tuple[float, ...], ...],
        strides: tuple[int, ...],
    ) -> None:
        super().__init__(sizes, aspect_ratios)
        if len(strides) != len(sizes):
            raise ValueError(f"one stride per level: {len(sizes)} levels, strides {strides}")
        self.strides = tuple(strides)

    def generate_anchors(
        self,
        scales: list[int],
        aspect_ratios: list[float],
        dtype: torch.dtype = torch.float32,
        device: torch.device | None = None,
    ) -> Tensor:
        rows = []
        for size in scales:
            for ratio in aspect_ratios:
                w = math.sqrt(size**2.0 / ratio)
                h = ratio * w
                rows.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        return torch.tensor(rows, dtype=dtype, device=device)

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        grid_sizes = [list(f.shape[-2:]) for f in feature_maps]
        device = feature_maps[0].device
        strides = [[torch.tensor(s, dtype=torch.int64, device=device)] * 2 for s in self.strides]
        self.set_cell_anchors(feature_maps[0].dtype, device)
        levels = self.grid_anchors(grid_sizes, strides)
        return [torch.cat(levels) for _ in image_list.image_sizes]
