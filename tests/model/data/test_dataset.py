"""DensePoseCocoDataset on small real files: targets as the reference loader reads them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from model.data.dataset import DensePoseCocoDataset
from model.data.errors import DatasetError
from tests.model.data.builders import official_style, overlapping_dp_masks, write_image


@pytest.fixture()
def official(tmp_path):
    return official_style(tmp_path)


def by_id(dataset: DensePoseCocoDataset, image_id: int):
    return dataset[dataset.image_ids.index(image_id)]


def test_persons_boxes_and_points_as_in_the_file(official):
    json_file, images, doc = official
    ds = DensePoseCocoDataset(json_file, images)
    assert len(ds) == 3 and ds.image_ids == [1, 2, 3]
    image, target, info = by_id(ds, 1)
    assert image.shape == (3, 60, 80) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert (info.image_id, info.width, info.height, info.scale) == (1, 80, 60, 1.0)
    # Person 13 is a crowd: dropped. Boxes are xyxy.
    assert target["boxes"].tolist() == [[10.0, 5.0, 40.0, 45.0], [50.0, 10.0, 70.0, 40.0]]
    assert target["labels"].tolist() == [1, 1]
    dp = target["densepose"]
    assert dp.has_points.tolist() == [True, False] and dp.has_masks.tolist() == [True, False]
    ann = doc["annotations"][0]
    assert dp.person.tolist() == [0] * len(ann["dp_x"])
    np.testing.assert_allclose(dp.x.numpy(), ann["dp_x"], rtol=1e-6)  # box frame, as stored
    np.testing.assert_allclose(dp.y.numpy(), ann["dp_y"], rtol=1e-6)
    assert dp.i.dtype == torch.int64 and dp.i.tolist() == [int(i) for i in ann["dp_I"]]
    np.testing.assert_allclose(dp.u.numpy(), ann["dp_U"], rtol=1e-6)
    np.testing.assert_allclose(dp.v.numpy(), ann["dp_V"], rtol=1e-6)
    assert not dp.dense
    assert ds.stats.crowd_dropped == 1 and ds.stats.densepose_persons == 2


def test_dp_masks_decode_with_later_parts_on_top(official):
    json_file, images, _ = official
    ds = DensePoseCocoDataset(json_file, images)
    _, expected = overlapping_dp_masks()
    dp = by_id(ds, 1).target["densepose"]
    assert dp.masks.shape == (2, 256, 256) and dp.masks.dtype == torch.uint8
    assert np.array_equal(dp.masks[0].numpy(), expected)
    assert int(dp.masks[0, 130, 120]) == 2  # torso and right hand overlap: the hand wins
    assert not dp.masks[1].any()
    # Read again: from the run-length cache, the same labels.
    assert np.array_equal(by_id(ds, 1).target["densepose"].masks[0].numpy(), expected)
    uncached = DensePoseCocoDataset(json_file, images, cache_dp_masks=False)
    assert np.array_equal(by_id(uncached, 1).target["densepose"].masks[0].numpy(), expected)


def test_an_image_without_persons_gives_empty_targets(official):
    json_file, images, _ = official
    ds = DensePoseCocoDataset(json_file, images, instance_masks=True, keypoints=True)
    image, target, _ = by_id(ds, 3)
    assert image.shape == (3, 48, 64)
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    assert target["masks"].shape == (0, 48, 64) and target["keypoints"].shape == (0, 17, 3)
    assert len(target["densepose"]) == 0 and target["densepose"].num_points == 0


def test_keep_selects_images(official):
    json_file, images, _ = official
    assert len(DensePoseCocoDataset(json_file, images, keep="with_persons")) == 2
    dp_only = DensePoseCocoDataset(json_file, images, keep="with_densepose")
    assert dp_only.image_ids == [1, 2]


def test_instance_masks_from_polygons_rle_dp_masks_and_boxes(official):
    json_file, images, doc = official
    ds = DensePoseCocoDataset(json_file, images, instance_masks=True)
    masks = by_id(ds, 1).target["masks"]
    assert masks.shape == (2, 60, 80) and masks.dtype == torch.uint8
    polygon = doc["annotations"][1]["segmentation"]
    want = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygon, 60, 80)))
    assert np.array_equal(masks[1].numpy(), want)
    # Person 11 has no segmentation: its dp_masks pasted on its box [10, 5, 30, 40].
    first = masks[0].numpy()
    assert first[:5].sum() == 0 and first[:, :10].sum() == 0 and first[:, 40:].sum() == 0
    _, expected = overlapping_dp_masks()
    cell_rows = np.floor((np.arange(5, 45) + 0.5 - 5) / 40 * 256).astype(int)
    cell_cols = np.floor((np.arange(10, 40) + 0.5 - 10) / 30 * 256).astype(int)
    assert np.array_equal(first[5:45, 10:40], expected[np.ix_(cell_rows, cell_cols)] > 0)
    seg = by_id(ds, 2).target["masks"][0].numpy()
    assert seg.sum() == 50 * 50 and seg[10:60, 20:70].all()


def test_keypoints_in_continuous_pixels(official):
    json_file, images, doc = official
    ds = DensePoseCocoDataset(json_file, images, keypoints=True)
    kp = by_id(ds, 2).target["keypoints"]
    raw = np.array(doc["annotations"][3]["keypoints"], np.float32).reshape(17, 3)
    assert kp.shape == (1, 17, 3) and kp.dtype == torch.float32
    labelled = raw[:, 2] > 0
    np.testing.assert_allclose(kp[0, labelled, :2].numpy(), raw[labelled, :2] + 0.5)
    assert not kp[0, ~labelled].any()  # keypoints 3 and 4 unlabelled: zeros
    plain = by_id(ds, 1).target["keypoints"]
    assert not plain[0].any()  # person 11 has no keypoints


def test_images_are_rgb(tmp_path):
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    doc = {
        "images": [{"id": 5, "file_name": "red.png", "width": 30, "height": 20}],
        "annotations": [],
        "categories": [{"id": 1, "name": "person"}],
    }
    (tmp_path / "d.json").write_text(json.dumps(doc))
    image = DensePoseCocoDataset(tmp_path / "d.json", tmp_path)[0].image
    assert image[0].eq(1).all() and not image[1:].any()


def test_large_images_are_capped(tmp_path):
    write_image(tmp_path / "big.png", 400, 200)
    doc = {
        "images": [{"id": 1, "file_name": "big.png", "width": 400, "height": 200}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [40.0, 20.0, 200.0, 100.0],
             "keypoints": [99.5, 49.5, 2] + [0] * 48, "dp_x": [10.0], "dp_y": [20.0],
             "dp_I": [3], "dp_U": [0.5], "dp_V": [0.25]}
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": [str(k) for k in range(17)]}],
    }  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(doc))
    ds = DensePoseCocoDataset(
        tmp_path / "d.json", tmp_path, max_size=100, instance_masks=True, keypoints=True
    )
    image, target, info = ds[0]
    assert image.shape == (3, 50, 100) and info.scale == 0.25 and ds.info(0) == info
    assert target["boxes"].tolist() == [[10.0, 5.0, 60.0, 30.0]]
    assert target["masks"].shape == (1, 50, 100) and target["masks"][0].sum() == 50 * 25
    assert target["keypoints"][0, 0].tolist() == [25.0, 12.5, 2.0]
    assert target["densepose"].x.tolist() == [10.0]  # box frame: unchanged


# -- bad input -----------------------------------------------------------------------------


def test_a_missing_image_is_named_up_front(official):
    json_file, images, _ = official
    (images / "b.jpg").unlink()
    with pytest.raises(DatasetError, match=r"b\.jpg: image 2, file_name = 'b\.jpg': image file"):
        DensePoseCocoDataset(json_file, images)
    ds = DensePoseCocoDataset(json_file, images, check_files=False)
    with pytest.raises(DatasetError, match=r"b\.jpg: image 2, file_name.*not found"):
        ds[1]


def test_a_corrupt_image_is_named(official):
    json_file, images, _ = official
    (images / "a.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    ds = DensePoseCocoDataset(json_file, images)
    with pytest.raises(DatasetError, match=r"a\.jpg: image 1, file_name.*cannot be decoded"):
        ds[0]


def test_an_image_of_the_wrong_size_is_named(official):
    json_file, images, _ = official
    write_image(images / "a.jpg", 81, 60)
    with pytest.raises(DatasetError, match=r"a\.jpg: image 1.*81 x 60.*says 80 x 60"):
        DensePoseCocoDataset(json_file, images)[0]


def rewrite(json_file, change) -> None:
    doc = json.loads(json_file.read_text())
    change(doc)
    json_file.write_text(json.dumps(doc))


def test_wrong_field_types_are_named(official):
    json_file, images, _ = official

    def damage(doc):
        doc["annotations"][0]["bbox"] = "10 5 30 40"
        doc["annotations"][3]["dp_U"][2] = "0.5"
        doc["images"][1]["width"] = 96.5

    rewrite(json_file, damage)
    with pytest.raises(DatasetError) as caught:
        DensePoseCocoDataset(json_file, images)
    text = str(caught.value)
    assert "3 problems" in text
    assert "annotation 11, bbox = '10 5 30 40'" in text
    assert "annotation 21, dp_U[2] = '0.5': must be a number" in text
    assert "image 2, width = 96.5" in text
    assert str(json_file) in text


def test_dp_lists_of_unequal_length_are_named(official):
    json_file, images, _ = official
    rewrite(json_file, lambda doc: doc["annotations"][0]["dp_V"].pop())
    with pytest.raises(DatasetError, match=r"annotation 11, dp_x\.\.dp_V.*equal length"):
        DensePoseCocoDataset(json_file, images)


def test_a_damaged_dp_mask_is_named_even_unvalidated(official):
    json_file, images, _ = official
    rewrite(json_file, lambda d: d["annotations"][0]["dp_masks"][1].update(counts="0000!!"))
    with pytest.raises(DatasetError, match=r"annotation 11, dp_masks\[1\]"):
        DensePoseCocoDataset(json_file, images)
    ds = DensePoseCocoDataset(json_file, images, validate=False)
    with pytest.raises(DatasetError, match=r"densepose\.json: annotation 11, dp_masks"):
        ds[0]


def test_a_missing_or_broken_json_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"nothing\.json: file not found"):
        DensePoseCocoDataset(tmp_path / "nothing.json", tmp_path)
    (tmp_path / "cut.json").write_text('{"images": [')
    with pytest.raises(DatasetError, match=r"cut\.json: line 1.*not valid JSON"):
        DensePoseCocoDataset(tmp_path / "cut.json", tmp_path)


def test_bad_arguments_are_refused(official):
    json_file, images, _ = official
    with pytest.raises(ValueError, match="points_per_person"):
        DensePoseCocoDataset(json_file, images, points="dense_sample")
    with pytest.raises(ValueError, match="needs per-pixel ground truth"):
        DensePoseCocoDataset(json_file, images, points="dense")
    with pytest.raises(ValueError, match="points must be"):
        DensePoseCocoDataset(json_file, images, points="all")  # type: ignore[arg-type]


def test_unvalidated_files_lose_empty_boxes_and_name_bad_ones(official):
    json_file, images, _ = official
    rewrite(json_file, lambda doc: doc["annotations"][1]["bbox"].__setitem__(2, 0.0))
    ds = DensePoseCocoDataset(json_file, images, validate=False)
    assert ds.stats.empty_boxes_dropped == 1 and len(by_id(ds, 1).target["boxes"]) == 1
    rewrite(json_file, lambda doc: doc["annotations"][0].__setitem__("bbox", "wide"))
    with pytest.raises(DatasetError, match=r"annotation 11, bbox = 'wide'"):
        DensePoseCocoDataset(json_file, images, validate=False)
