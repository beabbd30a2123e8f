"""A shared project on a real PostgreSQL server behaves as a folder project: the same calls
give the same results, and push / pull move a project losslessly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.dataset.densepose_io import export_densepose, import_densepose
from annotator.dataset.errors import ProjectError
from annotator.dataset.pg import AccessDeniedError, ServerGoneError
from annotator.dataset.pg_server import LocalServer, free_port
from annotator.dataset.records import (
    Answers,
    AnswerStatus,
    Box,
    GoldTruth,
    ImageRecord,
    PartMask,
    Person,
    PersonProposal,
    SamplePoints,
    TaskState,
)
from annotator.dataset.store import Project
from annotator.dataset.store_transfer import pull, push
from tests.dataset.conftest import densepose_doc, save_json, write_image


def _folder_project(tmp_path: Path) -> Path:
    images = tmp_path / "photos"
    doc = densepose_doc(images, n_images=4, persons_per_image=3, seed=3)
    folder = tmp_path / "folder"
    with Project.create(folder) as project:
        import_densepose(project, save_json(tmp_path / "in.json", doc), images)
        project.set_state(101, TaskState.REVIEWED, annotator="rev")
    return folder


def test_push_export_pull_export_identical(tmp_path: Path, shared_url: str) -> None:
    folder = _folder_project(tmp_path)
    with Project.open(folder, readonly=True) as project:
        export_densepose(project, tmp_path / "folder.json")
        history = project.state_history(101)
    report = push(folder, shared_url)
    assert report.rows["persons"] == 12 and report.images == 4
    with Project.open(shared_url, readonly=True) as shared:
        assert shared.shared and shared.readonly
        export_densepose(shared, tmp_path / "shared.json")
        assert shared.state_history(101) == history
        shared_file = shared.image_file(shared.images()[0])
    assert (tmp_path / "shared.json").read_bytes() == (tmp_path / "folder.json").read_bytes()
    assert shared_file.read_bytes() == (tmp_path / "photos" / "img_000.jpg").read_bytes()

    pull(shared_url, tmp_path / "back")
    (tmp_path / "photos").rename(tmp_path / "gone")  # the pulled folder has its own images
    with Project.open(tmp_path / "back", readonly=True) as back:
        export_densepose(back, tmp_path / "back.json")
        assert back.image_file(back.images()[0]).is_file()
    assert (tmp_path / "back.json").read_bytes() == (tmp_path / "folder.json").read_bytes()


def test_push_refuses_an_existing_project_and_leaves_it(tmp_path: Path, shared_url: str) -> None:
    folder = _folder_project(tmp_path)
    push(folder, shared_url)
    with pytest.raises(ProjectError, match="already exists"):
        push(folder, shared_url)
    with Project.open(shared_url) as shared:
        assert shared.stats().persons == 12


def test_push_with_a_changed_image_leaves_nothing(tmp_path: Path, shared_url: str) -> None:
    folder = _folder_project(tmp_path)
    write_image(tmp_path / "photos" / "img_002.jpg", 352, 240, seed=99)  # not the recorded bytes
    with pytest.raises(ProjectError, match=r"img_002\.jpg.*SHA-256"):
        push(folder, shared_url)
    with pytest.raises(ProjectError, match=r"no DensePose Studio project|does not exist"):
        Project.open(shared_url)


def _exercise(project: Project, image_file: Path) -> dict[str, object]:
    """The same edits on any backend; returns everything read back."""
    from annotator.dataset.coco_import import inspect_image, relative_path

    facts = inspect_image(image_file)
    rel = relative_path(project.directory, image_file)
    record = ImageRecord(rel, image_file.name, facts.sha256, facts.width, facts.height)
    (image_id,) = project.add_images([record])
    pid, other = project.add_persons(
        [Person(image_id, Box(10.5, 20.25, 100.0, 80.0)), Person(image_id, Box(1, 2, 30, 40))]
    )
    labels = np.zeros((40, 50), np.uint8)
    labels[5:30, 10:40] = 3
    project.save_part_mask(pid, "ann", PartMask(labels, 12, 22))
    points = SamplePoints(np.array([15.0, 30.5]), np.array([25.0, 40.0]), np.array([3, 3]))
    project.set_sample_points(pid, points)
    project.save_answer(pid, 0, "ann", iuv=(3, 0.25, 0.75), face=7, bary=(0.2, 0.3, 0.5))
    project.save_answer(pid, 1, "ann", not_visible=True)
    project.set_state(pid, TaskState.CORRESPONDED, annotator="ann")
    gold_labels = np.ones((4, 5), np.uint8)
    project.set_gold(
        pid,
        GoldTruth(
            x0=3,
            y0=4,
            source="synth",
            labels=gold_labels,
            face=np.zeros((4, 5), np.int32),
            bary=np.full((4, 5, 3), 1 / 3, np.float32),
        ),
    )
    proposal = PersonProposal(
        image_id=image_id, person_id=other, box=Box(1, 2, 30, 40), score=0.9, mask=None,
        points=SamplePoints(np.array([5.0]), np.array([6.0]), np.array([2])),
        answers=Answers.blank("model:r", 1),
    )  # fmt: skip
    proposal.answers.status[0] = AnswerStatus.ANSWERED
    proposal.answers.i[0], proposal.answers.u[0], proposal.answers.v[0] = 5, 0.5, 0.5
    project.add_proposals("model:r", [proposal], checkpoint="ck.pt")
    project.accept_proposals(other, "ann")
    project.update_box(other, Box(2, 3, 31, 41))
    answers = project.answers(pid, "ann")
    assert answers is not None
    stored = project.stored_mask(pid)
    assert stored is not None
    gold = project.gold(pid)
    assert gold is not None
    return {
        "persons": [(p.id, p.box, p.state) for p in project.persons()],
        "mask": (stored.frame, stored.x0, stored.y0, stored.width, stored.height, stored.data),
        "labels": stored.part_mask().labels.tolist(),
        "answers": (
            answers.status.tolist(),
            answers.i.tolist(),
            np.nan_to_num(answers.u, nan=-1).tolist(),
        ),
        "answered": project.answered_person_ids(),
        "gold": (gold.x0, gold.y0, gold.labels.tolist(), project.gold_person_ids()),
        "states": [(s, n) for s, n, _ in project.state_history(pid)],
        "stats": (project.stats().by_state, project.stats().answers, project.stats().gold),
        "tasks": project.image_tasks(),
        "proposals": [(p.model, p.status, p.made_answers) for p in project.proposals()],
        "annotators": [a.name for a in project.annotators()],
    }


def test_same_calls_same_results_on_both_backends(tmp_path: Path, shared_url: str) -> None:
    image = write_image(tmp_path / "pic.png", 64, 48)
    with Project.create(tmp_path / "folder") as folder:
        expected = _exercise(folder, image)
    with Project.create(shared_url) as shared:
        assert shared.role == "admin"
        got = _exercise(shared, image)
        assert shared.image_file(shared.images()[0]).read_bytes() == image.read_bytes()
    assert got == expected


def test_bad_urls_get_one_line_and_change_nothing(pg_server: LocalServer, shared_url: str) -> None:
    Project.create(shared_url).close()
    wrong = shared_url.replace(pg_server.password, "wrong")
    with pytest.raises(AccessDeniedError, match=r"studio@127\.0\.0\.1:\d+/t_.*password") as err:
        Project.open(wrong)
    assert "wrong" not in str(err.value) and "\n" not in str(err.value)
    closed = shared_url.replace(f":{pg_server.port}/", f":{free_port()}/")
    with pytest.raises(ServerGoneError, match="cannot reach the server"):
        Project.open(closed)
    with pytest.raises(ServerGoneError, match="does not exist"):
        Project.open(pg_server.url("no_such_project"))
    with Project.open(shared_url) as project:
        assert project.stats().persons == 0
