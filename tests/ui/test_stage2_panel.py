"""The stage-2 panel on a real project: a person rendered from the body, real part views.

The person's image and part mask come from a render of the rest body, so every pixel's true
surface point is known: a click where that point shows on a part view must give it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from annotator.dataset.records import (
    AnswerStatus,
    Box,
    ImageRecord,
    PartMask,
    Person,
    TaskState,
)
from annotator.dataset.store import Project
from annotator.surface.atlas import Atlas, load_atlas
from annotator.surface.points import SurfacePoints
from annotator.surface.render import Camera, ColorMesh, Renderer

pytestmark = [pytest.mark.gui, pytest.mark.slow]

ANNOTATOR = "tester"
WIDTH, HEIGHT = 240, 400


@dataclass
class BodyImage:
    """A render of the rest body and what every pixel of it is."""

    image: np.ndarray  # [H, W, 3] uint8
    labels: np.ndarray  # [H, W] coarse part, 0 background
    face: np.ndarray  # [H, W] atlas face, -1 background
    bary: np.ndarray  # [H, W, 3]

    def truth(self, x: float, y: float) -> SurfacePoints:
        """The surface point seen at image position (x, y)."""
        row, col = int(y), int(x)
        assert self.face[row, col] >= 0
        return SurfacePoints(self.face[row : row + 1, col], self.bary[row, col][None])


def render_body(atlas: Atlas, azimuth: float = 20.0) -> BodyImage:
    """The whole rest body seen from the front, a little to its left."""
    vertices, faces = atlas.rest_vertices, atlas.faces
    left, up, forward = atlas.frame
    centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    a = np.radians(azimuth)
    direction = np.cos(a) * forward + np.sin(a) * left
    camera = Camera.look_at(centre + 4.2 * direction, centre, up, np.radians(28), WIDTH, HEIGHT)
    renderer = Renderer(WIDTH, HEIGHT)
    try:
        ids = renderer.render_ids([(vertices, faces)], camera)
        skin = np.tile(np.array([205, 170, 150], np.uint8), (len(vertices), 1))
        image, _ = renderer.render_color([ColorMesh(vertices, faces, vertex_colors=skin)], camera)
    finally:
        renderer.close()
    labels = np.where(ids.face >= 0, atlas.face_coarse[np.maximum(ids.face, 0)], 0)
    return BodyImage(image, labels.astype(np.uint8), ids.face, ids.bary.astype(np.float64))


def make_project(directory: Path, body: BodyImage) -> tuple[Project, int]:
    """A project holding the body image with one segmented person painted from the render."""
    project = Project.create(directory)
    path = directory / "body.png"
    cv2.imwrite(str(path), body.image[..., ::-1])
    image_id = project.add_image(ImageRecord("body.png", "body.png", "0" * 64, WIDTH, HEIGHT))
    rows, cols = np.nonzero(body.labels)
    box = Box(cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min())
    person_id = project.add_person(Person(image_id, box, state=TaskState.SEGMENTED))
    project.save_part_mask(person_id, "painter", PartMask(body.labels))
    return project, person_id


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return load_atlas()


@pytest.fixture(scope="module")
def body(atlas) -> BodyImage:
    return render_body(atlas)


@pytest.fixture
def project(tmp_path, body):
    project, person_id = make_project(tmp_path / "proj", body)
    project.person_id = person_id  # type: ignore[attr-defined]
    yield project
    project.close()


@pytest.fixture
def open_panel(qtbot, project):
    """Makes panels on the project (shown, 1400 x 900) and stops their threads afterwards."""
    from annotator.ui.stage2.panel import Stage2Panel

    panels = []

    def make(person_id: int | None = None) -> Stage2Panel:
        # These tests look at the pick on the point it answers: the walk stays there.
        panel = Stage2Panel(project, ANNOTATOR, advance_after_pick=False)
        qtbot.addWidget(panel)
        panel.resize(1400, 900)
        panel.show()
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def start(qtbot, panel, project, body) -> None:
    """Open the person's task and wait for the views of its first part."""
    with qtbot.waitSignal(panel.viewsShown, timeout=60000):
        panel.set_task(project.person_id, body.image)
    assert panel.session is not None


def best_view(panel, truth: SurfacePoints) -> tuple[int, float, float]:
    """The view where the true point shows most clearly: visible, nearest the centre."""
    best = None
    for k, view in enumerate(panel.current_views()):
        xy, visible = view.project(truth)
        if visible[0]:
            # The pixel must see this very spot (not an edge between two surfaces).
            picked = view.pick(*xy[0])
            off = np.hypot(*(xy[0] - np.array(view.image.shape[1::-1]) / 2))
            if picked is not None and (best is None or off < best[0]):
                best = (off, k, float(xy[0, 0]), float(xy[0, 1]))
    assert best is not None, "the true point shows on none of the six views"
    return best[1], best[2], best[3]


