"""Learning-rate schedule: linear warm-up, then steps (detectron2's WarmupMultiStepLR)."""

from __future__ import annotations

import bisect

import torch


def lr_factor(
    iteration: int, *, steps: list[int], gamma: float, warmup_iters: int, warmup_factor: float
) -> float:
    """Multiplier of the base learning rate at ``iteration`` (0-based).

    Warm-up rises linearly from ``warmup_factor`` at iteration 0 to 1 at ``warmup_iters``;
    the rate is multiplied by ``gamma`` at each of ``steps``.
    """
    factor = gamma ** bisect.bisect_right(sorted(steps), iteration)
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        factor *= warmup_factor * (1 - alpha) + alpha
    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    steps: list[int],
    gamma: float,
    warmup_iters: int,
    warmup_factor: float,
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(it: int) -> float:
        return lr_factor(
            it, steps=steps, gamma=gamma, warmup_iters=warmup_iters, warmup_factor=warmup_factor
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
