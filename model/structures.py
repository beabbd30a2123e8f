"""What flows between the data, the model and the evaluation: targets and predictions.

Targets follow torchvision's detection convention (one ``dict`` per image with ``boxes``
``[N, 4]`` xyxy image pixels, ``labels`` ``[N]``, optionally ``masks`` ``[N, H, W]`` and
``keypoints`` ``[N, 17, 3]``), plus ``"densepose"``: a :class:`DensePoseTargets` holding the
DensePose annotations of the same N persons.

DensePose coordinates stay in each person's **box frame**, as in DensePose-COCO: the
ground-truth box scaled to 256 x 256 (``dp_x``, ``dp_y``). Resizing the image therefore
changes nothing in a :class:`DensePoseTargets`; a horizontal flip maps x to 256 - x (the
reference loader's convention) and swaps parts. The model maps box-frame points into its
output grid the way detectron2 does: ``x_img = x0 + x * w / 256``.

Predictions are :class:`DensePoseChartOutput` (raw head outputs for N boxes) and, per box,
:class:`DensePoseResult` (labels and U, V over the integer box, detectron2's
``DensePoseChartResult``), which is what evaluation and the results JSON read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch


@dataclass(frozen=True)
class DensePoseTargets:
    """DensePose annotations of the N persons of one image (points packed over persons).

    Attributes:
        has_points: ``[N]`` bool, persons annotated with points (DensePose-COCO ``dp_x``).
        person: ``[P]`` int64, the person (0..N-1) of each point.
        x: ``[P]`` float32, point column in the box frame, [0, 256].
        y: ``[P]`` float32, point row in the box frame, [0, 256].
        i: ``[P]`` int64, chart 1..24.
        u: ``[P]`` float32, [0, 1].
        v: ``[P]`` float32, [0, 1].
        masks: ``[N, 256, 256]`` uint8 coarse part 0..14 in the box frame (0 where none).
        has_masks: ``[N]`` bool, persons with ``dp_masks``.
        dense: True when the points are dense synthetic truth (every skin pixel or a sample
            of them) rather than annotated points.
    """

    has_points: torch.Tensor
    person: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    i: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor
    masks: torch.Tensor
    has_masks: torch.Tensor
    dense: bool = False

    def __post_init__(self) -> None:
        n, p = len(self.has_points), len(self.person)
        for name in ("x", "y", "i", "u", "v"):
            if len(getattr(self, name)) != p:
                raise ValueError(
                    f"DensePoseTargets.{name} has {len(getattr(self, name))} "
                    f"entries, expected {p} (one per point)"
                )
        if self.masks.shape != (n, 256, 256) or len(self.has_masks) != n:
            raise ValueError(
                f"DensePoseTargets.masks must be [{n}, 256, 256], got {tuple(self.masks.shape)}"
            )

    def __len__(self) -> int:
        return len(self.has_points)

    @property
    def num_points(self) -> int:
        return len(self.person)

    @staticmethod
    def empty(n: int = 0) -> DensePoseTargets:
        """No annotation for ``n`` persons (they still train the detector)."""
        zeros = torch.zeros(0)
        return DensePoseTargets(
            has_points=torch.zeros(n, dtype=torch.bool),
            person=torch.zeros(0, dtype=torch.int64),
            x=zeros,
            y=zeros,
            i=torch.zeros(0, dtype=torch.int64),
            u=zeros,
            v=zeros,
            masks=torch.zeros((n, 256, 256), dtype=torch.uint8),
            has_masks=torch.zeros(n, dtype=torch.bool),
        )

    def select(self, keep: torch.Tensor) -> DensePoseTargets:
        """The persons ``keep`` (bool ``[N]`` or indices), points renumbered."""
        index = torch.arange(len(self))[keep]
        new_number = torch.full((len(self),), -1, dtype=torch.int64)
        new_number[index] = torch.arange(len(index))
        point_keep = new_number[self.person] >= 0
        return DensePoseTargets(
            has_points=self.has_points[index],
            person=new_number[self.person[point_keep]],
            x=self.x[point_keep],
            y=self.y[point_keep],
            i=self.i[point_keep],
            u=self.u[point_keep],
            v=self.v[point_keep],
            masks=self.masks[index],
            has_masks=self.has_masks[index],
            dense=self.dense,
        )

    def to(self, device: torch.device | str) -> DensePoseTargets:
        return replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device)
                for f in fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)
            },
        )


@dataclass
class DensePoseChartOutput:
    """Raw DensePose head outputs for N boxes, at the head's output size S.

    Attributes:
        coarse_segm: ``[N, K, S, S]`` logits, K = 2 (person / background) or 15 (parts).
        fine_segm: ``[N, 25, S, S]`` logits of chart 0..24 (0 background).
        u: ``[N, 25, S, S]`` U per chart (raw regression, about [0, 1]).
        v: ``[N, 25, S, S]`` V per chart.
        sigma_2: ``[N, 25, S, S]`` or None: UV uncertainty (WC1 and WC2), raw: the variance
            is ``softplus(sigma_2) + epsilon``.
        kappa_u, kappa_v: ``[N, 25, S, S]`` or None: anisotropic direction (WC2).
        fine_segm_confidence, coarse_segm_confidence: ``[N, 1, S, S]`` or None: segmentation
            confidence (M), positive; logits are scaled by it.
    """

    coarse_segm: torch.Tensor
    fine_segm: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor
    sigma_2: torch.Tensor | None = None
    kappa_u: torch.Tensor | None = None
    kappa_v: torch.Tensor | None = None
    fine_segm_confidence: torch.Tensor | None = None
    coarse_segm_confidence: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.coarse_segm)

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> DensePoseChartOutput:
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = None if value is None else fn(value)
        return DensePoseChartOutput(**values)

    def __getitem__(self, index: int | slice | torch.Tensor) -> DensePoseChartOutput:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return self._map(lambda t: t[index])

    def to(self, device: torch.device | str) -> DensePoseChartOutput:
        return self._map(lambda t: t.to(device))

    def confidences(self) -> dict[str, torch.Tensor]:
        """The confidence maps that are present, by name."""
        names = (
            "sigma_2",
            "kappa_u",
            "kappa_v",
            "fine_segm_confidence",
            "coarse_segm_confidence",
        )
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True)
class DensePoseResult:
    """DensePose of one detected person over its integer box (what evaluation scores).

    Attributes:
        box: ``(x, y, w, h)`` ints: the box the maps cover, image pixels (``int()`` of the
            detection's float box, as the reference).
        labels: ``[h, w]`` uint8 chart 0..24 (0 background).
        uv: ``[2, h, w]`` float32 U and V in [0, 1] (0 on background).
        confidences: name -> ``[h, w]`` float32 maps (sigma_2, kappa_u, ...), if the
            model estimates them.
    """

    box: tuple[int, int, int, int]
    labels: torch.Tensor
    uv: torch.Tensor
    confidences: dict[str, torch.Tensor] | None = None

    def __post_init__(self) -> None:
        _, _, w, h = self.box
        if tuple(self.labels.shape) != (h, w) or tuple(self.uv.shape) != (2, h, w):
            raise ValueError(
                f"DensePoseResult maps must cover the {w} x {h} box: labels "
                f"{tuple(self.labels.shape)}, uv {tuple(self.uv.shape)}"
            )