def marker_pixel(canvas) -> tuple[int, int, int]:
    """Colour on screen at the centre of a view's current-answer marker."""
    xy, _ = canvas.current_marker
    pos = canvas.to_widget(float(xy[0, 0]), float(xy[0, 1])).toPoint()
    color = canvas.grab().toImage().pixelColor(pos)
    return color.red(), color.green(), color.blue()


def saved(project) -> object:
    answers = project.answers(project.person_id, ANNOTATOR)
    assert answers is not None
    return answers


def test_a_click_where_the_true_point_shows_saves_that_point(qtbot, open_panel, project, body):
    panel = open_panel()
    atlas = load_atlas()
    moves = []
    panel.currentPointChanged.connect(lambda x, y: moves.append((x, y)))
    panel.set_task(project.person_id, body.image)
    assert "Sampling" in panel.ui.grid.message  # sampled off the UI thread
    qtbot.waitSignal(panel.viewsShown, timeout=60000).wait()
    session = panel.session
    points = project.sample_points(project.person_id)
    assert points is not None and len(points) > 20 and len(session) == len(points)
    assert moves[-1] == session.position()
    for _ in range(3):
        truth = body.truth(*session.position())
        k, x, y = best_view(panel, truth)
        with (
            qtbot.waitSignal(panel.markersPainted, timeout=10000),
            qtbot.waitSignal(panel.answersChanged, timeout=1000),
        ):
            panel.click_view(k, x, y)
        index = session.index
        answers = saved(project)
        assert answers.status[index] == AnswerStatus.ANSWERED
        picked = SurfacePoints(answers.face[index : index + 1], answers.bary[index : index + 1])
        error = np.linalg.norm(atlas.positions(picked) - atlas.positions(truth))
        assert error < 0.004, f"picked {error * 1000:.1f} mm from the true point"
        assert answers.i[index] == atlas.to_iuv(truth)[0][0]
        assert f"(I {answers.i[index]})" in panel.ui.answer.text()
        # Marked on all six views: a red dot where visible (a ring elsewhere).
        canvases = panel.ui.grid.canvases
        assert all(len(c.current_marker[0]) == 1 for c in canvases)
        assert canvases[k].current_marker[1][0]
        red, green, blue = marker_pixel(canvases[k])
        assert red > 200 and green < 100 and blue < 100
        panel.next_point()
    # The person's three answers on this part show, small, next to the new current point.
    assert panel.session.picked() is None
    assert len(panel.ui.grid.canvases[0].other_markers[0]) == 3


def test_keys_walk_mark_not_visible_and_undo(qtbot, open_panel, project, body):
    panel = open_panel()
    panel.activateWindow()
    start(qtbot, panel, project, body)
    session = panel.session
    qtbot.keyClick(panel, Qt.Key.Key_N)
    qtbot.keyClick(panel, Qt.Key.Key_Space)
    assert session.index == 2
    qtbot.keyClick(panel, Qt.Key.Key_P)
    qtbot.keyClick(panel, Qt.Key.Key_Backspace)
    assert session.index == 0
    qtbot.keyClick(panel, Qt.Key.Key_X)  # not visible, then on to the next point
    assert saved(project).status[0] == AnswerStatus.NOT_VISIBLE and session.index == 1
    k, x, y = best_view(panel, body.truth(*session.position()))
    panel.click_view(k, x, y)
    assert saved(project).status[1] == AnswerStatus.ANSWERED
    with qtbot.waitSignal(panel.answersChanged, timeout=1000):
        qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert saved(project).status[1] == AnswerStatus.UNANSWERED
    assert session.index == 1 and not len(panel.ui.grid.canvases[0].current_marker[0])
    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert saved(project).status[0] == AnswerStatus.UNANSWERED and session.index == 0
    qtbot.keyClick(panel, Qt.Key.Key_O)
    assert not panel.show_others and not panel.ui.show_others.isChecked()
    qtbot.keyClick(panel, Qt.Key.Key_T)  # next point to do
    assert session.index == 1


