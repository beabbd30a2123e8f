"""A person's stage-1 label map over its box, and pixel rectangles. Qt-free.

The label map of a person covers the image pixels its box touches (clipped to the image):
painting is clipped to the person by construction, and the 14 parts are exclusive because
each pixel holds one label (0 = none, 1..14 = coarse part, the order of ``dp_masks``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from annotator.dataset.masks import to_image
from annotator.dataset.records import Box, MaskFrame, PartMask


@dataclass(frozen=True)
class Rect:
    """A half-open rectangle of pixels ``[x0, x1) x [y0, y1)`` in image pixels."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return max(0, self.x1 - self.x0)

    @property
    def height(self) -> int:
        return max(0, self.y1 - self.y0)

    @property
    def empty(self) -> bool:
        return self.width == 0 or self.height == 0

    def union(self, other: Rect | None) -> Rect:
        """The smallest rectangle holding both (``other`` may be None)."""
        if other is None or other.empty:
            return self
        if self.empty:
            return other
        return Rect(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )

    def intersect(self, other: Rect) -> Rect:
        """The common part (possibly empty)."""
        return Rect(
            max(self.x0, other.x0),
            max(self.y0, other.y0),
            min(self.x1, other.x1),
            min(self.y1, other.y1),
        )

    def translated(self, dx: int, dy: int) -> Rect:
        return Rect(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of this rectangle in an array whose origin is (0, 0)."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def box_region(box: Box, width: int, height: int) -> Rect:
    """Pixels a box touches, clipped to a ``width`` x ``height`` image (may be empty)."""
    return Rect(
        max(0, math.floor(box.x)),
        max(0, math.floor(box.y)),
        min(width, math.ceil(box.x + box.w)),
        min(height, math.ceil(box.y + box.h)),
    )


@dataclass
class LabelMap:
    """The label map of one person over a pixel region of its image.

    Attributes:
        labels: ``[H, W]`` uint8, 0 = no part, 1..14 = coarse part.
        x0: image column of ``labels[:, 0]``.
        y0: image row of ``labels[0, :]``.
    """

    labels: np.ndarray
    x0: int
    y0: int

    @staticmethod
    def blank(region: Rect) -> LabelMap:
        """An unpainted map over ``region``."""
        return LabelMap(np.zeros((region.height, region.width), np.uint8), region.x0, region.y0)

    @staticmethod
    def from_part_mask(mask: PartMask | None, box: Box, region: Rect) -> LabelMap:
        """A stored mask (any frame) placed on ``region``; what falls outside is dropped."""
        out = LabelMap.blank(region)
        if mask is None:
            return out
        if mask.frame == MaskFrame.BOX256:
            mask = to_image(mask, box)
        out.paste(LabelMap(mask.labels, mask.x0, mask.y0))
        return out

    @property
    def region(self) -> Rect:
        """The image pixels this map covers."""
        h, w = self.labels.shape
        return Rect(self.x0, self.y0, self.x0 + w, self.y0 + h)

    def local(self, rect: Rect) -> Rect:
        """``rect`` (image pixels) clipped to the map, in the map's own coordinates."""
        return rect.intersect(self.region).translated(-self.x0, -self.y0)

    def read(self, rect: Rect) -> np.ndarray:
        """A copy of the labels in ``rect`` (image pixels, must lie inside the map)."""
        return self.labels[self.local(rect).slices()].copy()

    def write(self, rect: Rect, values: np.ndarray) -> None:
        """Set the labels of ``rect`` (image pixels, inside the map) to ``values``."""
        self.labels[self.local(rect).slices()] = values

    def paste(self, other: LabelMap) -> None:
        """Copy ``other``'s labels where the two maps overlap."""
        common = self.region.intersect(other.region)
        if common.empty:
            return
        self.labels[self.local(common).slices()] = other.labels[other.local(common).slices()]

    def reframed(self, region: Rect) -> LabelMap:
        """This map moved onto ``region``: overlap kept, the rest blank."""
        out = LabelMap.blank(region)
        out.paste(self)
        return out

    def copy(self) -> LabelMap:
        return LabelMap(self.labels.copy(), self.x0, self.y0)

    def any(self) -> bool:
        """Whether any pixel is painted."""
        return bool(self.labels.any())

    def part_mask(self) -> PartMask:
        """As a store record (IMAGE frame)."""
        return PartMask(self.labels, self.x0, self.y0)

    def areas(self) -> np.ndarray:
        """``[15]`` painted pixels per label (index 0 = unpainted)."""
        return np.bincount(self.labels.ravel(), minlength=15)
