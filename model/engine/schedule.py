"""Learning-rate schedule: linear warm-up, then steps (detectron2's WarmupMultiStepLR) or a
cosine to zero (its WarmupCosineLR)."""

from __future__ import annotations

import bisect
import math

import torch

SCHEDULES = ("steps", "cosine")


def lr_factor(
    iteration: int,
    *,
    steps: list[int],
    gamma: float,
    warmup_iters: int,
    warmup_factor: float,
    schedule: str = "steps",
    max_iter: int = 0,
) -> float:
    """Multiplier of the base learning rate at ``iteration`` (0-based).

    Warm-up rises linearly from ``warmup_factor`` at iteration 0 to 1 at ``warmup_iters``;
    then the rate is multiplied by ``gamma`` at each of ``steps`` ("steps"), or follows
    ``(1 + cos(pi * iteration / max_iter)) / 2`` ("cosine").
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"solver.lr_schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * iteration / max(1, max_iter)))
    else:
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
    schedule: str = "steps",
    max_iter: int = 0,
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(it: int) -> float:
        return lr_factor(
            it,
            steps=steps,
            gamma=gamma,
            warmup_iters=warmup_iters,
            warmup_factor=warmup_factor,
            schedule=schedule,
            max_iter=max_iter,
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
