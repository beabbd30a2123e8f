"""A whole annotation in the real window, by mouse and keyboard: draw the box, paint the 14
parts, go to stage 2, pick points on the part views, and check what the project holds.

The person is a render of the rest body, so the true part of every pixel and the true surface
point behind it are known.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from annotator.dataset.records import AnswerStatus, ImageRecord, TaskState
from annotator.dataset.store import Project
from annotator.surface.atlas import load_atlas
from annotator.surface.points import SurfacePoints

from .conftest import click, drag, key
from .test_stage2_panel import best_view, render_body

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture(scope="module")
def body():
    return render_body(load_atlas())


@pytest.fixture()
def body_project(tmp_path: Path, body) -> Path:
    """A project with the body image and no person yet."""
    path = tmp_path / "proj"
    with Project.create(path) as project:
        cv2.imwrite(str(path / "body.png"), body.image[..., ::-1])
        h, w = body.labels.shape
        project.add_image(ImageRecord("body.png", "body.png", "0" * 64, w, h))
    return path


def paint_part_polygons(window, labels: np.ndarray) -> None:
    """Paint every part with the polygon tool: its outline, clicked corner by corner."""
    key(window, "P")
    for part in range(1, 15):
        mask = (labels == part).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        key(window, "1234567890YUIO"[part - 1])
        for contour in contours:
            if cv2.contourArea(contour) < 4:
                continue
            corners = cv2.approxPolyDP(contour, 0.7, True)[:, 0, :].astype(float) + 0.5
            for x, y in corners:
                click(window, x, y)
            key(window, "Return")


def test_a_whole_annotation_by_mouse_and_keyboard(window, body_project, body, qtbot) -> None:
    atlas = load_atlas()
    assert window.projects.open_path(body_project)
    qtbot.waitUntil(window.canvas.has_image, timeout=5000)
    # Stage 1: the box, then the parts.
    rows, cols = np.nonzero(body.labels)
    key(window, "N")
    drag(window, [(cols.min() - 3, rows.min() - 3), (cols.max() + 4, rows.max() + 4)])
    person_id = window.navigator.person_id
    assert person_id is not None
    paint_part_polygons(window, body.labels)
    painted = window.session.label_map(person_id)
    truth = body.labels[painted.region.slices()]
    agree = np.mean(painted.labels[truth > 0] == truth[truth > 0])
    assert agree > 0.9, f"only {agree:.0%} of the body painted with its true part"
    # Stage 2: points sampled in the painted parts, answered on the views.
    key(window, "Ctrl+Return")
    assert window.stage == 2
    panel = window.stage2.panel
    assert panel is not None
    qtbot.waitUntil(lambda: panel.session is not None and panel.current_views(), timeout=90000)
    session = panel.session
    assert len(session) > 20
    # Fresh settings: a pick goes on to the next point (the paper's one click per point).
    assert window.settings.advance_after_pick and panel.ui.advance.isChecked()
    for picked in range(4):
        assert session.index == picked
        x, y = session.position()
        marker = window.canvas.marker
        assert marker.isVisible() and (marker.pos().x(), marker.pos().y()) == (x, y)
        qtbot.waitUntil(lambda: panel.current_views() is not None, timeout=60000)
        true_point = body.truth(x, y)
        k, vx, vy = best_view(panel, true_point)
        view = panel.ui.grid.canvases[k]
        with qtbot.waitSignal(panel.answersChanged, timeout=5000):
            QTest.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.to_widget(vx, vy).toPoint())
    assert session.index == 4
    panel.ui.advance.setChecked(False)  # the user's choice is kept for the next start
    assert not window.settings.advance_after_pick
    remaining = int(session.counts()[2])
    with qtbot.waitSignal(panel.taskCompleted, timeout=30000):
        for _ in range(remaining):
            key(window, "X")  # not visible / unsure
    # What the project holds.
    window.session.flush()
    with Project.open(body_project, readonly=True) as project:
        person = project.person(person_id)
        assert person.state == TaskState.CORRESPONDED
        assert project.part_mask(person_id, window.session.annotator) is not None
        points = project.sample_points(person_id)
        answers = project.answers(person_id, window.session.annotator)
    assert points is not None and answers is not None and len(answers) == len(points)
    visible = np.flatnonzero(answers.status == AnswerStatus.ANSWERED)
    assert len(visible) == 4 and (answers.status != AnswerStatus.UNANSWERED).all()
    for index in visible:
        picked = SurfacePoints(answers.face[index : index + 1], answers.bary[index : index + 1])
        truth_point = body.truth(points.x[index], points.y[index])
        error = np.linalg.norm(atlas.positions(picked) - atlas.positions(truth_point))
        assert error < 0.01
    assert window.image_list.model.rows[0].state == "done"
