"""Horizontal flip of images and every target; the size cap; draws from the generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.surface.parts import FLIP_COARSE
from model.data.dataset import DensePoseCocoDataset
from model.data.transforms import KEYPOINT_FLIP, TrainTransform, cap_size, hflip
from tests.model.data.builders import official_style


@pytest.fixture()
def samples(tmp_path):
    json_file, images, _ = official_style(tmp_path)
    ds = DensePoseCocoDataset(json_file, images, instance_masks=True, keypoints=True)
    return [ds[0], ds[1]]


def test_coco_keypoints_swap_left_and_right():
    assert KEYPOINT_FLIP == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def test_flip_mirrors_image_boxes_masks_and_keypoints(samples, flip_table):
    image, target, _ = samples[1]  # 96 x 72, one person with keypoints 3 and 4 unlabelled
    flipped, out = hflip(image, target, flip_table)
    assert torch.equal(flipped, image.flip(-1))
    assert target["boxes"].tolist() == [[20.0, 10.0, 70.0, 60.0]]
    assert out["boxes"].tolist() == [[26.0, 10.0, 76.0, 60.0]]
    assert torch.equal(out["masks"], target["masks"].flip(-1))
    kp, new = target["keypoints"][0], out["keypoints"][0]
    assert new[1].tolist() == [96 - kp[2, 0].item(), kp[2, 1].item(), 2.0]  # left eye
    assert new[2].tolist() == [96 - kp[1, 0].item(), kp[1, 1].item(), 2.0]
    assert not new[3].any() and not new[4].any()  # unlabelled ears stay (0, 0, 0)


def test_flip_mirrors_densepose_points_and_part_masks(samples, flip_table):
    image, target, _ = samples[0]
    dp = target["densepose"]
    _, out = hflip(image, target, flip_table)
    new = out["densepose"]
    assert torch.equal(new.x, 256.0 - dp.x) and torch.equal(new.y, dp.y)
    assert torch.equal(new.person, dp.person) and torch.equal(new.has_points, dp.has_points)
    i, u, v = flip_table.flip_points(dp.i, dp.u, dp.v)
    assert torch.equal(new.i, i) and torch.equal(new.u, u) and torch.equal(new.v, v)
    want = torch.as_tensor(FLIP_COARSE)[dp.masks.flip(-1).long()].to(torch.uint8)
    assert torch.equal(new.masks, want) and new.masks.dtype == torch.uint8
    # The right hand (part 2) at columns 100..159 is a left hand (3) at columns 96..155.
    assert int(new.masks[0, 130, 96]) == 3 and int(new.masks[0, 130, 155]) == 3
    assert int(new.masks[0, 130, 95]) == 1 and int(new.masks[0, 130, 156]) == 1  # torso
    reference = hflip(image, target, flip_table, exact=False)[1]["densepose"]
    assert torch.equal(reference.i, flip_table.flip_points(dp.i, dp.u, dp.v, exact=False)[0])


def test_two_flips_give_back_the_sample(samples, flip_table):
    image, target, _ = samples[0]
    once = hflip(image, target, flip_table)
    back_image, back = hflip(*once, flip_table)
    assert torch.equal(back_image, image)
    for key in ("boxes", "masks", "keypoints", "labels"):
        assert torch.equal(back[key], target[key])
    dp, dp2 = target["densepose"], back["densepose"]
    assert torch.allclose(dp2.x, dp.x, atol=1e-4) and torch.equal(dp2.masks, dp.masks)
    # Random (I, U, V), many off the charts' covered cells: back to the same chart mostly.
    assert (dp2.i == dp.i).float().mean() >= 0.75


def test_the_transform_draws_its_flip_from_the_generator(samples, flip_table):
    image, target, _ = samples[0]
    always = TrainTransform(flip_table=flip_table, flip_prob=1.0)
    never = TrainTransform(flip_table=flip_table, flip_prob=0.0)
    assert torch.equal(always(image, target, np.random.default_rng(0))[0], image.flip(-1))
    rng = np.random.default_rng(0)
    assert never(image, target, rng)[0] is image
    assert rng.random() == pytest.approx(np.random.default_rng(0).random(2)[1])  # one draw
    half = TrainTransform(flip_table=flip_table)
    flips = [
        torch.equal(half(image, target, np.random.default_rng(s))[0], image.flip(-1))
        for s in range(40)
    ]
    again = [
        torch.equal(half(image, target, np.random.default_rng(s))[0], image.flip(-1))
        for s in range(40)
    ]
    assert flips == again and 10 < sum(flips) < 30
    with pytest.raises(ValueError, match="flip_table"):
        TrainTransform(flip_table=None)


def test_the_size_cap_leaves_small_images_alone(samples):
    image = np.zeros((60, 80, 3), np.uint8)
    target = samples[0].target
    same, out, scale = cap_size(image, target, 80)
    assert same is image and out is target and scale == 1.0
    small, out, scale = cap_size(image, target, 40)
    assert small.shape == (30, 40, 3) and scale == 0.5
    assert torch.equal(out["boxes"], target["boxes"] / 2)
    assert out["masks"].shape == (2, 30, 40) and out["densepose"] is target["densepose"]
