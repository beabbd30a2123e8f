"""Stage-1 painting on label maps (Qt-free): strokes, fills, patches, clipping."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.dataset.records import Box, MaskFrame, PartMask
from annotator.ui.label_map import LabelMap, Rect, box_region
from annotator.ui.paint_tools import Stroke, apply_patch, fill_polygon, flood_fill


def blank(x0: int = 10, y0: int = 20, w: int = 300, h: int = 200) -> LabelMap:
    return LabelMap.blank(Rect(x0, y0, x0 + w, y0 + h))


def test_box_region_covers_touched_pixels_and_clips_to_the_image() -> None:
    assert box_region(Box(10.5, 20.2, 30, 40), 640, 480) == Rect(10, 20, 41, 61)
    assert box_region(Box(-5, -5, 20, 20), 10, 8) == Rect(0, 0, 10, 8)


def test_a_dot_paints_a_disc_of_the_brush_diameter() -> None:
    lm = blank()
    stroke = Stroke(lm, 3, diameter=10)
    stroke.move_to(60.0, 70.0)
    patch = stroke.finish()
    assert patch is not None
    painted = lm.labels == 3
    # about pi * 5^2 pixels, centred on (60, 70)
    assert 70 <= painted.sum() <= 90
    rows, cols = np.nonzero(painted)
    assert abs(cols.mean() + lm.x0 + 0.5 - 60) < 0.6 and abs(rows.mean() + lm.y0 + 0.5 - 70) < 0.6
    assert patch.rect == Rect(55, 65, 65, 75)
    assert (patch.before == 0).all() and (patch.after[patch.after != 0] == 3).all()


def test_a_stroke_is_one_patch_and_undo_restores_exactly() -> None:
    lm = blank()
    lm.labels[50:60, :] = 1
    original = lm.labels.copy()
    stroke = Stroke(lm, 5, diameter=6)
    for x in np.linspace(20, 290, 40):
        stroke.move_to(float(x), 100.0 + 30 * np.sin(x / 30))
    patch = stroke.finish()
    assert patch is not None and patch.changed_pixels() > 1000
    after = lm.labels.copy()
    apply_patch(lm, patch, undo=True)
    np.testing.assert_array_equal(lm.labels, original)
    apply_patch(lm, patch, undo=False)
    np.testing.assert_array_equal(lm.labels, after)


def test_painting_is_clipped_to_the_person_and_parts_stay_exclusive() -> None:
    lm = blank(0, 0, 50, 50)
    s = Stroke(lm, 2, diameter=20)
    s.move_to(-30, 25)
    s.move_to(80, 25)
    s.finish()
    s = Stroke(lm, 7, diameter=10)
    s.move_to(25, -10)
    s.move_to(25, 60)
    s.finish()
    assert lm.labels.shape == (50, 50)
    assert set(np.unique(lm.labels)) == {0, 2, 7}
    assert lm.labels[25, 25] == 7  # the later stroke wins: one label per pixel


def test_protected_parts_are_not_painted_over() -> None:
    lm = blank(0, 0, 40, 40)
    lm.labels[:, :20] = 1
    s = Stroke(lm, 4, diameter=8, paint_over={0, 4})
    s.move_to(2, 20)
    s.move_to(38, 20)
    s.finish()
    assert (lm.labels[:, :20] == 1).all() and (lm.labels[18:22, 22:36] == 4).all()
    eraser = Stroke(lm, 0, diameter=50, paint_over={4})
    eraser.move_to(20, 20)
    eraser.finish()
    assert (lm.labels[:, :20] == 1).all() and (lm.labels[:, 20:] == 0).all()


def test_a_stroke_that_changes_nothing_gives_no_patch() -> None:
    lm = blank()
    lm.labels[:] = 6
    s = Stroke(lm, 6, diameter=30)
    s.move_to(100, 100)
    assert s.finish() is None
    assert Stroke(lm, 6, 5).finish() is None


def test_polygon_fills_pixel_centres_inside() -> None:
    lm = blank(0, 0, 100, 100)
    patch = fill_polygon(lm, [(10, 10), (30, 10), (30, 20), (10, 20)], 9)
    assert patch is not None and patch.rect == Rect(10, 10, 30, 20)
    assert (lm.labels[10:20, 10:30] == 9).all() and lm.labels.sum() == 9 * 200
    assert fill_polygon(lm, [(1, 1), (2, 2)], 9) is None


def test_flood_fill_fills_the_enclosed_region_only() -> None:
    lm = blank(5, 5, 60, 60)
    lm.labels[10:40, 10] = lm.labels[10:40, 40] = 1
    lm.labels[10, 10:41] = lm.labels[40, 10:41] = 1
    patch = flood_fill(lm, 5 + 25.5, 5 + 25.5, 12)
    assert patch is not None and patch.rect == Rect(16, 16, 45, 45)
    assert (lm.labels[11:40, 11:40] == 12).all() and lm.labels[0, 0] == 0
    assert flood_fill(lm, 30, 30, 12) is None  # already that part
    assert flood_fill(lm, 500, 500, 3) is None  # outside


def test_reframe_keeps_the_overlap_and_box256_masks_load_in_pixels() -> None:
    lm = blank(0, 0, 20, 20)
    lm.labels[:] = 3
    moved = lm.reframed(Rect(10, 10, 40, 40))
    assert moved.labels.shape == (30, 30)
    assert (moved.labels[:10, :10] == 3).all() and moved.labels[10:, :].sum() == 0
    box = Box(0, 0, 64, 32)
    stored = PartMask(np.full((256, 256), 14, np.uint8), frame=MaskFrame.BOX256)
    loaded = LabelMap.from_part_mask(stored, box, box_region(box, 640, 480))
    assert loaded.labels.shape == (32, 64) and (loaded.labels == 14).all()


@pytest.mark.parametrize("value", [-1, 15])
def test_labels_out_of_range_are_refused(value: int) -> None:
    with pytest.raises(ValueError):
        Stroke(blank(), value, 3)
