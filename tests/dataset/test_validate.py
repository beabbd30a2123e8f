"""The validator: every problem named by record, field and value; official files accepted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from annotator.dataset.validate import check_document, validate_file

from .conftest import densepose_doc, person_category


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return densepose_doc(tmp_path_factory.mktemp("imgs"), n_images=3, persons_per_image=2)


def problems_of(doc: Any) -> list[str]:
    return [str(p) for p in check_document(doc, "f.json").problems]


def fresh(doc: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(doc))


def test_a_good_document_has_no_problem(good: dict[str, Any]) -> None:
    report = check_document(good, "f.json")
    assert report.ok
    assert (report.images, report.annotations, report.densepose) == (3, 6, 3)
    assert report.points == sum(len(a["dp_x"]) for a in good["annotations"] if "dp_x" in a)


def test_official_style_documents_are_accepted(good: dict[str, Any]) -> None:
    doc = fresh(good)
    doc["info"] = {"description": "DensePose-COCO"}
    doc["licenses"] = [{"id": 1, "name": "x", "url": "y"}]
    doc["images"][0].update(license=1, coco_url="http://x/y.jpg", date_captured="2013")
    ann = doc["annotations"][0]
    ann["dp_I"] = [float(i) for i in ann["dp_I"]]  # the official files write 2.0
    ann["dp_masks"][0] = []
    ann["segmentation"] = [[10.0, 10.0, 20.0, 10.0, 20.0, 20.0]]
    w, h = doc["images"][1]["width"], doc["images"][1]["height"]
    doc["annotations"][2].update(
        iscrowd=1, segmentation={"size": [h, w], "counts": [w * h - 10, 10]}
    )
    assert problems_of(doc) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["images"][0].update(width="640"),
            "image 1000, width = '640': must be a whole",
        ),
        (lambda d: d["images"][0].update(id=1.5), "images[0], id = 1.5: must be a whole number"),
        (lambda d: d["images"][0].update(id=True), "images[0], id = True: must be a whole"),
        (lambda d: d["images"][1].update(id=1000), "image 1000, id = 1000: duplicate image id"),
        (lambda d: d["images"][0].pop("file_name"), "image 1000, file_name: must be a non-empty"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotation 100, bbox = [1, 2, 3]"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 3]), "width and height must be > 0"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, float("nan"), 3]), "4 finite numbers"),
        (lambda d: d["annotations"][0].update(bbox=[-5.0, 0, 10, 10]), "outside the image"),
        (lambda d: d["annotations"][0].update(image_id=7), "image_id = 7: no image with this id"),
        (lambda d: d["annotations"][0].update(category_id=2), "category_id = 2: no category"),
        (lambda d: d["annotations"][0].update(iscrowd=2), "iscrowd = 2: must be 0 or 1"),
        (lambda d: d["annotations"][0].update(keypoints=[0] * 50), "keypoints = '50 values'"),
        (lambda d: d["annotations"][0].update(keypoints=[0, 0, 3] * 17), "visibility flags"),
        (lambda d: d["annotations"][0].update(area=-1), "area = -1: must be a number >= 0"),
        (lambda d: d["annotations"][0]["dp_x"].append(3.0), "must have equal length"),
        (
            lambda d: d["annotations"][0]["dp_U"].__setitem__(0, "x"),
            "dp_U[0] = 'x': must be a number",
        ),
        (lambda d: d["annotations"][0]["dp_y"].__setitem__(1, 256.0), "dp_y[1] = 256.0: must be a"),
        (
            lambda d: d["annotations"][0]["dp_I"].__setitem__(0, 2.5),
            "dp_I[0] = 2.5: must be a whole",
        ),
        (lambda d: d["annotations"][0]["dp_I"].__setitem__(0, 0), "dp_I[0] = 0: must be a whole"),
        (lambda d: d["annotations"][0].pop("dp_V"), "annotation 100, dp_V: missing"),
        (lambda d: d["annotations"][0]["dp_masks"].pop(), "dp_masks = 13: must be a list of 14"),
        (
            lambda d: d["annotations"][0]["dp_masks"].__setitem__(
                0, {"size": [128, 128], "counts": "0"}
            ),
            "dp_masks[0].size = [128, 128]: must be [256, 256]",
        ),
        (
            lambda d: d["annotations"][0]["dp_masks"].__setitem__(
                0, {"size": [256, 256], "counts": [65536]}
            ),
            "uncompressed RLE",
        ),
        (
            lambda d: d["annotations"][0]["dp_masks"].__setitem__(
                0, {"size": [256, 256], "counts": "0~~"}
            ),
            "outside the RLE alphabet",
        ),
        (lambda d: d["annotations"][2].update(id=100), "annotation 100, id = 100: duplicate"),
        (lambda d: d["categories"][0].update(name="human"), "no 'person' category"),
        (lambda d: d.pop("images"), "images: missing"),
        (lambda d: d.update(annotations={}), "annotations = 'dict': must be a list"),
    ],
)
def test_each_problem_names_record_field_and_value(
    good: dict[str, Any], change: Any, expected: str
) -> None:
    doc = fresh(good)
    change(doc)
    found = problems_of(doc)
    assert any(expected in p for p in found), found


def test_all_problems_are_reported_not_just_the_first(good: dict[str, Any]) -> None:
    doc = fresh(good)
    doc["annotations"][0]["dp_U"] = [2.0] * len(doc["annotations"][0]["dp_U"])
    doc["annotations"][2]["bbox"] = [0, 0, 1e6, 10]
    doc["images"][2]["height"] = 0
    found = problems_of(doc)
    assert sum("dp_U[" in p for p in found) == 5  # five listed one by one...
    assert any(
        "annotation 100, dp_U = '" in p and "more values" in p for p in found
    )  # ...then counted
    assert any("annotation 102, bbox" in p for p in found)
    assert any("image 1002, height = 0" in p for p in found)


def test_not_a_coco_document(tmp_path: Path) -> None:
    assert "must be a JSON object" in problems_of([1, 2])[0]
    (tmp_path / "t.json").write_text('{"images": [], "annotations": [')
    report = validate_file(tmp_path / "t.json")
    assert not report.ok and "line 1, column 32: not valid JSON" in str(report.problems[0])
    (tmp_path / "b.json").write_bytes(b"{\x80\x81garbage")
    message = str(validate_file(tmp_path / "b.json").problems[0])
    assert "not valid JSON" in message or "cannot be read as JSON" in message  # orjson, json
    assert "file not found" in str(validate_file(tmp_path / "none.json").problems[0])


def test_person_category_with_keypoints_is_checked() -> None:
    category = person_category()
    category["skeleton"].append([0, 18])
    doc = {"images": [], "annotations": [], "categories": [category]}
    assert any("skeleton" in p for p in problems_of(doc))
