"""The project store on real SQLite files: records, transactions, lock, schema versions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from annotator.dataset import masks, schema
from annotator.dataset.errors import (
    AnswersExistError,
    ProjectError,
    ProjectLockedError,
    SchemaError,
)
from annotator.dataset.records import (
    AnswerStatus,
    Box,
    GoldTruth,
    ImageRecord,
    ImageTasks,
    MaskFrame,
    PartMask,
    Person,
    SamplePoints,
    TaskState,
)
from annotator.dataset.store import Project, project_file

from .conftest import add_person

# -- creating and opening ------------------------------------------------------------------


def test_create_records_body_and_reopens(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p", body="smpl") as project:
        assert project.body == "smpl"
        assert project.file == tmp_path / "p" / "project.dpstudio"
    with Project.open(tmp_path / "p") as project:
        assert project.body == "smpl"
        assert project.integrity_check() == "ok"


def test_create_refuses_existing_project_and_unknown_body(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path / "p")
    with pytest.raises(ProjectError, match="unknown body model"):
        Project.create(tmp_path / "q", body="mano")


def test_open_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no project at"):
        Project.open(tmp_path / "nothing")
    (tmp_path / "junk").mkdir()
    project_file(tmp_path / "junk").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProjectError, match="not a readable project file"):
        Project.open(tmp_path / "junk")
    (tmp_path / "other").mkdir()
    other = sqlite3.connect(project_file(tmp_path / "other"), isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.close()
    with pytest.raises(ProjectError, match="not a DensePose Studio project"):
        Project.open(tmp_path / "other")
    check = sqlite3.connect(project_file(tmp_path / "other"))
    assert [r[0] for r in check.execute("SELECT name FROM sqlite_master")] == ["t"]  # untouched
    check.close()


# -- images, persons, states -----------------------------------------------------------------


def test_images_and_persons_keep_given_ids_and_assign_new_ones(project: Project) -> None:
    a = project.add_image(ImageRecord("a.jpg", "a.jpg", "1" * 64, 640, 480, id=42))
    b = project.add_image(ImageRecord("b.jpg", "b.jpg", "2" * 64, 320, 200, extra={"lic": 3}))
    assert (a, b) == (42, 43)
    assert project.image(43).extra == {"lic": 3}
    person = Person(42, Box(1.5, 2.0, 30.0, 40.0), id=7, keypoints=[1, 2, 2] * 17, area=12.5)
    person.segmentation = {"size": [480, 640], "counts": "abc"}
    assert project.add_person(person) == 7
    assert project.add_person(Person(43, Box(0, 0, 5, 5))) == 8
    got = project.person(7)
    assert got.box == Box(1.5, 2.0, 30.0, 40.0)
    assert got.keypoints == [1, 2, 2] * 17
    assert got.segmentation == {"size": [480, 640], "counts": "abc"}
    assert [p.id for p in project.persons(image_id=42)] == [7]


def test_duplicate_ids_are_refused_and_change_nothing(project: Project) -> None:
    project.add_image(ImageRecord("a.jpg", "a.jpg", "1" * 64, 640, 480, id=1))
    with pytest.raises(ProjectError, match="already used"):
        project.add_images(
            [
                ImageRecord("b.jpg", "b.jpg", "2" * 64, 640, 480, id=2),
                ImageRecord("c.jpg", "c.jpg", "3" * 64, 640, 480, id=1),
            ]
        )
    assert [im.id for im in project.images()] == [1]
    with pytest.raises(ProjectError, match="same path"):
        project.add_image(ImageRecord("a.jpg", "a.jpg", "1" * 64, 640, 480))
    with pytest.raises(ProjectError, match="not in the project"):
        project.add_person(Person(99, Box(0, 0, 1, 1)))


def test_transaction_rolls_back_everything_on_error(project: Project) -> None:
    with pytest.raises(RuntimeError), project.transaction():
        add_person(project)
        with project.transaction():
            add_person(project)
        raise RuntimeError("boom")
    assert project.stats().persons == 0
    with project.transaction():
        add_person(project)
        with pytest.raises(KeyError), project.transaction():
            add_person(project)
            project.set_state(12345, TaskState.SEGMENTED)
    assert project.stats().persons == 1  # the inner block alone was undone


def test_state_changes_are_logged(project: Project) -> None:
    pid = add_person(project)
    project.set_state(pid, TaskState.SEGMENTED, annotator="ann")
    project.set_state(pid, TaskState.CORRESPONDED)
    assert project.person(pid).state == TaskState.CORRESPONDED
    history = project.state_history(pid)
    assert [(s, who) for s, who, _ in history] == [
        (TaskState.SEGMENTED, "ann"),
        (TaskState.CORRESPONDED, None),
    ]
    assert project.stats().by_state[TaskState.CORRESPONDED] == 1
    assert TaskState.parse("Corresponded") == TaskState.CORRESPONDED
    with pytest.raises(ValueError, match="unknown task state"):
        TaskState.parse("done")


def test_image_tasks_sum_up_each_image(project: Project) -> None:
    first = add_person(project)
    image = project.person(first).image_id
    second = project.add_person(Person(image, Box(0.0, 0.0, 5.0, 5.0)))
    project.add_person(Person(image, Box(0.0, 0.0, 50.0, 50.0), iscrowd=True))  # not a task
    bare = project.add_image(ImageRecord("bare.jpg", "bare.jpg", "1" * 64, 10, 10))
    project.set_state(first, TaskState.CORRESPONDED)
    project.set_state(second, TaskState.SEGMENTED)
    labels = np.ones((2, 2), np.uint8)
    project.set_gold(
        second, GoldTruth(0, 0, labels, np.zeros((2, 2), np.int32), np.ones((2, 2, 3)))
    )
    assert project.image_tasks() == [
        ImageTasks(image, tasks=2, done=1, lowest=TaskState.SEGMENTED, gold=True),
        ImageTasks(bare, tasks=0, done=0, lowest=None, gold=False),
    ]
    project.set_state(second, TaskState.REVIEWED)
    assert project.image_tasks(image) == [
        ImageTasks(image, tasks=2, done=2, lowest=TaskState.CORRESPONDED, gold=True)
    ]


def test_delete_person_removes_its_work(project: Project) -> None:
    pid = add_person(project)
    project.save_part_mask(pid, "ann", PartMask(np.ones((4, 4), np.uint8), 10, 20))
    project.set_sample_points(pid, SamplePoints([11.0], [21.0], [1]))
    project.save_answer(pid, 0, "ann", iuv=(1, 0.5, 0.5))
    project.delete_person(pid)
    stats = project.stats()
    assert (stats.persons, stats.masks, stats.points, stats.answers) == (0, 0, 0, 0)


# -- masks, points, answers, gold -----------------------------------------------------------


def test_part_mask_is_cropped_and_round_trips(project: Project) -> None:
    pid = add_person(project)
    labels = np.zeros((480, 640), np.uint8)
    labels[100:180, 50:90] = 1
    labels[150:160, 60:70] = 14
    project.save_part_mask(pid, "ann", PartMask(labels))
    mask = project.part_mask(pid)
    assert mask is not None
    assert (mask.x0, mask.y0, mask.labels.shape) == (50, 100, (80, 40))
    restored = np.zeros_like(labels)
    restored[mask.y0 : mask.y0 + 80, mask.x0 : mask.x0 + 40] = mask.labels
    np.testing.assert_array_equal(restored, labels)
    assert mask.annotator == "ann"


def test_latest_mask_wins_unless_an_annotator_is_named(project: Project) -> None:
    pid = add_person(project)
    project.save_part_mask(pid, "alice", PartMask(np.full((2, 2), 3, np.uint8)))
    project.save_part_mask(pid, "bob", PartMask(np.full((2, 2), 5, np.uint8)))
    assert project.part_mask(pid).labels[0, 0] == 5
    assert project.part_mask(pid, "alice").labels[0, 0] == 3
    project.save_part_mask(pid, "alice", PartMask(np.full((2, 2), 7, np.uint8)))
    assert project.part_mask(pid).labels[0, 0] == 7
    assert len(project.part_masks(pid)) == 2
    assert project.part_mask(pid, "carol") is None


def test_pre_encoded_mask_saves_like_a_label_map(project: Project) -> None:
    pid = add_person(project)
    labels = np.zeros((40, 60), np.uint8)
    labels[10:20, 30:35] = 6
    project.save_part_mask(pid, "ann", masks.encode_mask(PartMask(labels, 100, 200)))
    got = project.part_mask(pid, "ann")
    assert (got.x0, got.y0) == (130, 210)
    np.testing.assert_array_equal(got.labels, np.full((10, 5), 6, np.uint8))


def test_empty_mask_saves_and_box256_mask_keeps_its_frame(project: Project) -> None:
    pid = add_person(project)
    project.save_part_mask(pid, "ann", PartMask(np.zeros((30, 30), np.uint8), 5, 5))
    assert project.part_mask(pid).labels.shape == (0, 0)
    box_mask = PartMask(np.full((256, 256), 2, np.uint8), frame=MaskFrame.BOX256)
    project.save_part_mask(pid, "ann", box_mask)
    got = project.part_mask(pid)
    assert got.frame == MaskFrame.BOX256 and got.labels.shape == (256, 256)


def test_answers_are_kept_per_annotator_and_block_resampling(project: Project) -> None:
    pid = add_person(project)
    project.set_sample_points(pid, SamplePoints([11.0, 12.0, 13.0], [21.0, 22, 23], [1, 2, 3]))
    project.save_answer(pid, 0, "alice", iuv=(2, 0.25, 0.75), face=12, bary=(0.2, 0.3, 0.5))
    project.save_answer(pid, 1, "alice", not_visible=True)
    project.save_answer(pid, 0, "bob", iuv=(1, 0.5, 0.5), when=123.0)
    alice = project.answers(pid, "alice")
    assert alice.status.tolist() == [AnswerStatus.ANSWERED, AnswerStatus.NOT_VISIBLE, 0]
    assert (alice.i[0], alice.u[0], alice.v[0], alice.face[0]) == (2, 0.25, 0.75, 12)
    np.testing.assert_allclose(alice.bary[0], (0.2, 0.3, 0.5))
    assert alice.surface().face.tolist() == [12]
    assert [a.annotator for a in project.all_answers(pid)] == ["alice", "bob"]
    assert project.answers(pid, "bob").time[0] == 123.0
    with pytest.raises(AnswersExistError):
        project.set_sample_points(pid, SamplePoints([1.0], [1.0], [1]))
    project.clear_answer(pid, 0, "alice")
    assert project.answers(pid, "alice").status[0] == AnswerStatus.UNANSWERED
    project.set_sample_points(pid, SamplePoints([1.0], [1.0], [1]), force=True)
    assert project.all_answers(pid) == []
    assert len(project.sample_points(pid)) == 1


def test_bad_answers_are_refused(project: Project) -> None:
    pid = add_person(project)
    with pytest.raises(ProjectError, match="no sample points"):
        project.save_answer(pid, 0, "ann", iuv=(1, 0.5, 0.5))
    project.set_sample_points(pid, SamplePoints([11.0], [21.0], [1]))
    for kwargs in (
        {"iuv": (25, 0.5, 0.5)},
        {"iuv": (1, 1.5, 0.5)},
        {},
        {"iuv": (1, 0.5, 0.5), "face": 3},
        {"iuv": (1, 0.5, 0.5), "face": 3, "bary": (0.5, 0.5, 0.5)},
    ):
        with pytest.raises(ValueError):
            project.save_answer(pid, 0, "ann", **kwargs)
    with pytest.raises(IndexError):
        project.save_answer(pid, 1, "ann", iuv=(1, 0.5, 0.5))


def test_gold_truth_round_trips(project: Project) -> None:
    pid = add_person(project)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 15, (30, 20)).astype(np.uint8)
    face = np.where(labels > 0, rng.integers(0, 27000, labels.shape), -1).astype(np.int32)
    bary = rng.dirichlet((1, 1, 1), labels.shape).astype(np.float32)
    gold = GoldTruth(5, 6, labels, face, bary, source="synth v1 seed 3")
    project.set_gold(pid, gold)
    got = project.gold(pid)
    assert (got.x0, got.y0, got.source) == (5, 6, "synth v1 seed 3")
    np.testing.assert_array_equal(got.face, face)
    np.testing.assert_array_equal(got.bary, bary)
    assert got.i is None
    u = rng.random(labels.shape).astype(np.float32)
    project.set_gold(pid, GoldTruth(5, 6, labels, face, bary, labels.copy(), u, u, "v2"))
    np.testing.assert_array_equal(project.gold(pid).u, u)
    assert project.gold_person_ids() == [pid]
    assert project.gold(999) is None


# -- writer lock -------------------------------------------------------------------------------


def test_second_writer_gets_a_clear_message_and_readers_are_welcome(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p")
    with pytest.raises(ProjectLockedError, match=r"process \d+ .*read-only"):
        Project.open(tmp_path / "p")
    reader = Project.open(tmp_path / "p", readonly=True)
    add_person(project)
    assert reader.stats().persons == 1  # sees committed edits
    with pytest.raises(ProjectError, match="read-only"):
        add_person(reader)
    reader.close()
    project.close()
    Project.open(tmp_path / "p").close()  # lock released on close


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    code = textwrap.dedent(
        f"""
        import sys, time
        from annotator.dataset.store import Project
        p = Project.open({str(tmp_path / "p")!r})
        print("open", flush=True)
        sys.stdin.readline()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "open"
        with pytest.raises(ProjectLockedError, match=f"process {child.pid} "):
            Project.open(tmp_path / "p")
    finally:
        child.kill()
        child.wait()
    Project.open(tmp_path / "p").close()  # the OS released the dead process's lock


