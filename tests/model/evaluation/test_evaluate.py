"""End to end: ground truth fed back scores perfectly; true-box mode; dense synthetic truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from annotator.dataset.densepose_io import PERSON_CATEGORY
from annotator.surface.points import SurfacePoints
from annotator.synth.writer import save_npz
from model.evaluation import evaluate, load_ground_truth, read_results, write_results
from model.evaluation.densepose_eval import STAT_NAMES
from model.evaluation.oracle import ground_truth_detections
from model.evaluation.results import Detection
from model.structures import DensePoseResult

from .helpers import POINTS, document, person


def crowd_document() -> dict:
    """Three images: medium and large persons, an unannotated one, a crowd, an empty image."""
    shifted = [(x * 0.9 + 10, y * 0.8 + 20, i, u, v) for x, y, i, u, v in POINTS]
    annotations = [
        person(101, 1, [20.0, 30.0, 120.0, 250.0], POINTS),
        person(102, 1, [200.0, 40.0, 60.0, 90.0], shifted, area=4000),
        person(103, 1, [300.0, 300.0, 50.0, 80.0], points=None),
        person(201, 2, [100.0, 100.0, 150.0, 200.0], shifted),
        person(202, 2, [10.0, 10.0, 40.0, 40.0], points=None, masks=False),
    ]
    annotations[-1].update(iscrowd=1, segmentation=[[10, 10, 50, 10, 50, 50, 10, 50]])
    return document(annotations, images=3)


def test_ground_truth_fed_back_scores_perfectly(geodesics):
    doc = crowd_document()
    gt = load_ground_truth(doc)
    dets = ground_truth_detections(gt)
    assert len(dets) == 3
    report = evaluate(gt, [*dets], geodesics=geodesics, gt_boxes=False)
    for mode in ("gps", "gpsm", "iou"):
        assert report.ap[mode].stats == {n: pytest.approx(1.0) for n in STAT_NAMES}, mode
    p = report.pointwise
    assert (p.persons, p.matched) == (3, 3)
    assert p.figures.overall.points == 3 * len(POINTS) and p.figures.overall.misses == 0
    # U, V on the 1/255 grid: the same surface points (0.1 mm: the table's float rounding).
    assert p.figures.overall.mean < 1e-4 and p.figures.overall.median < 1e-4
    assert p.figures.overall.auc10 > 0.999 and p.figures.overall.auc30 > 0.9995
    assert p.figures.rcp[-1] == 1.0
    assert p.mean_mask_iou == pytest.approx(1.0)
    assert report.dense is None


def test_results_file_and_true_box_mode_give_the_same_scores(geodesics, tmp_path):
    doc = crowd_document()
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(doc))
    dets = ground_truth_detections(load_ground_truth(doc))
    results = tmp_path / "results.json"
    write_results(results, dets)
    back = read_results(results)
    assert all(d.gt_id is not None for d in back)
    boxes = evaluate(gt_file, back, geodesics=geodesics)  # every gt_id set: true-box mode
    assert boxes.pointwise.matching.startswith("gt_id")
    assert boxes.pointwise.figures.overall.misses == 0
    no_ids = [Detection(d.image_id, d.category_id, d.bbox, d.score, d.densepose) for d in back]
    same_box = evaluate(gt_file, no_ids, geodesics=geodesics, gt_boxes=True, modes=())
    assert same_box.pointwise.matched == 3 and same_box.ap == {}
    data = boxes.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["ap"]["gps"]["AP"] == pytest.approx(1.0)
    assert "| GPS | 100.0 |" in boxes.summary()


def test_true_box_mode_refuses_a_foreign_gt_id(geodesics):
    doc = crowd_document()
    dets = ground_truth_detections(load_ground_truth(doc))
    wrong = Detection(1, 1, dets[0].bbox, 0.5, dets[0].densepose, gt_id=201)  # image 2's
    with pytest.raises(ValueError, match="gt_id 201 is not an annotation of image 1"):
        evaluate(doc, [wrong], geodesics=geodesics)


def test_unmatched_person_misses_every_point(geodesics):
    doc = crowd_document()
    dets = ground_truth_detections(load_ground_truth(doc))[1:]  # person 101 has none
    report = evaluate(doc, dets, geodesics=geodesics, modes=("gps",))
    first = report.pointwise.per_person[0]
    assert (first.annotation_id, first.detection, first.misses) == (101, None, len(POINTS))
    assert first.mask_iou == 0.0
    overall = report.pointwise.figures.overall
    assert overall.misses == len(POINTS) and overall.auc10 == pytest.approx(2 / 3, abs=0.01)
    assert report.ap["gps"].stats["AR"] == pytest.approx(2 / 3)


# -- dense figures on a synthetic folder --------------------------------------------------

SIZE = 64
BOX = (20, 10, 30, 40)  # x, y, w, h: the person's skin fills it


def synthetic_folder(tmp_path, atlas) -> tuple[dict, np.ndarray]:
    """A ``dpstudio synth``-like folder: one 64 x 64 image whose person 1 has skin on BOX,
    each skin pixel on a random surface point. Returns the document and the true [3, h, w]
    (I, U, V) over the box."""
    rng = np.random.default_rng(0)
    x, y, w, h = BOX
    skin = np.zeros((SIZE, SIZE), bool)
    skin[y : y + h, x : x + w] = True
    n = int(skin.sum())
    points = SurfacePoints(rng.integers(0, len(atlas.faces), n), rng.dirichlet([2, 2, 2], n))
    i, u, v = atlas.to_iuv(points)
    (tmp_path / "gt").mkdir()
    save_npz(
        tmp_path / "gt" / "000000.npz",
        {
            "size": np.array([SIZE, SIZE], np.int32), "body": np.array(atlas.body),
            "skin": np.packbits(skin.ravel()), "instance": np.ones(n, np.uint8),
            "face": points.face.astype(np.int32), "i": i.astype(np.uint8),
            "bary": points.bary.astype(np.float32), "u": u.astype(np.float32),
            "v": v.astype(np.float32),
        },
    )  # fmt: skip
    ann = person(101, 1, [float(c) for c in BOX], POINTS)
    ann["instance"] = 1
    doc = {
        "images": [{"id": 1, "file_name": "000000.jpg", "width": SIZE, "height": SIZE,
                    "gt_file": "gt/000000.npz"}],
        "annotations": [ann],
        "categories": [PERSON_CATEGORY],
    }  # fmt: skip
    (tmp_path / "densepose.json").write_text(json.dumps(doc))
    truth = np.stack([i, u, v]).reshape(3, h, w)
    return doc, truth


def true_maps(truth: np.ndarray, cols: int) -> Detection:
    """A detection on BOX predicting the truth on its first ``cols`` columns."""
    x, y, _, h = BOX
    labels = torch.from_numpy(truth[0, :, :cols].astype(np.uint8).copy())
    uv = torch.from_numpy(truth[1:, :, :cols].astype(np.float32).copy())
    return Detection(1, 1, (x, y, cols, h), 0.9, DensePoseResult((x, y, cols, h), labels, uv))


def test_dense_figures_score_every_skin_pixel(geodesics, atlas, tmp_path):
    _, truth = synthetic_folder(tmp_path, atlas)
    report = evaluate(tmp_path / "densepose.json", [true_maps(truth, 30)], geodesics=geodesics)
    dense = report.dense
    assert dense is not None and (dense.images, dense.persons, dense.matched) == (1, 1, 1)
    overall = dense.figures.overall
    assert overall.points == 30 * 40 and overall.misses == 0
    assert overall.mean < 0.005  # U, V quantized to 1/255 of a chart
    assert overall.auc10 > 0.95
    charts = sum(s.points for s in dense.figures.per_chart.values())
    assert charts == 30 * 40


def test_dense_pixels_outside_the_box_are_misses(geodesics, atlas, tmp_path):
    _, truth = synthetic_folder(tmp_path, atlas)
    half = true_maps(truth, 18)  # box IoU 18 / 30 = 0.6: still this person's detection
    dense = evaluate(tmp_path / "densepose.json", [half], geodesics=geodesics).dense
    assert dense is not None and dense.figures.overall.misses == 12 * 40
    nothing = evaluate(tmp_path / "densepose.json", [], geodesics=geodesics, modes=()).dense
    assert nothing is not None and nothing.matched == 0
    assert nothing.figures.overall.misses == 30 * 40 and nothing.figures.overall.auc30 == 0.0


def test_dense_without_truth_files_is_refused(geodesics, atlas, tmp_path):
    synthetic_folder(tmp_path, atlas)
    (tmp_path / "gt" / "000000.npz").unlink()
    with pytest.raises(Exception, match=r"image 1, gt_file: truth file .* not found"):
        evaluate(tmp_path / "densepose.json", [], geodesics=geodesics, modes=())
    plain = evaluate(tmp_path / "densepose.json", [], geodesics=geodesics, dense=False)
    assert plain.dense is None


def test_empty_detections_score_zero(geodesics):
    report = evaluate(crowd_document(), [], geodesics=geodesics)
    assert report.ap["gps"].stats["AP"] == 0.0 and report.pointwise.matched == 0
