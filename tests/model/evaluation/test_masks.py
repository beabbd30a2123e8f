"""GPSm masks: the reference's resize and pasting, and IoU equal to pycocotools' on RLEs."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from model.evaluation.masks import Pasted, box_iou, ground_truth_mask, iou, paste


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(mask.shape), "counts": encoded["counts"].decode("ascii")}


def test_dp_masks_are_resized_to_the_rounded_box_and_pasted_at_its_integer_corner():
    left = np.zeros((256, 256), np.uint8)
    left[:, :128] = 1
    ann = {"bbox": [10.6, 20.3, 40.4, 30.7], "dp_masks": [rle(left)] + [[]] * 13}
    image = ground_truth_mask(ann, 100, 100).image(100, 100)
    # zoom to round(30.7) x round(40.4) = 31 x 40; column j samples 256-column j * 255 / 39,
    # > 0.5 while that is below 127.5: j = 0..19. Pasted at (int(10.6), int(20.3)) = (10, 20).
    rows, cols = np.nonzero(image)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 50, 10, 29)
    assert image.sum() == 31 * 20


def test_prediction_is_pasted_at_its_integer_corner_and_clipped():
    labels = np.ones((30, 40), np.uint8)
    pasted = paste(labels, (10.6, 20.3, 40.4, 30.7), 100, 100)
    assert (pasted.x0, pasted.y0, pasted.mask.shape) == (10, 20, (30, 40))
    edge = paste(labels, (80.5, -5.5, 40.4, 30.7), 100, 100)  # sticks out right and top
    assert (edge.x0, edge.y0, edge.mask.shape) == (80, 0, (25, 20))
    assert paste(labels, (150.0, 0.0, 40.0, 30.0), 100, 100).area == 0


def test_gpsm_iou_of_the_hand_worked_pair():
    left = np.zeros((256, 256), np.uint8)
    left[:, :128] = 1
    truth = ground_truth_mask({"bbox": [10.6, 20.3, 40.4, 30.7], "dp_masks": [rle(left)]}, 100, 100)
    predicted = paste(np.ones((30, 40), np.uint8), (10.6, 20.3, 40.4, 30.7), 100, 100)
    # intersection rows 20..49 x columns 10..29 = 600; union 1200 + 620 - 600 = 1220.
    assert iou([predicted], [truth], np.array([False]))[0, 0] == pytest.approx(600 / 1220)
    assert iou([predicted], [truth], np.array([True]))[0, 0] == pytest.approx(600 / 1200)


def test_persons_without_dp_masks_use_their_segmentation():
    polygon = [[12.0, 8.0, 60.0, 10.0, 55.0, 70.0, 15.0, 66.0]]
    ann = {"bbox": [12.0, 8.0, 48.0, 62.0], "segmentation": polygon}
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygon, 90, 80)))
    assert np.array_equal(ground_truth_mask(ann, 90, 80).image(90, 80), expected > 0)
    compressed = {"bbox": ann["bbox"], "segmentation": rle(expected)}
    assert np.array_equal(ground_truth_mask(compressed, 90, 80).image(90, 80), expected > 0)
    assert ground_truth_mask({"bbox": ann["bbox"]}, 90, 80).area == 0


def test_iou_equals_pycocotools_on_whole_image_rles():
    rng = np.random.default_rng(0)
    height, width = 60, 70
    masks = []
    for _ in range(8):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        box = (float(rng.uniform(-10, width)), float(rng.uniform(-10, height)), w + 0.4, h + 0.7)
        masks.append(paste(rng.random((h, w)) < 0.6, box, height, width))
    masks.append(Pasted(0, 0, np.zeros((0, 0), bool)))
    crowd = np.array([k % 3 == 0 for k in range(len(masks))])
    rles = [mask_utils.encode(np.asfortranarray(m.image(height, width).astype(np.uint8)))
            for m in masks]  # fmt: skip
    expected = np.asarray(mask_utils.iou(rles, rles, [int(c) for c in crowd]))
    assert np.array_equal(iou(masks, masks, crowd), expected)


def test_box_iou_counts_crowd_boxes_over_the_detection():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 10.0, 10.0], [0.0, 0.0, 20.0, 20.0]])
    out = box_iou(a, b, np.array([False, True]))
    assert out[0, 0] == pytest.approx(50 / 150) and out[0, 1] == pytest.approx(1.0)