def test_reopening_the_project_shows_the_saved_answers(qtbot, open_panel, project, body):
    panel = open_panel()
    start(qtbot, panel, project, body)
    k, x, y = best_view(panel, body.truth(*panel.session.position()))
    panel.click_view(k, x, y)
    panel.next_point()
    panel.mark_not_visible()
    before = saved(project)
    panel.shutdown()
    # As after a crash: a fresh connection, a fresh panel.
    directory = project.directory
    project.close()
    reopened = Project.open(directory)
    reopened.person_id = project.person_id  # type: ignore[attr-defined]
    try:
        from annotator.ui.stage2.panel import Stage2Panel

        again = Stage2Panel(reopened, ANNOTATOR, advance_after_pick=False)
        qtbot.addWidget(again)
        again.resize(1400, 900)
        again.show()
        start(qtbot, again, reopened, body)
        session = again.session
        assert session.index == 2  # resumes at the first point still to do
        assert np.array_equal(session.statuses, before.status)
        again.go_to(0)
        assert "U " in again.ui.answer.text()
        assert all(len(c.current_marker[0]) == 1 for c in again.ui.grid.canvases)
        assert again.ui.counts.text().startswith("1 answered · 1 not visible")
        again.shutdown()
    finally:
        reopened.close()


def test_completing_every_point_emits_task_completed(qtbot, open_panel, project, body):
    panel = open_panel()
    start(qtbot, panel, project, body)
    session = panel.session
    completed = []
    panel.taskCompleted.connect(completed.append)
    last = len(session) - 1
    for _ in range(last):
        panel.mark_not_visible()
    assert session.index == last and not completed
    if panel.current_views() is None:
        qtbot.waitSignal(panel.viewsShown, timeout=60000).wait()
    k, x, y = best_view(panel, body.truth(*session.position()))
    with qtbot.waitSignal(panel.taskCompleted, timeout=1000):
        panel.click_view(k, x, y)
    assert completed == [project.person_id]
    assert project.person(project.person_id).state == TaskState.CORRESPONDED
    panel.mark_not_visible()  # changing an answer of a finished task: no second signal
    assert completed == [project.person_id]


def test_the_free_view_turns_and_picks(qtbot, open_panel, project, body):
    panel = open_panel()
    start(qtbot, panel, project, body)
    rotate = panel.ui.rotate
    qtbot.waitUntil(lambda: rotate.view is not None, timeout=20000)
    azimuth = rotate.azimuth
    centre = rotate.rect().center()
    qtbot.mousePress(rotate, Qt.MouseButton.LeftButton, pos=centre)
    for dx in (10, 40, 80):
        qtbot.mouseMove(rotate, centre + QPoint(dx, 0))
    qtbot.mouseRelease(rotate, Qt.MouseButton.LeftButton, pos=centre + QPoint(80, 0))
    assert rotate.azimuth == pytest.approx((azimuth - 40) % 360)
    qtbot.waitUntil(
        lambda: (
            rotate.view is not None
            and rotate.view.azimuth == pytest.approx(rotate.azimuth)
            and (rotate.view.face >= 0).any()
        ),
        timeout=20000,
    )
    view = rotate.view
    rows, cols = np.nonzero(view.face >= 0)
    k = len(rows) // 2
    with qtbot.waitSignal(panel.answersChanged, timeout=1000):
        rotate.click(cols[k] + 0.5, rows[k] + 0.5)
    index = panel.session.index
    assert saved(project).face[index] == view.face[rows[k], cols[k]]
    assert len(rotate.current_marker[0]) == 1


