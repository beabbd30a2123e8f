"""Stage-1 painting on a person's label map: brush and eraser strokes, polygon and flood fill.

Qt-free and pure numpy/OpenCV, so the tests and the benchmark drive them headless. Every
operation returns a :class:`Patch`: the rectangle it changed with the labels before and
after, which is what an undo step stores (not the whole map).

Coordinates are continuous image pixels: pixel ``(col, row)`` covers
``[col, col + 1) x [row, row + 1)``. A brush of diameter ``d`` paints every pixel whose centre
lies within ``d / 2`` of the stroke's path (at least the pixel under the pointer).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from annotator.ui.label_map import LabelMap, Rect

#: Side of the tiles a stroke backs up before painting over them, pixels.
_TILE = 128


@dataclass
class Patch:
    """A changed rectangle of a label map: what undo and redo put back.

    Attributes:
        rect: the rectangle, image pixels.
        before: ``[h, w]`` uint8 labels before the change.
        after: ``[h, w]`` uint8 labels after the change.
    """

    rect: Rect
    before: np.ndarray
    after: np.ndarray

    def changed_pixels(self) -> int:
        return int(np.count_nonzero(self.before != self.after))


def _make_patch(label_map: LabelMap, rect: Rect, before: np.ndarray) -> Patch | None:
    """Patch of ``rect`` given the labels it held before, shrunk to the changed pixels."""
    after = label_map.read(rect)
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    tight = Rect(rect.x0 + c0, rect.y0 + r0, rect.x0 + c1, rect.y0 + r1)
    return Patch(tight, before[r0:r1, c0:c1].copy(), after[r0:r1, c0:c1].copy())


def _allowed(labels: np.ndarray, paint_over: Collection[int] | None) -> np.ndarray | bool:
    """Where the labels may be overwritten (True everywhere when ``paint_over`` is None)."""
    if paint_over is None:
        return True
    return np.isin(labels, np.fromiter(paint_over, np.uint8))


class Stroke:
    """One brush or eraser stroke, from press to release.

    Args:
        label_map: the person's label map (changed in place as the stroke goes).
        value: label to paint, 1..14, or 0 to erase.
        diameter: brush diameter, image pixels.
        paint_over: labels the stroke may overwrite; None for all. The app protects painted
            parts with ``{0, value}`` (brush) or ``{part}`` (eraser).
    """

    def __init__(
        self,
        label_map: LabelMap,
        value: int,
        diameter: float,
        paint_over: Collection[int] | None = None,
    ) -> None:
        if not 0 <= value <= 14:
            raise ValueError(f"label must be in 0..14, got {value}")
        self.map = label_map
        self.value = int(value)
        self.radius = max(float(diameter) / 2.0, 0.71)
        self.paint_over = None if paint_over is None else frozenset(paint_over)
        self.bounds: Rect | None = None  # everything the stroke touched
        self._last: tuple[float, float] | None = None
        self._backup: dict[tuple[int, int], np.ndarray] = {}

    def move_to(self, x: float, y: float) -> Rect | None:
        """Extend the stroke to ``(x, y)`` (the first call paints a dot).

        Returns:
            The rectangle of the map that may have changed (image pixels), or None.
        """
        start = self._last if self._last is not None else (x, y)
        self._last = (x, y)
        r = self.radius
        rect = Rect(
            int(np.floor(min(start[0], x) - r)),
            int(np.floor(min(start[1], y) - r)),
            int(np.ceil(max(start[0], x) + r)) + 1,
            int(np.ceil(max(start[1], y) + r)) + 1,
        ).intersect(self.map.region)
        if rect.empty:
            return None
        self._back_up(rect)
        covered = _segment_coverage(rect, start, (x, y), r)
        local = self.map.labels[self.map.local(rect).slices()]
        write = covered & _allowed(local, self.paint_over)
        local[write] = self.value
        self.bounds = rect.union(self.bounds)
        return rect

    def finish(self) -> Patch | None:
        """End the stroke; the patch of what it changed, or None if nothing changed."""
        if self.bounds is None:
            return None
        rect = self.bounds
        before = self.map.read(rect)
        for (tx, ty), tile in self._backup.items():
            tile_rect = Rect(tx, ty, tx + tile.shape[1], ty + tile.shape[0])
            common = tile_rect.intersect(rect)
            if not common.empty:
                before[common.translated(-rect.x0, -rect.y0).slices()] = tile[
                    common.translated(-tx, -ty).slices()
                ]
        self._backup.clear()
        return _make_patch(self.map, rect, before)

    def _back_up(self, rect: Rect) -> None:
        """Keep the labels of every not yet saved tile under ``rect`` (for the patch)."""
        origin = self.map.region
        step = _TILE
        for ty in range((rect.y0 - origin.y0) // step, (rect.y1 - 1 - origin.y0) // step + 1):
            for tx in range((rect.x0 - origin.x0) // step, (rect.x1 - 1 - origin.x0) // step + 1):
                key = (origin.x0 + tx * step, origin.y0 + ty * step)
                if key not in self._backup:
                    tile = Rect(key[0], key[1], key[0] + step, key[1] + step)
                    self._backup[key] = self.map.read(tile.intersect(origin))


def _segment_coverage(
    rect: Rect, p0: tuple[float, float], p1: tuple[float, float], radius: float
) -> np.ndarray:
    """``[h, w]`` bool: pixel centres of ``rect`` within ``radius`` of segment p0-p1."""
    xs = np.arange(rect.x0, rect.x1, dtype=np.float32) + 0.5
    ys = np.arange(rect.y0, rect.y1, dtype=np.float32) + 0.5
    ax, ay = np.float32(p0[0]), np.float32(p0[1])
    dx, dy = np.float32(p1[0] - p0[0]), np.float32(p1[1] - p0[1])
    length2 = dx * dx + dy * dy
    px = xs[None, :] - ax
    py = ys[:, None] - ay
    if length2 > 0:
        t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
        px = px - t * dx
        py = py - t * dy
    return px * px + py * py <= np.float32(radius * radius)


def fill_polygon(
    label_map: LabelMap,
    points: Sequence[tuple[float, float]] | np.ndarray,
    value: int,
    paint_over: Collection[int] | None = None,
) -> Patch | None:
    """Fill the polygon ``points`` (image pixels) with ``value``: pixels whose centre is inside.

    Returns:
        The patch of what changed, or None (fewer than 3 points, outside the map, no change).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return None
    rect = Rect(
        int(np.floor(pts[:, 0].min())),
        int(np.floor(pts[:, 1].min())),
        int(np.ceil(pts[:, 0].max())) + 1,
        int(np.ceil(pts[:, 1].max())) + 1,
    ).intersect(label_map.region)
    if rect.empty:
        return None
    inside = _polygon_coverage(rect, pts)
    before = label_map.read(rect)
    write = inside & _allowed(before, paint_over)
    after = before.copy()
    after[write] = value
    label_map.write(rect, after)
    return _make_patch(label_map, rect, before)


