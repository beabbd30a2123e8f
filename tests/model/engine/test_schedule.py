"""Warm-up then steps, like detectron2's WarmupMultiStepLR."""

from __future__ import annotations

import pytest

from model.engine.schedule import lr_factor


def test_warmup_rises_linearly_then_steps_divide():
    f = {
        it: lr_factor(it, steps=[10, 20], gamma=0.1, warmup_iters=4, warmup_factor=0.1)
        for it in (0, 2, 4, 9, 10, 19, 20, 30)
    }
    assert f[0] == pytest.approx(0.1)
    assert f[2] == pytest.approx(0.55)
    assert f[4] == f[9] == pytest.approx(1.0)
    assert f[10] == f[19] == pytest.approx(0.1)
    assert f[20] == f[30] == pytest.approx(0.01)