def test_clicks_that_miss_the_outside_of_the_body_say_why(qtbot, open_panel, project, body):
    panel = open_panel()
    start(qtbot, panel, project, body)
    assert panel.session.part() == 1  # the torso: open at the neck and the arm holes
    messages = []
    panel.statusMessage.connect(messages.append)
    panel.click_view(0, 2.0, 2.0)
    assert "missed the body" in messages[-1]
    for k, view in enumerate(panel.current_views()):
        rows, cols = np.nonzero(view.face >= 0)
        faces = SurfacePoints(view.face[rows, cols], np.full((len(rows), 3), 1 / 3))
        inside = np.flatnonzero(~view.facing(faces))
        if len(inside):
            j = inside[len(inside) // 2]
            panel.click_view(k, cols[j] + 0.5, rows[j] + 0.5)
            assert "inside of the body" in messages[-1]
            break
    else:
        pytest.fail("no view of the torso shows its inside")
    assert project.answers(project.person_id, ANNOTATOR) is None  # nothing saved


def test_a_new_part_shows_progress_until_its_views_arrive(qtbot, open_panel, project, body):
    panel = open_panel()
    start(qtbot, panel, project, body)
    session = panel.session
    other = int(np.flatnonzero(session.points.part != session.part())[-1])
    with qtbot.waitSignal(panel.viewsShown, timeout=60000) as shown:
        panel.go_to(other)
        assert "Rendering the six views of the" in panel.ui.grid.message
        assert panel.current_views() is None  # the UI thread did not wait for them
    assert shown.args == [session.part(other)] and panel.ui.grid.message == ""


def test_a_task_that_cannot_start_says_why(qtbot, open_panel, project):
    panel = open_panel()
    image_id = project.images()[0].id
    bare = project.add_person(Person(image_id, Box(1, 1, 20, 20)))
    moves = []
    panel.currentPointChanged.connect(lambda x, y: moves.append((x, y)))
    panel.set_task(bare, None)
    assert "stage 1" in panel.ui.title.text()
    assert moves[-1] == (-1.0, -1.0)
    empty = project.add_person(Person(image_id, Box(1, 1, 20, 20)))
    project.save_part_mask(empty, "painter", PartMask(np.zeros((20, 20), np.uint8)))
    with qtbot.waitSignal(panel.statusMessage, timeout=10000):
        panel.set_task(empty, None)
    qtbot.waitUntil(lambda: "No points" in panel.ui.title.text(), timeout=10000)
    panel.set_task(None, None)
    assert panel.session is None and moves[-1] == (-1.0, -1.0)


def test_a_missing_body_surface_is_reported_not_fatal(qtbot, tmp_path, data_dir):
    from annotator.ui.stage2.panel import Stage2Panel

    project = Project.create(tmp_path / "smpl", body="smpl")  # no SMPL atlas was built
    panel = Stage2Panel(project, ANNOTATOR)
    qtbot.addWidget(panel)
    try:
        qtbot.waitUntil(lambda: panel.last_error != "", timeout=20000)
        assert "body surface" in panel.last_error and "smpl" in panel.last_error
    finally:
        panel.shutdown()
        project.close()


def test_the_views_grid_takes_the_shape_that_draws_views_largest(qtbot):
    from annotator.ui.stage2.views_grid import ViewsGrid, best_columns

    assert best_columns(1200, 250) == 6  # a wide strip: one row
    assert best_columns(900, 600) == 3  # landscape: 3 x 2
    assert best_columns(500, 650) == 2  # portrait: 2 x 3
    assert best_columns(200, 1200) == 1  # a tall strip: one column
    grid = ViewsGrid()
    qtbot.addWidget(grid)
    grid.resize(900, 600)
    grid.show()
    qtbot.waitUntil(lambda: grid.columns == 3)
    grid.resize(500, 650)
    qtbot.waitUntil(lambda: grid.columns == 2)
    qtbot.waitUntil(lambda: grid.canvases[0].width() > 220)  # 3 x 2 gave 164 px at this width
    assert {c.width() for c in grid.canvases} == {grid.canvases[0].width()}


def test_far_side_joint_labels_are_faint(qtbot, open_panel, project, body):
    from annotator.ui.stage2.view_canvas import near_side

    depth = np.array([2.0, 2.3, 2.02, 2.01])
    assert near_side(["left_hip", "right_hip", "neck", "left_knee"], depth).tolist() == [
        True,
        False,  # 30 cm behind its twin
        True,  # no twin
        True,  # no twin in the list
    ]
    panel = open_panel()
    start(qtbot, panel, project, body)
    assert panel.session.part() == 1  # torso: shoulders and hips labelled
    near = [set(c.landmarks_near) for c in panel.ui.grid.canvases]
    both = {"left_shoulder", "right_shoulder", "left_hip", "right_hip"}
    left, right = {"left_shoulder", "left_hip"}, {"right_shoulder", "right_hip"}
    # front, front-left, back-left, back, back-right, front-right: the person's own sides
    assert near == [both, left, left, both, right, right]


def test_a_save_the_project_refuses_is_reported_and_a_bug_is_raised(
    qtbot, open_panel, project, body
):
    from annotator.ui.stage2.panel import Stage2Panel

    first = open_panel()
    start(qtbot, first, project, body)  # samples and stores the points
    first.shutdown()
    readonly = Project.open(project.directory, readonly=True)
    readonly.person_id = project.person_id  # type: ignore[attr-defined]
    panel = Stage2Panel(readonly, ANNOTATOR, advance_after_pick=False)
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    try:
        start(qtbot, panel, readonly, body)
        k, x, y = best_view(panel, body.truth(*panel.session.position()))
        panel.click_view(k, x, y)  # reported, not raised: the app goes on
        assert "read-only" in panel.last_error and panel.session.index == 0
        assert project.answers(project.person_id, ANNOTATOR) is None
        # A bug is not turned into None: it reaches the caller (or the app's error hook).
        with pytest.raises(IndexError):
            panel.go_to(len(panel.session) + 5)
    finally:
        panel.shutdown()
        readonly.close()
