"""The whole path from the command line: new, import, sample, stats, export, validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.dataset.store import Project

from .conftest import densepose_doc, save_json


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_fill_sample_export_validate_reimport(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=4, persons_per_image=3)
    for ann in doc["annotations"][1::3]:  # some persons come with part masks only
        ann["dp_masks"] = doc["annotations"][0]["dp_masks"]
    src = save_json(tmp_path / "dp.json", doc)
    proj = tmp_path / "proj"

    code, out, _ = run(capsys, "project", "new", proj, "--images", tmp_path / "imgs")
    assert code == 0 and "added 4 image(s)" in out
    code, out, _ = run(
        capsys, "project", "import", proj, "--densepose", src, "--images", tmp_path / "imgs"
    )
    assert code == 0 and "12 person(s)" in out and "4 already in the project" in out
    code, out, _ = run(capsys, "project", "sample", proj, "--seed", "3")
    assert code == 0 and "for 4 person(s)" in out  # the masks-only persons
    assert "left 8 person(s) with answers alone" in out
    code, out, _ = run(capsys, "project", "stats", proj)
    assert code == 0 and "segmented     4" in out and "corresponded  8" in out

    first = tmp_path / "out" / "first.json"
    code, out, _ = run(capsys, "project", "export", proj, "--out", first, "--state", "segmented")
    assert code == 0 and "12 person(s)" in out
    code, out, _ = run(capsys, "dataset", "validate", first)
    assert code == 0 and out.startswith("OK")

    again = tmp_path / "again"
    assert run(capsys, "project", "new", again)[0] == 0
    code, _, _ = run(
        capsys, "project", "import", again, "--densepose", first, "--images", tmp_path / "imgs"
    )
    assert code == 0
    second = tmp_path / "second.json"
    assert run(capsys, "project", "export", again, "--out", second, "--state", "segmented")[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text()) == json.loads(second.read_text())


def test_validate_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = densepose_doc(tmp_path / "imgs", n_images=2, persons_per_image=2)
    doc["annotations"][0]["dp_I"][0] = 25
    doc["annotations"][0]["dp_masks"][3] = {"size": [256, 256], "counts": "03"}
    doc["annotations"][1]["bbox"] = [300.0, 10.0, 100.0, 10.0]
    doc["annotations"][2]["id"] = doc["annotations"][0]["id"]
    code, out, _ = run(capsys, "dataset", "validate", save_json(tmp_path / "bad.json", doc))
    assert code == 1
    assert "annotation 100, dp_I[0] = 25: must be a whole number in [1, 24]" in out
    assert "annotation 100, dp_masks[3].counts = '03': run lengths sum to 3" in out
    assert "annotation 101, bbox = [300.0, 10.0, 100.0, 10.0]: outside the image" in out
    assert "annotation 100, id = 100: duplicate annotation id" in out
    assert "4 problem(s)" in out


def test_user_errors_are_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "project", "stats", tmp_path / "none")
    assert code == 1 and "no project at" in err and "Traceback" not in err
    run(capsys, "project", "new", tmp_path / "p")
    code, _, err = run(capsys, "project", "new", tmp_path / "p")
    assert code == 1 and "already exists" in err
    (tmp_path / "t.json").write_text('{"images": [{"id": 1,')
    code, _, err = run(
        capsys,
        "project",
        "import",
        tmp_path / "p",
        "--coco",
        tmp_path / "t.json",
        "--images",
        tmp_path,
    )
    assert code == 1 and "t.json: line 1, column 22: not valid JSON" in err
    with Project.open(tmp_path / "p"):
        code, _, err = run(capsys, "project", "import", tmp_path / "p", "--images", tmp_path)
        assert code == 1 and "is open for writing by process" in err
        code, out, _ = run(capsys, "project", "stats", tmp_path / "p")  # reading is fine
        assert code == 0 and "images" in out
    code, _, err = run(capsys, "project", "import", tmp_path / "p", "--images", tmp_path / "nope")
    assert code == 1 and "not a folder" in err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"not a jpeg")
    code, _, err = run(capsys, "project", "new", tmp_path / "q", "--images", tmp_path / "bad")
    assert code == 1 and "x.jpg: image, file: not a readable image" in err
    assert not (tmp_path / "q").exists()  # no half-made project left to trip over


def test_every_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["project", "--help"],
        ["project", "new", "--help"],
        ["project", "import", "--help"],
        ["project", "sample", "--help"],
        ["project", "stats", "--help"],
        ["project", "export", "--help"],
        ["dataset", "validate", "--help"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        out = capsys.readouterr().out
        assert "usage: dpstudio" in out and len(out) > 250
