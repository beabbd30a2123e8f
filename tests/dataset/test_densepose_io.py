"""DensePose-COCO export and import: format, exact round trip, states, atomic writing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotator.dataset.densepose_io import export_densepose, import_densepose
from annotator.dataset.errors import InputError
from annotator.dataset.masks import to_box256
from annotator.dataset.records import (
    Box,
    ImageRecord,
    PartMask,
    Person,
    SamplePoints,
    TaskState,
)
from annotator.dataset.sampling import sample_project
from annotator.dataset.store import Project
from annotator.dataset.validate import validate_file
from annotator.surface.points import SurfacePoints

from .conftest import densepose_doc, person_labels, save_json, write_image


def detectron2_segm(entries: list[Any]) -> np.ndarray:
    """What detectron2's DensePoseDataRelative makes of dp_masks (entry i -> label i + 1)."""
    segm = np.zeros((256, 256), np.uint8)
    for i, entry in enumerate(entries):
        if entry:
            segm[mask_utils.decode(entry) > 0] = i + 1
    return segm


def annotated_project(tmp_path: Path) -> tuple[Project, list[int]]:
    """A project made the app's way: painted masks, sampled points, two annotators."""
    project = Project.create(tmp_path / "app")
    write_image(tmp_path / "imgs" / "a.jpg", 640, 480)
    write_image(tmp_path / "imgs" / "b.jpg", 400, 300, seed=1)
    image_a = project.add_image(ImageRecord("../imgs/a.jpg", "a.jpg", "1" * 64, 640, 480))
    image_b = project.add_image(ImageRecord("../imgs/b.jpg", "b.jpg", "2" * 64, 400, 300))
    ids = [
        project.add_person(Person(image_a, Box(100.5, 50.25, 201.0, 400.0))),
        project.add_person(Person(image_a, Box(300.0, 20.0, 150.0, 300.0))),
        project.add_person(Person(image_b, Box(10.0, 10.0, 100.0, 200.0))),
    ]
    for k, pid in enumerate(ids):
        box = project.person(pid).box
        labels = np.zeros((480, 640), np.uint8)
        x0, y0 = int(box.x) + 5, int(box.y) + 5
        labels[y0 : y0 + int(box.h) - 10, x0 : x0 + int(box.w) - 10] = 1
        labels[y0 : y0 + 40, x0 : x0 + 40] = 14
        project.save_part_mask(pid, "alice", PartMask(labels))
        project.set_state(pid, TaskState.SEGMENTED)
        if k == 2:
            break
    sample_project(project, seed=0)
    for pid in ids[:2]:
        n = len(project.sample_points(pid))
        for j in range(n):
            if j == 1:
                project.save_answer(pid, j, "alice", not_visible=True, when=10.0)
            else:
                project.save_answer(pid, j, "alice", iuv=(2, j / n, 0.5), when=10.0)
        project.save_answer(pid, 0, "bob", iuv=(23, 0.125, 0.875), when=20.0)  # later wins
        project.set_state(pid, TaskState.CORRESPONDED)
    return project, ids


def test_export_matches_the_densepose_coco_format(tmp_path: Path) -> None:
    project, ids = annotated_project(tmp_path)
    report = export_densepose(project, tmp_path / "out.json")
    assert (report.images, report.persons, report.densepose, report.masks) == (1, 2, 2, 2)
    assert validate_file(tmp_path / "out.json").ok
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["categories"][0]["name"] == "person"
    assert len(doc["categories"][0]["keypoints"]) == 17
    ann = next(a for a in doc["annotations"] if a["id"] == ids[0])
    points = project.sample_points(ids[0])
    assert len(ann["dp_x"]) == len(points) - 1  # the "not visible" point is left out
    assert (ann["dp_I"][0], ann["dp_U"][0], ann["dp_V"][0]) == (23, 0.125, 0.875)  # bob
    box = project.person(ids[0]).box
    keep = np.delete(np.arange(len(points)), 1)
    x = box.x + np.array(ann["dp_x"]) / 255.0 * box.w
    y = box.y + np.array(ann["dp_y"]) / 255.0 * box.h
    np.testing.assert_allclose(x, points.x[keep], atol=1e-3)
    np.testing.assert_allclose(y, points.y[keep], atol=1e-3)
    assert len(ann["dp_masks"]) == 14
    assert all(isinstance(e["counts"], str) for e in ann["dp_masks"] if e)
    expected = to_box256(project.part_mask(ids[0]), box)
    np.testing.assert_array_equal(detectron2_segm(ann["dp_masks"]), expected)
    coco = COCO(str(tmp_path / "out.json"))
    assert sorted(coco.getAnnIds()) == ids[:2]
    project.close()