# -- schema versions ---------------------------------------------------------------------------


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    conn = sqlite3.connect(project_file(tmp_path / "p"))
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        Project.open(tmp_path / "p")
    with pytest.raises(SchemaError, match="update DensePose Studio"):
        Project.open(tmp_path / "p", readonly=True)


def test_migrations_apply_in_order_once(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite", isolation_level=None)
    steps = ("CREATE TABLE a (x); INSERT INTO a VALUES (1)", "ALTER TABLE a ADD COLUMN y")
    assert schema.migrate(conn, steps[:1]) == 0
    assert schema.migrate(conn, steps) == 1
    assert schema.migrate(conn, steps) == 2
    assert schema.version(conn) == 2
    assert conn.execute("SELECT x, y FROM a").fetchall() == [(1, None)]
    with pytest.raises(sqlite3.OperationalError):
        schema.migrate(conn, (*steps, "ALTER TABLE nope ADD COLUMN z"))
    assert schema.version(conn) == 2  # a failed migration leaves the file as it was


def test_old_schema_needs_a_writer_to_upgrade(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    conn = sqlite3.connect(project_file(tmp_path / "p"))
    conn.execute("PRAGMA user_version = 0")  # pretend nothing was applied...
    conn.close()
    with pytest.raises(SchemaError, match="open it once for writing"):
        Project.open(tmp_path / "p", readonly=True)


def test_bulk_points_and_answers(project: Project) -> None:
    from annotator.dataset.records import Answers

    ids = [add_person(project) for _ in range(3)]
    items = []
    for k, pid in enumerate(ids):
        points = SamplePoints(np.arange(k + 1.0), np.arange(k + 1.0), np.ones(k + 1))
        answers = Answers.blank("bulk", k + 1)
        answers.status[0], answers.i[0], answers.u[0], answers.v[0] = 1, 5, 0.25, 0.5
        items.append((pid, points, answers if k else None))
    assert project.add_points_and_answers(iter(items), "bulk", chunk=2) == (3, 6)
    assert len(project.sample_points(ids[2])) == 3
    assert project.answers(ids[0], "bulk") is None
    assert project.answers(ids[2], "bulk").i[0] == 5
    assert project.stats().answers == 2
