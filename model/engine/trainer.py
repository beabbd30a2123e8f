"""The training loop: one code path for one process, several, CPU and GPU.

Each iteration takes ``ims_per_batch`` images over all processes. A process runs them as
``accumulation`` micro-batches of ``micro_batch`` images and averages their gradients; DDP then
averages over processes. The torch generator is re-seeded before every micro-batch from
(seed, iteration, micro-batch number over all processes), and the data stream is a pure
function of the seed and the position (:mod:`model.engine.stream`). Therefore:

* a resumed run repeats exactly the losses of an uninterrupted one;
* two processes with two images each compute the same update as one process with four
  images in two micro-batches (DDP averages exactly what accumulation averages).

A step whose gradient norm is not finite is skipped (and logged); a stop request (SIGINT,
SIGTERM, or ``stop_file`` appearing) ends the run after the current iteration with a
checkpoint from which ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.config import Config, SolverConfig
from model.engine import distributed as dist_utils
from model.engine.checkpoint import atlas_identity, rng_state, save_checkpoint
from model.engine.runlog import RunLog, memory_mb
from model.engine.schedule import build_scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchPlan:
    """How a global batch is split.

    Attributes:
        micro_batch: images per forward pass.
        accumulation: forward passes per process and iteration.
    """

    micro_batch: int
    accumulation: int

    @staticmethod
    def create(solver: SolverConfig, processes: int) -> BatchPlan:
        per_process, rest = divmod(solver.ims_per_batch, processes)
        if rest or per_process == 0:
            raise ValueError(
                f"solver.ims_per_batch ({solver.ims_per_batch}) must be a multiple "
                f"of the number of processes ({processes})"
            )
        micro = solver.micro_batch or per_process
        accumulation, rest = divmod(per_process, micro)
        if rest or accumulation == 0:
            raise ValueError(
                f"solver.micro_batch ({micro}) must divide the images per process ({per_process})"
            )
        return BatchPlan(micro, accumulation)


def micro_batch_seed(seed: int, iteration: int, micro_index: int) -> int:
    """The torch seed of one micro-batch (the same whatever the process layout)."""
    return (seed * 1_000_003 + iteration * 9_973 + micro_index) % (2**63 - 1)


class StopRequest:
    """SIGINT / SIGTERM (or a stop file) asks the loop to stop after the current iteration."""

    def __init__(self, stop_file: Path | None = None) -> None:
        self.requested = False
        self.stop_file = stop_file
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def poll(self) -> bool:
        if self.stop_file is not None and self.stop_file.exists():
            self.requested = True
        return self.requested

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def build_optimizer(model: nn.Module, solver: SolverConfig) -> torch.optim.Optimizer:
    """SGD with momentum (detectron2's) or AdamW; no weight decay on normalisation layers."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module in model.modules():
        is_norm = isinstance(module, nn.GroupNorm | nn.BatchNorm2d | nn.LayerNorm)
        for p in module.parameters(recurse=False):
            if p.requires_grad:
                (no_decay if is_norm else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": solver.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if solver.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=solver.base_lr)
    if solver.optimizer != "sgd":
        raise ValueError(f"solver.optimizer must be sgd or adamw, got {solver.optimizer!r}")
    return torch.optim.SGD(groups, lr=solver.base_lr, momentum=solver.momentum)


@dataclass
class TrainState:
    """Everything the loop mutates, and what a checkpoint saves of it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler | None
    iteration: int = 0
    history: list[float] = field(default_factory=list)

    def training_state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": rng_state(),
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        from model.engine.checkpoint import set_rng_state

        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])


class Trainer:
    """Runs the loop for a built model and a data stream.

    Args:
        config: the resolved config (saved in every checkpoint).
        state: model (on its device), optimizer, scheduler, scaler, start iteration.
        batches: yields this process's micro-batches ``(images, targets)`` in order.
        world: the process layout.
        run_dir: where checkpoints and logs go.
        runlog: the run's logs.
        atlas_id: the atlas identity saved with checkpoints.
        evaluate: called with the model every ``eval_period`` iterations; returns figures.
        stop: the stop request.
    """

    def __init__(
        self,
        *,
        config: Config,
        state: TrainState,
        batches: Iterator[tuple[list[torch.Tensor], list[dict[str, Any]]]],
        world: dist_utils.World,
        run_dir: Path,
        runlog: RunLog,
        atlas_id: dict[str, str],
        evaluate: Callable[[nn.Module], dict[str, Any]] | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        self.cfg = config
        self.solver = config.solver
        self.state = state
        self.batches = batches
        self.world = world
        self.run_dir = run_dir
        self.runlog = runlog
        self.atlas_id = atlas_id
        self.evaluate = evaluate
        self.stop = stop or StopRequest()
        self.plan = BatchPlan.create(self.solver, world.size)
        model = state.model
        if world.distributed:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[world.device] if world.device.type == "cuda" else None
            )
        self.net = model
        self.params = [p for p in state.model.parameters() if p.requires_grad]

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.solver.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.world.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.world.device.type, dtype=dtype)

    def run_iteration(self) -> dict[str, Any]:
        """One optimisation step; returns what to log."""
        st, plan, world = self.state, self.plan, self.world
        t_start = time.perf_counter()
        data_time = 0.0
        sums: dict[str, float] = {}
        for a in range(plan.accumulation):
            t0 = time.perf_counter()
            images, targets = next(self.batches)
            images = [im.to(world.device, non_blocking=True) for im in images]
            targets = [_to_device(t, world.device) for t in targets]
            data_time += time.perf_counter() - t0
            torch.manual_seed(
                micro_batch_seed(self.cfg.seed, st.iteration, world.rank * plan.accumulation + a)
            )
            sync = a == plan.accumulation - 1 or not world.distributed
            quiet = contextlib.nullcontext() if sync else self.net.no_sync()  # type: ignore[operator]
            with quiet, self._autocast():
                losses = self.net(images, targets)
                loss = sum(losses.values()) / plan.accumulation
            if st.scaler is not None:
                st.scaler.scale(loss).backward()
            else:
                loss.backward()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / plan.accumulation
        skipped = self._step()
        record: dict[str, Any] = {
            "losses": sums,
            "total_loss": sum(sums.values()),
            "lr": st.optimizer.param_groups[0]["lr"],
            "time": time.perf_counter() - t_start,
            "data_time": data_time,
        }
        st.scheduler.step()
        st.iteration += 1
        if skipped:
            record["skipped"] = True
        return record

    def _step(self) -> bool:
        """Clip, check and apply the accumulated gradients; True if the step was skipped."""
        st = self.state
        if st.scaler is not None:
            st.scaler.unscale_(st.optimizer)
        if self.solver.clip_grad_value > 0:  # before the norm is measured, as detectron2
            torch.nn.utils.clip_grad_value_(self.params, self.solver.clip_grad_value)
        max_norm = self.solver.clip_grad_norm if self.solver.clip_grad_norm > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        skipped = dist_utils.any_true(not bool(torch.isfinite(norm)), self.world)
        if st.scaler is not None:
            st.scaler.step(st.optimizer)  # skips by itself on inf / NaN
            st.scaler.update()
        elif not skipped:
            st.optimizer.step()
        st.optimizer.zero_grad(set_to_none=True)
        return skipped

    def checkpoint(self, name: str) -> Path | None:
        if not self.world.is_main:
            return None
        st = self.state
        path = save_checkpoint(
            self.run_dir / name,
            config=self.cfg.to_dict(),
            atlas=self.atlas_id,
            iteration=st.iteration,
            model=st.model.state_dict(),
            training=st.training_state(),
        )
        self.runlog.event("checkpoint", iteration=st.iteration, path=path.name)
        return path

    def train(self) -> str:
        """Run to ``max_iter`` or a stop request; returns "done" or "stopped"."""
        st, solver = self.state, self.solver
        self.net.train()
        with self.stop:
            while st.iteration < solver.max_iter:
                record = self.run_iteration()
                record["memory_mb"] = memory_mb(self.world.device)
                record["losses"] = dist_utils.mean_over_processes(record["losses"], self.world)
                record["total_loss"] = sum(record["losses"].values())
                st.history.append(record["total_loss"])
                it = st.iteration
                if record.get("skipped"):
                    self.runlog.event(
                        "skipped",
                        iteration=it,
                        reason="gradient norm is not finite (NaN or inf loss)",
                    )
                if it % solver.log_period == 0 or it == 1 or it == solver.max_iter:
                    self.runlog.step(it, record)
                if solver.checkpoint_period and it % solver.checkpoint_period == 0:
                    self.checkpoint(f"model_{it:07d}.pth")
                if self.evaluate and solver.eval_period and it % solver.eval_period == 0:
                    self._evaluate()
                if dist_utils.any_true(self.stop.poll(), self.world):
                    self.checkpoint(f"model_{it:07d}.pth")
                    self.runlog.event("stopped", iteration=it, max_iter=solver.max_iter)
                    return "stopped"
        self.checkpoint("model_final.pth")
        if self.evaluate and solver.eval_period and st.iteration % solver.eval_period:
            self._evaluate()
        self.runlog.event("done", iteration=st.iteration)
        return "done"

    def _evaluate(self) -> None:
        assert self.evaluate is not None
        self.state.model.eval()
        if self.world.is_main:
            metrics = self.evaluate(self.state.model)
            self.runlog.event("evaluation", iteration=self.state.iteration, metrics=metrics)
        dist_utils.barrier(self.world)
        self.net.train()


def build_state(model: nn.Module, cfg: Config, device: torch.device) -> TrainState:
    solver = cfg.solver
    optimizer = build_optimizer(model, solver)
    scheduler = build_scheduler(
        optimizer,
        steps=solver.steps,
        gamma=solver.gamma,
        warmup_iters=solver.warmup_iters,
        warmup_factor=solver.warmup_factor,
        schedule=solver.lr_schedule,
        max_iter=solver.max_iter,
    )
    scaler = torch.amp.GradScaler("cuda") if solver.amp and device.type == "cuda" else None
    return TrainState(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler)


def _to_device(target: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in target.items()}


__all__ = ["BatchPlan", "StopRequest", "TrainState", "Trainer", "atlas_identity", "build_state"]
