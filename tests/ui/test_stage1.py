"""Stage 1 in the real window: painting, saving as strokes end, undo, boxes, keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.dataset.records import TaskState
from annotator.dataset.store import Project

from .conftest import click, drag, key, saved

pytestmark = pytest.mark.gui


def stored_labels(project_path: Path, person_id: int) -> np.ndarray:
    """The person's saved labels placed in a 320 x 240 image (read by a second connection)."""
    with Project.open(project_path, readonly=True) as project:
        mask = project.part_mask(person_id)
    out = np.zeros((240, 320), np.uint8)
    if mask is not None and mask.labels.size:
        h, w = mask.labels.shape
        out[mask.y0 : mask.y0 + h, mask.x0 : mask.x0 + w] = mask.labels
    return out


def test_opens_on_the_first_image_with_position_in_title(opened) -> None:
    assert "[1/3]" in opened.windowTitle() and "img00.png" in opened.windowTitle()
    assert opened.navigator.person_id is not None
    assert "Annotator:" in opened.status.annotator.text()


def test_each_stroke_is_saved_as_it_ends(opened, project_path, qtbot) -> None:
    pid = opened.navigator.person_id
    key(opened, "3")  # left hand
    opened.stage1.set_brush_size(10)
    drag(opened, [(150, 60), (160, 80), (170, 100)])
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[80, 160] == 3 and set(np.unique(labels)) == {0, 3}
    key(opened, "Y")  # part 11
    drag(opened, [(150, 150), (170, 150)])
    saved(opened, qtbot)
    assert stored_labels(project_path, pid)[150, 160] == 11


def test_painting_is_clipped_to_the_person_box(opened, project_path, qtbot) -> None:
    pid = opened.navigator.person_id
    opened.stage1.set_brush_size(30)
    drag(opened, [(130, 120), (200, 120)])  # the box spans x 120..200
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[120, 125].item() == 1 and labels[120, 119].item() == 0
    assert labels[:, :120].sum() == 0 and labels[:, 200:].sum() == 0


def test_undo_and_redo_one_step_per_stroke_across_image_switches(
    opened, project_path, qtbot
) -> None:
    pid = opened.navigator.person_id
    opened.stage1.set_brush_size(8)
    drag(opened, [(140, 50), (180, 50)])
    drag(opened, [(140, 90), (180, 90)])
    key(opened, "D")
    qtbot.waitUntil(lambda: "[2/3]" in opened.windowTitle())
    key(opened, "A")
    qtbot.waitUntil(lambda: "[1/3]" in opened.windowTitle())
    key(opened, "Ctrl+Z")
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[50, 160] == 1 and labels[90, 160] == 0
    key(opened, "Ctrl+Z")
    saved(opened, qtbot)
    assert stored_labels(project_path, pid).sum() == 0
    key(opened, "Ctrl+Shift+Z")
    key(opened, "Ctrl+Shift+Z")
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[50, 160] == 1 and labels[90, 160] == 1


def test_eraser_polygon_and_flood_fill(opened, project_path, qtbot) -> None:
    pid = opened.navigator.person_id
    key(opened, "E")
    key(opened, "5")
    assert opened.stage1.tool == "brush"  # picking a part leaves the eraser
    key(opened, "P")
    for x, y in [(130, 40), (190, 40), (190, 100), (130, 100)]:
        click(opened, x, y)
    key(opened, "Return")
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert (labels[45:95, 135:185] == 5).all()
    key(opened, "E")
    opened.stage1.set_brush_size(6)
    drag(opened, [(125, 70), (195, 70)])
    key(opened, "G")
    key(opened, "2")
    key(opened, "G")
    click(opened, 160, 50)  # the upper half of the cut square
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[50, 160] == 2 and labels[90, 160] == 5 and labels[70, 160] == 2 - 2
    assert labels[150, 160] == 0  # the fill stayed inside the cut region


def test_protect_keeps_painted_parts(opened, project_path, qtbot) -> None:
    pid = opened.navigator.person_id
    opened.stage1.set_brush_size(20)
    drag(opened, [(140, 100), (180, 100)])
    key(opened, "L")
    assert opened.stage1.protect
    key(opened, "4")
    drag(opened, [(160, 80), (160, 130)])
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[100, 160] == 1 and labels[125, 160] == 4


def test_box_draw_move_delete_and_undo(opened, project_path, qtbot) -> None:
    key(opened, "D")
    key(opened, "D")
    qtbot.waitUntil(lambda: "[3/3]" in opened.windowTitle() and opened.canvas.has_image())
    assert opened.navigator.person_id is None
    key(opened, "N")
    drag(opened, [(20, 20), (60, 50), (100, 200)])
    pid = opened.navigator.person_id
    assert pid is not None
    with Project.open(project_path, readonly=True) as project:
        box = project.person(pid).box
    assert (box.x, box.y, box.w, box.h) == (20, 20, 80, 180)
    drag(opened, [(50, 100), (60, 110)])  # move by (10, 10)
    with Project.open(project_path, readonly=True) as project:
        assert project.person(pid).box.as_list() == [30, 30, 80, 180]
    drag(opened, [(110, 210), (150, 230)])  # bottom-right handle
    with Project.open(project_path, readonly=True) as project:
        assert project.person(pid).box.as_list() == [30, 30, 120, 200]
    key(opened, "Del")
    with Project.open(project_path, readonly=True) as project:
        assert project.persons(image_id=3) == []
    key(opened, "Ctrl+Z")
    with Project.open(project_path, readonly=True) as project:
        assert project.person(pid).box.as_list() == [30, 30, 120, 200]
    for _ in range(3):
        key(opened, "Ctrl+Z")
    with Project.open(project_path, readonly=True) as project:
        assert project.persons(image_id=3) == []


