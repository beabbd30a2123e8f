"""A zoo model pre-annotates: boxes, masks and answers in a project of the official charts;
boxes and masks, no answers, and one line saying why, in an Anny project."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from annotator.dataset.records import Box, ImageRecord, Person
from annotator.dataset.store import Project
from annotator.surface.atlas import load_atlas
from model.inference.annotation_proposals import read_proposals
from model.inference.preannotate import preannotate
from model.zoo.catalog import zoo_config, zoo_model
from model.zoo.convert import import_detectron2
from model.zoo.local import imported_checkpoint

from .standin import write_official_standin
from .test_detectron2_fixture import FIXTURE, SPEC

TINY = "R_50_FPN_s1x_legacy"  # its head trains and runs on a single box


@pytest.fixture()
def zoo_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user cache holding zoo:R_50_FPN_DL_WC2M_s1x (the fixture's narrow version)."""
    monkeypatch.setenv("DPSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    cfg = zoo_config(zoo_model(TINY), SPEC["overrides"] + ["model.box_score_thresh=0.05"])
    import_detectron2(FIXTURE / f"{TINY}.pkl", cfg, imported_checkpoint(zoo_model(TINY)))
    return f"zoo:{TINY}"


def make_project(folder: Path, body: str) -> Path:
    image = cv2.imread(str(FIXTURE / "images" / "0.png"))
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "0.png"), image)
    h, w = image.shape[:2]
    with Project.create(folder, body=body) as project:
        image_id = project.add_image(ImageRecord("0.png", "0.png", "0" * 64, w, h))
        project.add_person(Person(image_id, Box(10.0, 8.0, w - 30.0, h - 20.0)))
    return folder


def test_in_an_anny_project_masks_and_no_answers(tmp_path: Path, zoo_cache: str, data_dir):
    project = make_project(tmp_path / "anny", "anny")
    notes: list[str] = []
    out = tmp_path / "proposals.npz"
    model, count = preannotate(zoo_cache, project, out, score_threshold=0.05, on_note=notes.append)
    assert model == f"model:{zoo_cache}@0" and count >= 1
    (note,) = notes
    assert "official DensePose charts" in note and "no stage-2 answers" in note
    _, _, proposals = read_proposals(out)
    boxed = next(p for p in proposals if p.person_id is not None)
    assert boxed.mask is not None and boxed.mask.labels.any()
    assert boxed.points is not None and len(boxed.points) > 0
    assert all(p.answers is None for p in proposals)


def test_in_a_project_of_the_official_charts_answers_too(tmp_path: Path, zoo_cache: str, data_dir):
    write_official_standin(data_dir)
    assert load_atlas("smpl").official_charts
    project = make_project(tmp_path / "smpl", "smpl")
    notes: list[str] = []
    out = tmp_path / "proposals.npz"
    preannotate(zoo_cache, project, out, score_threshold=0.05, on_note=notes.append)
    assert notes == []
    _, _, proposals = read_proposals(out)
    boxed = next(p for p in proposals if p.person_id is not None)
    assert boxed.mask is not None and boxed.answers is not None
    answered = boxed.answers.i > 0
    assert answered.any() and (boxed.answers.face[answered] >= 0).all()
