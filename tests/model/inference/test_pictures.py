"""Prediction pictures: parts in the chart colours, U / V contours, the uncertainty panel."""

from __future__ import annotations

import numpy as np
import torch

from annotator.surface.parts import FINE_COLORS
from model.inference.pictures import prediction_picture
from model.structures import DensePoseResult


def result(with_sigma: bool) -> DensePoseResult:
    labels = torch.zeros(40, 30, dtype=torch.uint8)
    labels[5:35, 5:25] = 2  # torso front
    u = torch.linspace(0, 1, 30).expand(40, 30)
    v = torch.linspace(0, 1, 40)[:, None].expand(40, 30)
    uv = torch.stack([u, v]) * (labels > 0)
    conf = {"sigma_2": torch.rand(40, 30)} if with_sigma else None
    return DensePoseResult(
        box=(10, 20, 30, 40), labels=labels, uv=uv.contiguous(), confidences=conf
    )


def test_parts_contours_and_uncertainty():
    image = np.full((80, 60, 3), 100, np.uint8)
    plain = prediction_picture(image, [result(False)], [0.9], min_side=80)
    assert plain.shape == (80, 120, 3)
    parts = plain[:, :60]
    expected = (0.35 * 100 + 0.65 * FINE_COLORS[2]).astype(np.uint8)
    assert np.array_equal(parts[40, 25], expected)  # inside the torso, blended with the image
    contours = plain[:, 60:]
    inside = contours[25:55, 15:35].reshape(-1, 3)
    assert (inside == (255, 120, 40)).all(axis=1).any()  # a U line
    assert (inside == (60, 180, 255)).all(axis=1).any()  # a V line
    with_sigma = prediction_picture(image, [result(True)], [0.9], min_side=80)
    assert with_sigma.shape == (80, 180, 3)  # a third panel for the uncertainty
    panel = with_sigma[:, 120:]
    assert (panel[2, 2] == 30).all()  # outside the person: the image, dimmed to 30 %
    person = panel[25:55, 15:35].reshape(-1, 3)
    assert len(np.unique(person, axis=0)) > 20  # inside: the uncertainty in colour


def test_small_images_are_enlarged_by_a_whole_factor():
    image = np.full((80, 60, 3), 100, np.uint8)
    picture = prediction_picture(image, [result(False)], [0.9])  # 80 px: x6 for 480
    assert picture.shape == (480, 720, 3)
    parts = picture[:, :360]
    expected = (0.35 * 100 + 0.65 * FINE_COLORS[2]).astype(np.uint8)
    assert np.array_equal(parts[240, 150], expected)  # the torso, enlarged with its box
