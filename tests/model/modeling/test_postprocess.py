"""Head outputs to per-box (I, U, V), as the reference converts them."""

from __future__ import annotations

import torch

from model.modeling.postprocess import int_box, to_results
from model.structures import DensePoseChartOutput


def test_int_box_truncates_like_the_reference():
    assert int_box(torch.tensor([10.7, 20.2, 50.9, 41.1])) == (10, 20, 40, 20)
    assert int_box(torch.tensor([5.0, 5.0, 5.3, 5.2])) == (5, 5, 1, 1)


def test_labels_need_the_coarse_mask_and_uv_come_from_the_label_channel():
    s = 4
    coarse = torch.zeros(1, 2, s, s)
    coarse[0, 1, :, 2:] = 5.0  # person on the right half only
    fine = torch.zeros(1, 25, s, s)
    fine[0, 7] = 3.0  # chart 7 everywhere
    u = torch.zeros(1, 25, s, s)
    u[0, 7] = 0.25
    u[0, 3] = 0.9  # another chart's U must not leak
    v = torch.full((1, 25, s, s), 0.5)
    out = DensePoseChartOutput(coarse_segm=coarse, fine_segm=fine, u=u, v=v)
    (result,) = to_results(out, torch.tensor([[0.0, 0.0, 8.0, 8.0]]))
    assert result.box == (0, 0, 8, 8)
    labels = result.labels
    assert labels[:, :3].eq(0).all() and labels[:, 5:].eq(7).all()
    assert torch.allclose(result.uv[0][labels == 7], torch.tensor(0.25))
    assert result.uv[:, labels == 0].eq(0).all()
