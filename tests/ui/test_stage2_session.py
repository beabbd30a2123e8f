"""The stage-2 walk without Qt: sampling on open, saving every answer, undo, task state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.dataset.records import (
    AnswerStatus,
    Box,
    ImageRecord,
    PartMask,
    Person,
    TaskState,
)
from annotator.dataset.store import Project
from annotator.surface.atlas import load_atlas
from annotator.surface.points import SurfacePoints
from annotator.ui.stage2.session import (
    Stage2Error,
    Stage2Session,
    run_sampling,
    sampling_job,
    store_points,
)

ANNOTATOR = "ann"


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


@pytest.fixture
def project(tmp_path: Path):
    project = Project.create(tmp_path / "proj")
    yield project
    project.close()


def add_person(project: Project, painted: bool = True) -> int:
    """A person whose mask holds a torso block and a head block (a handful of points)."""
    name = f"im{len(project.images())}.png"
    image_id = project.add_image(ImageRecord(name, name, "0" * 64, 200, 200))
    person_id = project.add_person(
        Person(image_id, Box(40, 20, 100, 160), state=TaskState.SEGMENTED)
    )
    if painted:
        labels = np.zeros((160, 100), np.uint8)
        labels[:30, 30:70] = 14  # head
        labels[40:150, 10:90] = 1  # torso
        project.save_part_mask(person_id, "painter", PartMask(labels, 40, 20))
    return person_id


def sampled_session(project: Project, atlas) -> Stage2Session:
    person_id = add_person(project)
    job = sampling_job(project, person_id)
    assert job is not None
    store_points(project, person_id, run_sampling(job))
    return Stage2Session(project, person_id, ANNOTATOR, atlas)


def surface_point(atlas, part: int, k: int = 0) -> SurfacePoints:
    face = np.flatnonzero(atlas.face_coarse == part)[k]
    return SurfacePoints(np.array([face]), np.array([[0.2, 0.3, 0.5]]))


def test_points_are_sampled_from_the_latest_mask_until_someone_answers(project, atlas):
    bare = add_person(project, painted=False)
    with pytest.raises(Stage2Error, match="stage 1"):
        sampling_job(project, bare)
    session = sampled_session(project, atlas)
    points = project.sample_points(session.person_id)
    assert points is not None and set(points.part) == {1, 14}
    assert np.all(points.x >= 40) and np.all(points.y >= 20)  # image pixels
    job = sampling_job(project, session.person_id)
    assert job is not None  # nobody answered yet: sampled again, same points
    store_points(project, session.person_id, run_sampling(job))
    again = project.sample_points(session.person_id)
    assert again is not None and np.array_equal(again.x, points.x)
    session.mark_not_visible()
    assert sampling_job(project, session.person_id) is None  # settled


def test_walk_moves_and_stops_at_the_ends(project, atlas):
    session = sampled_session(project, atlas)
    n = len(session)
    assert n > 3 and session.index == 0
    assert not session.previous() and session.index == 0
    session.go(n - 1)
    assert not session.next() and session.index == n - 1
    assert session.part(0) == 1 and session.part(n - 1) == 14  # task order: by part
    with pytest.raises(IndexError):
        session.go(n)


def test_every_answer_is_saved_at_once_with_its_surface_point(project, atlas, tmp_path):
    session = sampled_session(project, atlas)
    point = surface_point(atlas, 1)
    session.pick(point)
    session.next()
    session.mark_not_visible()
    # A second connection sees the answers without any explicit save or close.
    with Project.open(tmp_path / "proj", readonly=True) as reader:
        answers = reader.answers(session.person_id, ANNOTATOR)
    assert answers is not None
    assert answers.status[0] == AnswerStatus.ANSWERED and answers.face[0] == point.face[0]
    assert np.allclose(answers.bary[0], point.bary[0])
    i, u, v = atlas.to_iuv(point)
    assert (
        answers.i[0] == i[0] and np.isclose(answers.u[0], u[0]) and np.isclose(answers.v[0], v[0])
    )
    assert answers.status[1] == AnswerStatus.NOT_VISIBLE
    assert session.describe(0).startswith("torso") and "U " in session.describe(0)
    assert session.describe(1) == "not visible / unsure"
    # A new session resumes at the first point still to do.
    assert Stage2Session(project, session.person_id, ANNOTATOR, atlas).index == 2


def test_undo_puts_back_the_previous_answer(project, atlas):
    session = sampled_session(project, atlas)
    first, second = surface_point(atlas, 1, 0), surface_point(atlas, 1, 5)
    session.pick(first)
    stamp = session.answers.time[0]
    session.pick(second)
    session.next()
    session.mark_not_visible()
    assert session.undo() == 1 and session.index == 1
    assert session.status(1) == AnswerStatus.UNANSWERED
    assert session.undo() == 0
    saved = project.answers(session.person_id, ANNOTATOR)
    assert saved is not None and saved.face[0] == first.face[0] and saved.time[0] == stamp
    assert session.undo() == 0
    saved = project.answers(session.person_id, ANNOTATOR)
    assert saved is not None and saved.status[0] == AnswerStatus.UNANSWERED
    assert session.undo() is None and not session.can_undo


def test_completing_sets_the_task_state_and_undo_reopens_it(project, atlas):
    session = sampled_session(project, atlas)
    completed = []
    for k in range(len(session)):
        session.go(k)
        if session.part() == 14:
            completed.append(session.pick(surface_point(atlas, 14, k)))
        else:
            completed.append(session.mark_not_visible())
    assert completed == [False] * (len(session) - 1) + [True]
    assert session.complete and session.counts()[2] == 0
    person = project.person(session.person_id)
    assert person.state == TaskState.CORRESPONDED
    assert project.state_history(session.person_id)[-1][1] == ANNOTATOR
    assert not session.pick(surface_point(atlas, 14, 1))  # changing an answer: still complete
    session.undo()
    session.undo()
    assert not session.complete
    assert project.person(session.person_id).state == TaskState.SEGMENTED


def test_next_todo_wraps_and_others_stay_on_the_part(project, atlas):
    session = sampled_session(project, atlas)
    heads = [k for k in range(len(session)) if session.part(k) == 14]
    session.go(heads[0])
    session.pick(surface_point(atlas, 14, 0))
    session.go(heads[1])
    assert len(session.others_in_part()) == 1  # the other head point, not the current one
    session.pick(surface_point(atlas, 14, 1))
    assert len(session.others_in_part()) == 1
    assert len(session.others_in_part(1)) == 0
    session.go(len(session) - 1)
    assert session.next_todo() and session.index == 0  # wrapped around
