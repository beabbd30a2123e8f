"""Importing folders of images and COCO instances files with real files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from annotator.dataset.coco_import import import_coco, import_image_folder
from annotator.dataset.errors import InputError
from annotator.dataset.store import Project

from .conftest import person_category, save_json, write_image


def test_folder_import_references_images_with_size_and_hash(
    tmp_path: Path, project: Project
) -> None:
    a = write_image(tmp_path / "photos" / "a.jpg", 64, 48)
    write_image(tmp_path / "photos" / "sub" / "b.png", 30, 20)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    report = import_image_folder(project, tmp_path / "photos")
    assert report.images_added == 2
    images = project.images()
    assert [im.path for im in images] == ["../photos/a.jpg", "../photos/sub/b.png"]
    assert [im.file_name for im in images] == ["a.jpg", "sub/b.png"]
    assert [(im.width, im.height) for im in images] == [(64, 48), (30, 20)]
    assert images[0].sha256 == hashlib.sha256(a.read_bytes()).hexdigest()
    assert project.image_file(images[0]) == a.resolve()
    again = import_image_folder(project, tmp_path / "photos")
    assert (again.images_added, again.images_reused) == (0, 2)


def test_corrupt_or_changed_images_are_refused(tmp_path: Path, project: Project) -> None:
    good = write_image(tmp_path / "photos" / "good.jpg", 64, 48)
    truncated = write_image(tmp_path / "photos" / "cut.jpg", 64, 48, seed=2)
    truncated.write_bytes(truncated.read_bytes()[:300])
    (tmp_path / "photos" / "noise.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError) as caught:
        import_image_folder(project, tmp_path / "photos")
    text = str(caught.value)
    assert "cut.jpg: image, file: not a readable image" in text
    assert "noise.png: image, file: not a readable image" in text
    assert project.stats().images == 0  # nothing, not even the good one
    truncated.unlink()
    (tmp_path / "photos" / "noise.png").unlink()
    import_image_folder(project, tmp_path / "photos")
    write_image(good, 64, 48, seed=9)  # same name, other pixels
    with pytest.raises(InputError, match="changed since it was added"):
        import_image_folder(project, tmp_path / "photos")
    with pytest.raises(InputError, match="missing: not a folder"):
        import_image_folder(project, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files"):
        import_image_folder(project, tmp_path / "empty")


def coco_doc(image_dir: Path) -> dict[str, Any]:
    """A COCO instances file: persons, a dog, an image without persons, a crowd."""
    write_image(image_dir / "p.jpg", 200, 100)
    write_image(image_dir / "dog.jpg", 50, 50, seed=1)
    images = [
        {"id": 1, "file_name": "p.jpg", "width": 200, "height": 100, "license": 2},
        {"id": 2, "file_name": "dog.jpg", "width": 50, "height": 50},
    ]
    person = {"segmentation": [[10.0, 10.0, 40.0, 10.0, 40.0, 90.0]], "area": 1200.0, "iscrowd": 0}
    annotations = [
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 30.0, 80.0], **person},
        {
            "id": 11,
            "image_id": 1,
            "category_id": 1,
            "bbox": [100.0, 5.0, 50.0, 90.0],
            "iscrowd": 1,
            "area": 10.0,
            "segmentation": {"size": [100, 200], "counts": [19990, 10]},
        },
        {"id": 12, "image_id": 2, "category_id": 18, "bbox": [1.0, 1.0, 9.0, 9.0], "area": 81.0},
    ]
    annotations[0]["keypoints"] = [15, 20, 2] + [0, 0, 0] * 16
    annotations[0]["num_keypoints"] = 1
    dog = {"id": 18, "name": "dog", "supercategory": "animal"}
    return {"images": images, "annotations": annotations, "categories": [person_category(), dog]}


def test_coco_import_takes_persons_only(tmp_path: Path, project: Project) -> None:
    src = save_json(tmp_path / "coco.json", coco_doc(tmp_path / "imgs"))
    report = import_coco(project, src, tmp_path / "imgs")
    assert (report.images_added, report.persons) == (1, 2)
    image = project.image(1)
    assert image.extra == {"license": 2} and image.path == "../imgs/p.jpg"
    person = project.person(10)
    assert person.keypoints[:3] == [15, 20, 2] and person.num_keypoints == 1
    assert person.segmentation == [[10.0, 10.0, 40.0, 10.0, 40.0, 90.0]]
    assert person.area == 1200.0
    assert project.person(11).iscrowd
    assert [p.id for p in project.persons(include_crowd=False)] == [10]


def test_coco_import_problems_name_file_record_and_field(tmp_path: Path, project: Project) -> None:
    doc = coco_doc(tmp_path / "imgs")
    doc["annotations"][0]["bbox"] = [190.0, 10.0, 30.0, 80.0]  # sticks out of the image
    doc["annotations"][1]["id"] = 10
    doc["images"][0]["height"] = 101
    src = save_json(tmp_path / "coco.json", doc)
    with pytest.raises(InputError) as caught:
        import_coco(project, src, tmp_path / "imgs")
    text = str(caught.value)
    assert "coco.json: annotation 10, bbox = [190.0, 10.0, 30.0, 80.0]: outside the image" in text
    assert "coco.json: annotation 10, id = 10: duplicate annotation id" in text
    assert "coco.json: image 1, width/height = '200 x 100': the file is 200 x 100 pixels" in text
    assert project.stats().images == 0


def test_coco_import_of_missing_images(tmp_path: Path, project: Project) -> None:
    src = save_json(tmp_path / "coco.json", coco_doc(tmp_path / "imgs"))
    (tmp_path / "imgs" / "p.jpg").unlink()
    with pytest.raises(
        InputError, match=r"image 1, file_name = 'p.jpg': file not found \(looked for /"
    ):
        import_coco(project, src, tmp_path / "imgs")
    report = import_coco(project, src, tmp_path / "imgs", skip_missing=True)
    assert (report.skipped_images, report.skipped_persons, report.persons) == (1, 2, 0)
    with pytest.raises(InputError, match="images folder not found"):
        import_coco(project, src, tmp_path / "nowhere")


def test_truncated_image_is_found_when_verifying(tmp_path: Path, project: Project) -> None:
    src = save_json(tmp_path / "coco.json", coco_doc(tmp_path / "imgs"))
    image = tmp_path / "imgs" / "p.jpg"
    image.write_bytes(image.read_bytes()[:-2000])
    with pytest.raises(InputError, match=r"image 1, file_name = 'p.jpg': not a readable image"):
        import_coco(project, src, tmp_path / "imgs", verify="decode")