def _polygon_coverage(rect: Rect, pts: np.ndarray) -> np.ndarray:
    """``[h, w]`` bool: pixel centres of ``rect`` inside polygon ``pts [N, 2]`` (even-odd)."""
    inside = np.zeros((rect.height, rect.width), bool)
    ys = np.arange(rect.y0, rect.y1) + 0.5
    ax, ay = pts[:, 0], pts[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    crosses = (ay[None, :] <= ys[:, None]) != (by[None, :] <= ys[:, None])  # [rows, edges]
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = ax[None, :] + (ys[:, None] - ay[None, :]) * (bx - ax)[None, :] / (by - ay)[None, :]
    for row in np.flatnonzero(crosses.any(axis=1)):
        hits = np.sort(xs[row, crosses[row]])
        starts = np.ceil(hits[0::2] - 0.5).astype(np.int64) - rect.x0
        stops = np.ceil(hits[1::2] - 0.5).astype(np.int64) - rect.x0
        for a, b in zip(np.clip(starts, 0, rect.width), np.clip(stops, 0, rect.width), strict=True):
            inside[row, a:b] = True
    return inside


def flood_fill(label_map: LabelMap, x: float, y: float, value: int) -> Patch | None:
    """Fill the 4-connected region of equal labels around pixel ``(x, y)`` with ``value``.

    Returns:
        The patch of what changed, or None (outside the map, or already ``value``).
    """
    col, row = int(np.floor(x)) - label_map.x0, int(np.floor(y)) - label_map.y0
    labels = label_map.labels
    h, w = labels.shape
    if not (0 <= col < w and 0 <= row < h) or labels[row, col] == value:
        return None
    mask = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    _, _, _, (bx, by, bw, bh) = cv2.floodFill(labels, mask, (col, row), 0, 0, 0, flags)
    rect = Rect(bx, by, bx + bw, by + bh).translated(label_map.x0, label_map.y0)
    before = label_map.read(rect)
    after = before.copy()
    after[mask[by + 1 : by + 1 + bh, bx + 1 : bx + 1 + bw].astype(bool)] = value
    label_map.write(rect, after)
    return _make_patch(label_map, rect, before)


def apply_patch(label_map: LabelMap, patch: Patch, *, undo: bool) -> Rect:
    """Put back the labels before (``undo``) or after a patch; returns its rectangle."""
    label_map.write(patch.rect, patch.before if undo else patch.after)
    return patch.rect
