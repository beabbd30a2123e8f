"""Processes and devices: one process, or several started by torchrun (DDP).

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and the rendezvous address) in each
process's environment; :func:`setup` reads them, joins the process group (NCCL on GPUs, gloo on
the CPU) and picks the process's device. The same code runs a single process when they are
absent, so there is one training path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """Where this process runs.

    Attributes:
        rank: this process, 0..size-1 (0 writes logs and checkpoints).
        size: number of processes.
        local_rank: this process on its machine (its GPU index).
        device: the device it computes on.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` (CUDA when available), ``cuda``, ``cuda:N`` or ``cpu``."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available here; use cpu or auto")
        if requested == "cuda":
            return torch.device("cuda", local_rank)
    return torch.device(requested)


def setup(requested_device: str = "auto") -> World:
    """Join torchrun's process group if started by torchrun; pick the device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=size,
            device_id=device if device.type == "cuda" else None,
        )
    return World(rank=rank, size=size, local_rank=local_rank, device=device)


def teardown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def any_true(flag: bool, world: World) -> bool:
    """True on every process if ``flag`` is true on any (stop requests, skipped steps)."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=world.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_processes(values: dict[str, float], world: World) -> dict[str, float]:
    """Average logged numbers over the processes."""
    if not world.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], device=world.device, dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / world.size for k, v in zip(keys, t.tolist(), strict=True)}
