"""Measure one run for the comparison, in a process of its own (its peak memory is its own).

For a run folder: its checkpoint's accuracy on the comparison data (the reference AP, the
paper's pointwise figures, the dense figures on synthetic data, per-part errors), its size,
its inference time per image and its training time per iteration, all on this machine now.
``python -m model.compare.measure SPEC_JSON`` prints the figures as one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from model.config import Config
    from model.evaluation.distances import PointDistance
    from model.inference.on_dataset import ImageEntry


def _inference_seconds(model: nn.Module, entries: list[ImageEntry], count: int) -> float:
    from model.inference.on_dataset import read_image
    from model.inference.predictor import Predictor

    predictor = Predictor(model, score_threshold=0.05)
    images = [read_image(e.path) for e in entries[: count + 1]]
    predictor(images[0])  # warm-up
    times = []
    for image in images[1:] or images:
        start = time.perf_counter()
        predictor(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _train_seconds(cfg: Config, data: Path, images: Path, iterations: int) -> float:
    """Median seconds of a training iteration of a fresh copy of the run's network."""
    from annotator.surface.atlas import load_atlas
    from model.engine.distributed import World
    from model.engine.stream import micro_batches, train_transform, training_dataset
    from model.engine.trainer import BatchPlan, build_state
    from model.modeling.build import build_model

    atlas = load_atlas(cfg.data.body)
    cfg.data.num_workers = 0
    plan = BatchPlan.create(cfg.solver, 1)
    dataset = training_dataset(cfg, data, images, atlas)
    batches = micro_batches(
        dataset,
        plan=plan,
        world=World(),
        seed=0,
        start_iter=0,
        num_workers=0,
        transform=train_transform(cfg, atlas),
    )
    model = build_model(cfg.model).train()
    state = build_state(model, cfg, torch.device("cpu"))
    times = []
    for it in range(iterations + 1):
        start = time.perf_counter()
        for _ in range(plan.accumulation):
            imgs, targets = next(batches)
            losses = model(imgs, targets)
            (sum(losses.values()) / plan.accumulation).backward()
        state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        if it:  # the first iteration warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _distance(reference_data: str | None) -> PointDistance | None:
    """The reference geodesics when the comparison asks for them (None: the atlas's)."""
    if reference_data is None:
        return None
    from model.evaluation.reference_geodesics import ReferenceDistance, load_reference_geodesics

    return ReferenceDistance(load_reference_geodesics(reference_data))


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run (see the module docstring)."""
    from model.config import Config
    from model.engine.checkpoint import load_checkpoint
    from model.engine.evaluate import evaluate_model, headline, ruler
    from model.engine.runlog import memory_mb
    from model.inference.on_dataset import read_entries
    from model.inference.predictor import for_inference, load_model
    from model.modeling.build import count_parameters

    torch.set_num_threads(spec.get("threads") or torch.get_num_threads())
    data, images = Path(spec["data"]), Path(spec["images"])
    ckpt = load_checkpoint(spec["run"])
    distance, modes = ruler(ckpt, data, _distance(spec.get("reference_data")))
    if distance is not None and distance.name == "none":
        raise ValueError(f"compare scores GPS, and here {distance.describe()}")
    model, cfg = load_model(ckpt, torch.device("cpu"))
    for_inference(model)
    report = evaluate_model(
        model,
        data,
        images,
        limit=spec.get("limit"),
        atlas_body=ckpt.atlas["body"],
        distance=distance,
        modes=modes,
    )
    entries = read_entries(data, images)
    figures = {
        **headline(report),
        "ap": {mode: s.stats for mode, s in report.ap.items()},
        "per_part_cm": {
            name: stats.mean * 100 for name, stats in report.pointwise.figures.per_coarse.items()
        },
        "rcp": report.pointwise.figures.rcp,
        "parameters": count_parameters(model),
        "iteration": ckpt.iteration,
        "preset": cfg.name,
        "architecture": cfg.model.architecture,
        "infer_s": _inference_seconds(model, entries, spec.get("timed_images", 8)),
    }
    if spec.get("train_iterations", 0) > 0:
        figures["train_s"] = _train_seconds(
            Config.from_dict(ckpt.config), data, images, spec["train_iterations"]
        )
    figures["peak_mb"] = memory_mb(torch.device("cpu"))
    return figures


def main() -> int:
    from model.engine.checkpoint import CheckpointError

    try:
        figures = measure(json.loads(sys.argv[1]))
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(figures, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
