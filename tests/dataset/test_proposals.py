"""Machine-made proposals on real project files: stored beside people's work, never over it;
accepted and rejected; counted by stats; left out of export on request; schema upgrade."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from annotator.dataset import schema
from annotator.dataset.densepose_io import export_densepose
from annotator.dataset.records import (
    Answers,
    AnswerStatus,
    Box,
    ImageRecord,
    PartMask,
    Person,
    PersonProposal,
    ProposalStatus,
    SamplePoints,
    TaskState,
)
from annotator.dataset.store import Project, project_file

MODEL = "model:tiny@10"


def _project(tmp_path: Path) -> tuple[Project, int, int]:
    project = Project.create(tmp_path / "p")
    image = project.add_image(ImageRecord("a.jpg", "a.jpg", "0" * 64, 200, 200))
    person = project.add_person(Person(image, Box(20, 20, 80, 120)))
    return project, image, person


def _mask(x0: int = 20, y0: int = 20) -> PartMask:
    labels = np.zeros((120, 80), np.uint8)
    labels[:60] = 1  # torso
    labels[60:] = 14  # head
    return PartMask(labels, x0, y0)


def _points() -> SamplePoints:
    return SamplePoints([30.5, 60.5, 50.5], [30.5, 40.5, 120.5], [1, 1, 14])


def _answers(name: str = MODEL, n: int = 3) -> Answers:
    a = Answers.blank(name, n)
    a.status[:] = AnswerStatus.ANSWERED
    a.i[:] = 2
    a.u[:] = 0.25
    a.v[:] = 0.75
    a.time[:] = 1.0
    return a


def _proposal(image: int, person: int | None, box: Box | None = None) -> PersonProposal:
    return PersonProposal(
        image_id=image,
        box=box or Box(20, 20, 80, 120),
        score=0.9,
        person_id=person,
        mask=_mask(),
        points=_points(),
        answers=_answers(),
    )


def test_a_proposal_is_the_models_work_beside_peoples(tmp_path: Path) -> None:
    project, image, person = _project(tmp_path)
    assert project.add_proposals(MODEL, [_proposal(image, person)], checkpoint="/r/m.pth") == [
        person
    ]
    (stored,) = project.proposals(person_id=person)
    assert (stored.model, stored.status, stored.made_mask, stored.made_answers) == (
        MODEL,
        ProposalStatus.PROPOSED,
        True,
        3,
    )
    assert not stored.made_box and stored.score == pytest.approx(0.9)
    assert project.part_mask(person, MODEL) is not None
    assert project.answers(person, MODEL).answered.all()
    assert project.person(person).state == TaskState.TODO  # a proposal moves no task
    s = project.stats()
    assert s.proposals[ProposalStatus.PROPOSED] == 1
    assert (s.machine_masks, s.machine_answers, s.confirmed_machine_answers) == (1, 3, 0)
    # Pre-annotating again leaves a person with a pending proposal alone.
    assert project.add_proposals(MODEL, [_proposal(image, person)]) == []
    with pytest.raises(ValueError, match="model:"):
        project.add_proposals("alice", [_proposal(image, person)])


def test_human_work_is_never_overwritten(tmp_path: Path) -> None:
    project, image, person = _project(tmp_path)
    project.save_part_mask(person, "alice", _mask())
    project.set_sample_points(person, _points())
    project.save_answer(person, 1, "alice", iuv=(5, 0.5, 0.5))
    project.add_proposals(MODEL, [_proposal(image, person)])
    (stored,) = project.proposals(person_id=person)
    assert not stored.made_mask and stored.made_answers == 2  # point 1 is alice's
    assert project.part_mask(person).annotator == "alice"
    machine = project.answers(person, MODEL)
    assert machine.status.tolist() == [1, 0, 1]
    alice = project.answers(person, "alice")
    assert alice.i[1] == 5 and alice.status.tolist() == [0, 1, 0]


def test_points_that_changed_get_no_machine_answers(tmp_path: Path) -> None:
    project, image, person = _project(tmp_path)
    project.set_sample_points(person, SamplePoints([40.5], [40.5], [1]))
    project.add_proposals(MODEL, [_proposal(image, person)])
    (stored,) = project.proposals(person_id=person)
    assert stored.made_answers == 0 and stored.made_mask
    assert project.answers(person, MODEL) is None


def test_accept_confirms_and_moves_the_task_on(tmp_path: Path) -> None:
    project, image, person = _project(tmp_path)
    project.add_proposals(MODEL, [_proposal(image, person)])
    assert project.accept_proposals(person, "bob") == 1
    (stored,) = project.proposals(person_id=person)
    assert stored.status == ProposalStatus.ACCEPTED and stored.decided_by == "bob"
    assert project.person(person).state == TaskState.CORRESPONDED
    assert project.state_history(person)[-1][:2] == (TaskState.CORRESPONDED, "bob")
    assert project.stats().confirmed_machine_answers == 3
    assert project.accept_proposals(person, "bob") == 0  # nothing pending any more


def test_reject_removes_the_models_work_and_a_found_person(tmp_path: Path) -> None:
    project, image, person = _project(tmp_path)
    found_box = Box(120, 30, 60, 150)
    ids = project.add_proposals(
        MODEL, [_proposal(image, person), _proposal(image, None, found_box)]
    )
    found = ids[1]
    assert found != person and project.person(found).box == found_box
    assert project.reject_proposals(person, "bob") == (1, False)
    assert project.part_mask(person) is None and project.answers(person, MODEL) is None
    assert project.sample_points(person) is None
    assert project.reject_proposals(found, "bob") == (1, True)
    with pytest.raises(KeyError):
        project.person(found)
    rejected = project.proposals(status=ProposalStatus.REJECTED)
    assert len(rejected) == 2 and rejected[1].person_id is None  # the box is remembered
    # A later run does not propose the rejected person again, nor the person drawn there.
    again = [_proposal(image, None, Box(122, 32, 58, 148)), _proposal(image, None)]
    assert project.add_proposals("model:other", again) == []


def test_export_prefers_people_and_can_leave_proposals_out(tmp_path: Path) -> None:
    project, image, person = _project(tmp_path)
    found = project.add_proposals(
        MODEL, [_proposal(image, person), _proposal(image, None, Box(110, 10, 80, 120))]
    )[1]
    project.save_answer(person, 0, "alice", iuv=(7, 0.1, 0.2), when=0.0)  # older than the model
    for pid in (person, found):
        project.set_state(pid, TaskState.CORRESPONDED)
    report = export_densepose(project, tmp_path / "all.json")
    anns = {a["id"]: a for a in json.loads((tmp_path / "all.json").read_text())["annotations"]}
    assert anns[person]["dp_I"] == [7, 2, 2]  # alice's answer wins though older
    assert report.machine_points == 5 and found in anns and "dp_masks" in anns[person]
    report = export_densepose(project, tmp_path / "confirmed.json", confirmed_only=True)
    anns = {
        a["id"]: a for a in json.loads((tmp_path / "confirmed.json").read_text())["annotations"]
    }
    assert found not in anns
    assert anns[person]["dp_I"] == [7] and "dp_masks" not in anns[person]
    assert report.unconfirmed_left_out == 3  # the found person, the mask, the answer set
    project.accept_proposals(person, "alice")
    export_densepose(project, tmp_path / "accepted.json", confirmed_only=True)
    anns = {a["id"]: a for a in json.loads((tmp_path / "accepted.json").read_text())["annotations"]}
    assert anns[person]["dp_I"] == [7, 2, 2] and "dp_masks" in anns[person]


def test_a_version_1_project_opens_and_upgrades(tmp_path: Path) -> None:
    """A project written before proposals existed (schema 1) keeps its data and upgrades."""
    file = project_file(tmp_path / "old")
    file.parent.mkdir()
    conn = sqlite3.connect(file, isolation_level=None)
    schema.migrate(conn, schema.MIGRATIONS[:1])
    conn.execute("INSERT INTO meta VALUES ('format', 'dpstudio-project'), ('body', 'anny')")
    conn.execute("INSERT INTO images VALUES (1, 'a.jpg', 'a.jpg', '00', 200, 200, NULL)")
    conn.execute(
        "INSERT INTO persons (id, image_id, x, y, w, h) VALUES (5, 1, 20.0, 20.0, 80.0, 120.0)"
    )
    conn.close()
    with pytest.raises(Exception, match="open it once for writing"):
        Project.open(file.parent, readonly=True)
    with Project.open(file.parent) as project:
        assert schema.version(project._conn) == schema.SCHEMA_VERSION == 2
        assert project.person(5).box == Box(20, 20, 80, 120)
        assert project.add_proposals(MODEL, [_proposal(1, 5)]) == [5]
    with Project.open(file.parent, readonly=True) as project:
        assert project.stats().proposals[ProposalStatus.PROPOSED] == 1