def test_box_edit_keeps_paint_inside_the_new_box(opened, project_path, qtbot) -> None:
    pid = opened.navigator.person_id
    opened.stage1.set_brush_size(12)
    drag(opened, [(130, 40), (190, 40)])
    key(opened, "N")
    drag(opened, [(120, 24), (160, 24)])  # top-left handle: the box now starts at x = 160
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[40, 150] == 0 and labels[40, 170] == 1
    key(opened, "Ctrl+Z")
    saved(opened, qtbot)
    assert stored_labels(project_path, pid)[40, 150] == 1


def test_parts_done_marks_segmented_and_filters_follow(opened, project_path, qtbot) -> None:
    pid = opened.navigator.person_id
    drag(opened, [(150, 60), (170, 60)])
    key(opened, "Ctrl+Return")
    assert opened.stage == 2
    with Project.open(project_path, readonly=True) as project:
        assert project.person(pid).state == TaskState.SEGMENTED
        assert project.state_history(pid)[-1][1] == opened.session.annotator
    opened.image_list.set_filter("segmented")
    assert opened.image_list.ordered_ids() == [1]
    opened.image_list.set_filter("to do")
    assert opened.image_list.ordered_ids() == [2, 3]
    opened.image_list.set_filter("gold")
    assert opened.image_list.ordered_ids() == [1]
    key(opened, "F1")
    assert opened.stage == 1 and opened.canvas.tool is not None


def test_clicking_another_box_selects_that_person(opened, qtbot) -> None:
    key(opened, "N")
    drag(opened, [(10, 10), (80, 120)])
    new = opened.navigator.person_id
    key(opened, "B")
    key(opened, "Tab")
    assert opened.navigator.person_id != new
    click(opened, 40, 60)
    assert opened.navigator.person_id == new
    assert opened.session.label_map(new).any() is False


def test_keys_change_part_brush_and_opacity(opened) -> None:
    key(opened, "O")
    assert opened.stage1.part == 14
    key(opened, "0")
    assert opened.stage1.part == 10
    size = opened.stage1.brush_size
    key(opened, "]")
    assert opened.stage1.brush_size > size
    key(opened, "[")
    key(opened, "[")
    assert opened.stage1.brush_size < size
    opacity = opened.overlays.opacity
    key(opened, ",")
    assert opened.overlays.opacity == pytest.approx(opacity - 0.1, abs=0.011)
    key(opened, "M")
    assert not opened.overlays.shown


def test_zoom_and_pan_keep_the_point_under_the_pointer(opened) -> None:
    canvas = opened.canvas
    opened.acts.fit.trigger()
    anchor = canvas.view_pos(canvas.image_pos(canvas.viewport().rect().center()))
    target = canvas.image_pos(anchor)
    canvas.zoom_by(4.0, anchor)
    after = canvas.image_pos(anchor)
    assert abs(after.x() - target.x()) < 0.5 and abs(after.y() - target.y()) < 0.5
    canvas.pan_by(30, 0)
    assert canvas.image_pos(anchor).x() == pytest.approx(target.x() - 30 / canvas.zoom(), abs=0.5)
    canvas.set_zoom(8.0)
    assert canvas.zoom() == pytest.approx(8.0)


def test_arrow_keys_in_the_image_list_change_the_image(opened, qtbot) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    table = opened.image_list.table
    table.setFocus()
    QTest.keyClick(table, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: "[2/3]" in opened.windowTitle())
    assert opened.navigator.image_id == 2


def test_selecting_a_person_off_screen_brings_its_box_into_view(opened) -> None:
    canvas = opened.canvas
    canvas.set_zoom(12.0)
    canvas.centerOn(10, 10)
    opened.navigator.set_person(None)
    opened.go_to_person(1)
    box = opened.boxes.item(1).rect
    assert canvas.mapToScene(canvas.viewport().rect()).boundingRect().contains(box)


def test_a_finished_image_stays_listed_until_the_filter_changes(opened, qtbot) -> None:
    opened.image_list.set_filter("to do")
    assert opened.image_list.ordered_ids() == [1, 2, 3]
    drag(opened, [(150, 60), (170, 60)])
    key(opened, "Ctrl+Return")  # image 1 is now segmented
    assert opened.image_list.ordered_ids() == [1, 2, 3]
    assert opened.image_list.model.row(1).state == "segmented"
    key(opened, "D")
    assert opened.navigator.image_id == 2
    opened.image_list.set_filter("to do")
    assert opened.image_list.ordered_ids() == [2, 3]


def test_flood_fill_leaves_protected_parts_alone(opened, project_path, qtbot) -> None:
    pid = opened.navigator.person_id
    opened.stage1.set_brush_size(20)
    drag(opened, [(140, 100), (180, 100)])  # torso
    key(opened, "L")
    key(opened, "G")
    key(opened, "3")
    click(opened, 160, 100)  # on the torso: protected
    saved(opened, qtbot)
    assert stored_labels(project_path, pid)[100, 160] == 1
    click(opened, 160, 40)  # on unpainted pixels: filled
    saved(opened, qtbot)
    labels = stored_labels(project_path, pid)
    assert labels[40, 160] == 3 and labels[100, 160] == 1
