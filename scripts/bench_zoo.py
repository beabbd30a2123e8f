"""CPU inference time and peak memory of detectron2's 27 DensePose models in the studio.

    .venv/bin/python scripts/bench_zoo.py [--size 800] [--detections 5] [--images DIR] [--count 3]
        [--models R_50_FPN_s1x,...] [--out runs/bench_zoo.json]

Each model's architecture is built from its zoo configuration (``model/zoo``) with random
weights (weights do not change the time) and runs, in a process of its own (so the peak
memory is its own), on synthetic images at ``--size`` (shorter side; detectron2's test size
is 800), as ``dpstudio model predict`` runs it, keeping exactly ``--detections`` boxes per
image so that every model's per-box heads do the same work (detectron2's published timings
are on trained models, which find few people per image). Printed per model: its published box
/ GPS / GPSm AP and V100 inference time next to the median CPU time per image here, by default
and with ``--fast``, and the peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One model, in this fresh process."""
    import numpy as np
    import torch
    from PIL import Image

    from model.engine.runlog import memory_mb
    from model.inference.predictor import Predictor, for_inference
    from model.modeling.build import build_model
    from model.zoo.catalog import zoo_config, zoo_model

    torch.manual_seed(0)
    cfg = zoo_config(
        zoo_model(spec["name"]),
        [
            f"model.min_size_test={spec['size']}",
            f"model.detections_per_img={spec['detections']}",
            "model.box_score_thresh=0.0",
        ],
    )
    model = build_model(cfg.model).eval()
    files = sorted(Path(spec["images"]).glob("*.jpg"))[: spec["count"]]
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    _calibrate(model, images[0])
    out = {}
    for fast in (False, True):
        for_inference(model, fast=fast)
        predictor = Predictor(model, score_threshold=0.0)
        predictor(images[0])  # warm-up
        times = []
        for image in images:
            start = time.perf_counter()
            found = predictor(image)
            times.append(time.perf_counter() - start)
            assert len(found) == spec["detections"], len(found)
        out["fast_s" if fast else "seconds"] = statistics.median(times)
    out["memory_mb"] = memory_mb(torch.device("cpu"))
    return out


def _calibrate(model: Any, rgb: Any) -> None:
    """Random weights that give finite boxes inside the image (the time of a model does not
    depend on its weights, but detections it cannot make do not take time): every frozen
    batch norm takes the statistics of its input on one image, box deltas are scaled down."""
    import torch

    from model.inference.predictor import image_tensor
    from model.modeling.backbone import FrozenBatchNorm2d

    def set_statistics(module: Any, inputs: tuple[torch.Tensor, ...]) -> None:
        module.running_mean.copy_(inputs[0].mean(dim=(0, 2, 3)))
        module.running_var.copy_(inputs[0].var(dim=(0, 2, 3)) + 1e-3)

    norms = [m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    hooks = [m.register_forward_pre_hook(set_statistics) for m in norms]
    with torch.no_grad():
        model([image_tensor(rgb)])
        for hook in hooks:
            hook.remove()
        model.rpn.head.bbox_pred.weight.mul_(0.01)
        model.roi_heads.box_predictor.bbox_pred.weight.mul_(0.01)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="folder of .jpg images (a synth folder's)")
    parser.add_argument("--count", type=int, default=3, help="timed images per model")
    parser.add_argument("--size", type=int, default=800)
    parser.add_argument("--detections", type=int, default=5)
    parser.add_argument("--models", help="comma-separated zoo names (default: all 27)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    from model.zoo.catalog import ZOO

    if args.images is None:
        synth = ROOT / "out" / "bench_zoo_synth"
        if not (synth / "images").is_dir():
            command = [sys.executable, "-m", "annotator.cli", "synth", "--count", "4"]
            command += ["--size", "800", "--out", str(synth), "--seed", "23"]
            subprocess.run(command, check=True, cwd=ROOT)
        args.images = synth / "images"
    names = args.models.split(",") if args.models else [m.name for m in ZOO]
    print(
        f"bench_zoo: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.size} px, "
        f"{args.detections} boxes per image, median of {args.count} images"
    )
    print(f"{'model':44s} {'box':>5s} {'GPS':>5s} {'GPSm':>5s} {'V100 s':>7s} "
          f"{'CPU s':>7s} {'fast s':>7s} {'peak MB':>8s}")  # fmt: skip
    rows = []
    for name in names:
        m = next(z for z in ZOO if z.name == name)
        spec = {"name": name, "images": str(args.images), "count": args.count}
        figures = measure(spec | {"size": args.size, "detections": args.detections})
        rows.append({"name": name, **figures})
        print(
            f"{name:44s} {m.box_ap:5.1f} {m.gps_ap:5.1f} {m.gpsm_ap:5.1f} {m.infer_s_image:7.3f} "
            f"{figures['seconds']:7.2f} {figures['fast_s']:7.2f} {figures['memory_mb']:8.0f}",
            flush=True,
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