def test_states_choose_what_is_exported(tmp_path: Path) -> None:
    project, ids = annotated_project(tmp_path)
    project.set_state(ids[1], TaskState.SEGMENTED)
    export_densepose(project, tmp_path / "c.json", min_state=TaskState.CORRESPONDED)
    doc = json.loads((tmp_path / "c.json").read_text())
    by_id = {a["id"]: a for a in doc["annotations"]}
    assert set(by_id) == {ids[0], ids[1]}  # same image: the unfinished person comes plain
    assert "dp_x" in by_id[ids[0]] and "dp_x" not in by_id[ids[1]]
    assert "dp_masks" not in by_id[ids[1]]
    export_densepose(project, tmp_path / "s.json", min_state=TaskState.SEGMENTED)
    doc = json.loads((tmp_path / "s.json").read_text())
    by_id = {a["id"]: a for a in doc["annotations"]}
    assert set(by_id) == set(ids)
    assert "dp_masks" in by_id[ids[2]] and "dp_x" not in by_id[ids[2]]
    report = export_densepose(project, tmp_path / "r.json", min_state=TaskState.REVIEWED)
    assert (report.images, report.persons) == (0, 0)
    assert json.loads((tmp_path / "r.json").read_text())["annotations"] == []
    project.close()


def test_round_trip_of_app_data_is_exact(tmp_path: Path) -> None:
    project, _ = annotated_project(tmp_path)
    first = tmp_path / "first.json"
    export_densepose(project, first, min_state=TaskState.SEGMENTED)
    project.close()
    again = Project.create(tmp_path / "again")
    import_densepose(again, first, tmp_path / "imgs", surface_from_iuv=None)
    second = tmp_path / "second.json"
    export_densepose(again, second, min_state=TaskState.SEGMENTED)
    assert first.read_bytes() == second.read_bytes()
    again.close()


def test_round_trip_of_a_densepose_file_is_exact(tmp_path: Path) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=5, persons_per_image=3)
    doc["images"][0]["license"] = 3
    doc["images"][0]["coco_url"] = "http://example.org/a.jpg"
    doc["annotations"][0]["segmentation"] = [[1.0, 1.0, 30.0, 1.0, 30.0, 30.0]]
    doc["annotations"][1]["note"] = {"source": "test"}
    src = save_json(tmp_path / "in.json", doc)
    one = Project.create(tmp_path / "one")
    report = import_densepose(one, src, tmp_path / "imgs", surface_from_iuv=None)
    assert (report.persons, report.densepose) == (15, 10)
    export_densepose(one, tmp_path / "a.json")
    two = Project.create(tmp_path / "two")
    import_densepose(two, tmp_path / "a.json", tmp_path / "imgs", surface_from_iuv=None)
    export_densepose(two, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    exported = json.loads((tmp_path / "a.json").read_text())
    assert exported["images"] == doc["images"]  # extra keys kept, ids kept
    assert exported["annotations"] == doc["annotations"]
    one.close()
    two.close()


def test_import_sets_states_masks_answers_and_surface_points(tmp_path: Path) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=2, persons_per_image=2)
    masks_only = doc["annotations"][3]
    masks_only.update(dp_masks=doc["annotations"][0]["dp_masks"])
    src = save_json(tmp_path / "in.json", doc)

    def fake_atlas(i: np.ndarray, u: np.ndarray, v: np.ndarray) -> SurfacePoints:
        bary = np.stack([u * 0.5, v * 0.5, 1 - (u + v) * 0.5], axis=1)
        return SurfacePoints(i * 1000, bary)

    with Project.create(tmp_path / "p") as project:
        import_densepose(
            project, src, tmp_path / "imgs", annotator="coco", surface_from_iuv=fake_atlas
        )
        states = {p.id: p.state for p in project.persons()}
        first, plain, masked = (doc["annotations"][k]["id"] for k in (0, 1, 3))
        assert states[first] == TaskState.CORRESPONDED
        assert states[plain] == TaskState.TODO
        assert states[masked] == TaskState.SEGMENTED
        answers = project.answers(first, "coco")
        ann = doc["annotations"][0]
        assert answers.i.tolist() == ann["dp_I"]
        assert answers.u.tolist() == ann["dp_U"]
        assert answers.face.tolist() == [i * 1000 for i in ann["dp_I"]]
        np.testing.assert_array_equal(
            project.part_mask(first).labels, detectron2_segm(ann["dp_masks"])
        )


def test_import_problems_leave_the_project_unchanged(tmp_path: Path) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=3, persons_per_image=2)
    src = save_json(tmp_path / "in.json", doc)
    project = Project.create(tmp_path / "p")
    import_densepose(project, src, tmp_path / "imgs")
    before = project.stats()
    with pytest.raises(InputError, match=r"annotation 100, id = 100: already in the project"):
        import_densepose(project, src, tmp_path / "imgs")
    doc["annotations"][2]["dp_U"][2] = 1.5
    doc["images"][1]["width"] += 1
    bad = save_json(tmp_path / "bad.json", doc)
    fresh = Project.create(tmp_path / "fresh")
    with pytest.raises(InputError) as caught:
        import_densepose(fresh, bad, tmp_path / "imgs")
    text = str(caught.value)
    assert "annotation 102, dp_U[2] = 1.5: must be a number in [0.0, 1.0]" in text
    assert "image 1001, width/height" in text
    assert fresh.stats().persons == 0 and fresh.stats().images == 0
    assert project.stats() == before
    fresh.close()
    project.close()


