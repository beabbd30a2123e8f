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


def test_cosine_schedule_after_warm_up():
    kw = dict(steps=[], gamma=0.1, warmup_iters=10, warmup_factor=0.1, schedule="cosine")
    assert lr_factor(0, max_iter=100, **kw) == pytest.approx(0.1)
    assert lr_factor(50, max_iter=100, **kw) == pytest.approx(0.5)
    assert lr_factor(100, max_iter=100, **kw) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor(5, max_iter=100, **(kw | {"schedule": "linear"}))


def test_adamw_keeps_norm_layers_free_of_decay():
    import torch
    from torch import nn

    from model.config import SolverConfig
    from model.engine.trainer import build_optimizer

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4))
    opt = build_optimizer(net, SolverConfig(optimizer="adamw", base_lr=1e-3, weight_decay=0.05))
    assert isinstance(opt, torch.optim.AdamW)
    decays = sorted(g["weight_decay"] for g in opt.param_groups)
    assert decays == [0.0, 0.05] and len(opt.param_groups[1]["params"]) == 2
