"""Head outputs -> per-person (I, U, V) over the box, the reference's way.

For a detection with float box (x0, y0, x1, y1), the maps cover the integer box ``(int(x0),
int(y0), max(int(x1 - x0), 1), max(int(y1 - y0), 1))``. The coarse and fine segmentation
logits are resized bilinearly to the box (``align_corners=False``); the label of a pixel is
the fine argmax where the coarse argmax is not background, else 0; U and V are resized the
same way and read in the channel of the pixel's label.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from model.structures import DensePoseChartOutput, DensePoseResult


def int_box(box_xyxy: torch.Tensor) -> tuple[int, int, int, int]:
    """The integer ``(x, y, w, h)`` the maps of a float xyxy box cover."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    return int(x0), int(y0), max(int(x1 - x0), 1), max(int(y1 - y0), 1)


def to_results(
    output: DensePoseChartOutput, boxes_xyxy: torch.Tensor, *, confidences: bool = False
) -> list[DensePoseResult]:
    """One :class:`DensePoseResult` per box (``boxes_xyxy`` ``[N, 4]``, image pixels); with
    ``confidences``, also the model's confidence maps over the box (if it has any)."""
    results = []
    for k in range(len(boxes_xyxy)):
        box = int_box(boxes_xyxy[k])
        size = (box[3], box[2])

        def resize(maps: torch.Tensor, k: int = k, size: tuple[int, int] = size) -> torch.Tensor:
            return F.interpolate(
                maps[k : k + 1].float(), size, mode="bilinear", align_corners=False
            )[0]

        coarse = resize(output.coarse_segm).argmax(dim=0)
        labels = resize(output.fine_segm).argmax(dim=0) * (coarse > 0)
        index = labels[None].long()
        uv = torch.cat([resize(output.u).gather(0, index), resize(output.v).gather(0, index)])
        uv = uv * (labels > 0)
        maps_of = output.confidences() if confidences else {}
        confidence = {
            name: _confidence(name, resize(maps), index) for name, maps in maps_of.items()
        }
        results.append(
            DensePoseResult(
                box=box,
                labels=labels.to(torch.uint8),
                uv=uv.clamp(0, 1).contiguous(),
                confidences=confidence or None,
            )
        )
    return results


def _confidence(name: str, maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """A confidence map over the box: per-chart ones read at the pixel's label."""
    if name == "sigma_2":
        maps = F.softplus(maps)
    if maps.shape[0] == 1:
        return maps[0]
    return maps.gather(0, index)[0]