def test_missing_images_fail_or_are_skipped(tmp_path: Path) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=3, persons_per_image=2)
    (tmp_path / "imgs" / doc["images"][1]["file_name"]).unlink()
    src = save_json(tmp_path / "in.json", doc)
    with Project.create(tmp_path / "p") as project:
        with pytest.raises(
            InputError, match=r"image 1001, file_name = 'img_001.jpg': file not found"
        ):
            import_densepose(project, src, tmp_path / "imgs")
        report = import_densepose(project, src, tmp_path / "imgs", skip_missing=True)
        assert (report.skipped_images, report.skipped_persons, report.persons) == (1, 2, 4)


FAILING_EXPORT = textwrap.dedent(
    """
    import resource, signal, sys
    from annotator.dataset.densepose_io import export_densepose
    from annotator.dataset.store import Project
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    project = Project.open(sys.argv[1], readonly=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
    export_densepose(project, sys.argv[2])
    """
)


def test_a_failed_export_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=4, persons_per_image=3)
    with Project.create(tmp_path / "p") as project:
        import_densepose(project, save_json(tmp_path / "in.json", doc), tmp_path / "imgs")
    out = tmp_path / "out" / "dp.json"
    out.parent.mkdir()
    out.write_text('{"previous": true}')
    run = subprocess.run(
        [sys.executable, "-c", FAILING_EXPORT, str(tmp_path / "p"), str(out), "4096"],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "File too large" in run.stderr
    assert out.read_text() == '{"previous": true}'
    assert [p.name for p in out.parent.iterdir()] == ["dp.json"]  # no temporary left
    with Project.open(tmp_path / "p", readonly=True) as project:
        export_densepose(project, out)
    assert validate_file(out).ok


def test_export_needs_only_read_access(tmp_path: Path) -> None:
    project, _ = annotated_project(tmp_path)  # the app keeps it open for writing
    with Project.open(tmp_path / "app", readonly=True) as reader:
        report = export_densepose(reader, tmp_path / "out.json")
    assert report.persons == 2
    project.close()


def test_painted_masks_without_area_get_the_painted_area(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as project:
        image = project.add_image(ImageRecord("a.jpg", "a.jpg", "0" * 64, 100, 100))
        pid = project.add_person(Person(image, Box(0.0, 0.0, 50.0, 50.0)))
        project.save_part_mask(pid, "a", PartMask(np.ones((10, 20), np.uint8), 5, 5))
        project.set_sample_points(pid, SamplePoints.empty())
        project.set_state(pid, TaskState.CORRESPONDED)
        export_densepose(project, tmp_path / "o.json")
    ann = json.loads((tmp_path / "o.json").read_text())["annotations"][0]
    assert ann["area"] == 200.0
    assert ann["dp_x"] == [] and len(ann["dp_masks"]) == 14


def test_masks_keep_their_labels_through_the_box(tmp_path: Path) -> None:
    labels = person_labels(3)
    with Project.create(tmp_path / "p") as project:
        image = project.add_image(ImageRecord("a.jpg", "a.jpg", "0" * 64, 512, 512))
        pid = project.add_person(Person(image, Box(0.0, 0.0, 512.0, 512.0)))
        big = np.kron(labels, np.ones((2, 2), np.uint8))  # 512 x 512: 2 x 2 pixels per cell
        project.save_part_mask(pid, "a", PartMask(big))
        project.set_state(pid, TaskState.SEGMENTED)
        export_densepose(project, tmp_path / "o.json", min_state=TaskState.SEGMENTED)
    ann = json.loads((tmp_path / "o.json").read_text())["annotations"][0]
    np.testing.assert_array_equal(detectron2_segm(ann["dp_masks"]), labels)


WITHOUT_ORJSON = textwrap.dedent(
    """
    import sys
    sys.modules["orjson"] = None  # as on a machine without it: the standard library is used
    from pathlib import Path
    from annotator.dataset import jsonio
    from annotator.dataset.densepose_io import export_densepose, import_densepose
    from annotator.dataset.store import Project
    assert jsonio.orjson is None
    root, images = Path(sys.argv[1]), Path(sys.argv[2])
    with Project.create(root / "std1") as one:
        import_densepose(one, root / "in.json", images, surface_from_iuv=None)
        export_densepose(one, root / "std_a.json")
    with Project.create(root / "std2") as two:
        import_densepose(two, root / "std_a.json", images, surface_from_iuv=None)
        export_densepose(two, root / "std_b.json")
    """
)


def test_round_trip_without_orjson(tmp_path: Path) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=3, persons_per_image=2)
    save_json(tmp_path / "in.json", doc)
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_ORJSON, str(tmp_path), str(tmp_path / "imgs")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "std_a.json").read_bytes() == (tmp_path / "std_b.json").read_bytes()
    with Project.create(tmp_path / "fast") as fast:  # and the same data through orjson
        import_densepose(fast, tmp_path / "in.json", tmp_path / "imgs", surface_from_iuv=None)
        export_densepose(fast, tmp_path / "fast.json")
    standard = json.loads((tmp_path / "std_a.json").read_text())
    assert json.loads((tmp_path / "fast.json").read_text()) == standard
