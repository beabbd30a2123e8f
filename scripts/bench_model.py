"""Benchmark DensePose R-CNN against torchvision's Mask R-CNN with the same backbone.

    .venv/bin/python scripts/bench_model.py [--presets R_18_FPN_cpu MNV3_FPN_cpu R_50_FPN_s1x]
        [--data SYNTH_DIR] [--steps 3] [--images 8]

For each preset: a training step (same backbone, normalisation, image size, batch, RPN and box
settings for both models; the preset's own batch, but at most ``--max-batch``) and inference
per image (both models keep exactly ``--detections`` boxes per image, so their per-box heads
do the same number of boxes: detectron2's published timings are on trained models, which
find few people per image). Each figure is measured in a fresh process, so its peak memory
(resident set on the CPU, allocator peak on a GPU) is its own. The ratios DensePose / Mask
R-CNN are printed next to detectron2's model-zoo ratios (R_50_FPN_s1x DensePose 0.359 s/iter
vs Mask R-CNN R_50_FPN_1x 0.261 s/iter: 1.37x; inference 0.066 vs 0.043 s/image: 1.53x).

Also: the data loader's throughput (images/s, 2 workers, the preset's augmentation) against
what training consumes (images per second of training steps), per preset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DETECTRON2_TRAIN_RATIO = 0.359 / 0.261
DETECTRON2_INFER_RATIO = 0.066 / 0.043


def _batch(data: Path, count: int, cfg: Any, masks: bool) -> tuple[list, list]:
    from annotator.surface.atlas import load_atlas
    from model.engine.stream import training_dataset

    cfg.model.cascade.masks = masks
    dataset = training_dataset(
        cfg, data / "densepose.json", data / "images", load_atlas(cfg.data.body)
    )
    samples = [dataset[k] for k in range(count)]
    return [s.image for s in samples], [s.target for s in samples]


def _mask_rcnn(cfg: Any) -> Any:
    """torchvision's Mask R-CNN built like our DensePose R-CNN (backbone, sizes, RPN, boxes)."""
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    from model.modeling.backbone import build_backbone, fpn_levels

    m = cfg.model
    backbone, _ = build_backbone(
        name=m.backbone, norm=m.backbone_norm, trainable_layers=m.trainable_backbone_layers
    )
    levels = fpn_levels(backbone)
    anchors = AnchorGenerator(
        sizes=tuple((s,) for s in m.anchor_sizes),
        aspect_ratios=((0.5, 1.0, 2.0),) * len(m.anchor_sizes),
    )
    return MaskRCNN(
        backbone,
        num_classes=2,
        min_size=m.min_size_test,
        max_size=m.max_size,
        rpn_anchor_generator=anchors,
        box_roi_pool=MultiScaleRoIAlign(levels, 7, 2),
        mask_roi_pool=MultiScaleRoIAlign(levels, 14, 2),
        rpn_pre_nms_top_n_train=m.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=m.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=m.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=m.rpn_post_nms_top_n_test,
        box_batch_size_per_image=m.box_batch_size_per_image,
        box_score_thresh=0.0,
        box_detections_per_img=m.detections_per_img,
    )


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    import torch

    from model.config import load_config
    from model.engine.runlog import memory_mb
    from model.modeling.build import build_model

    torch.manual_seed(0)
    cfg = load_config(
        spec["preset"],
        [
            f"model.min_size_train=[{spec['size']}]",
            f"model.detections_per_img={spec['detections']}",
            "model.box_score_thresh=0.0",
            "model.backbone_norm=gn" if spec["gn"] else "model.backbone_norm=frozen_bn",
        ],
    )
    cfg.model.min_size_test = spec["size"]
    images, targets = _batch(Path(spec["data"]), spec["batch"], cfg, spec["kind"] == "mask")
    model = build_model(cfg.model) if spec["kind"] == "densepose" else _mask_rcnn(cfg)
    if spec["mode"] == "train":
        model.train()
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        times = []
        for step in range(spec["steps"] + 1):
            start = time.perf_counter()
            losses = model(images, targets)
            sum(losses.values()).backward()
            opt.step()
            opt.zero_grad()
            if step:  # the first step warms up allocators and kernels
                times.append(time.perf_counter() - start)
        value = statistics.median(times)
    else:
        model.eval()
        times = []
        with torch.no_grad():
            model(images[:1])
            for image in images:
                start = time.perf_counter()
                out = model([image])
                times.append(time.perf_counter() - start)
                assert len(out[0]["boxes"]) == spec["detections"], len(out[0]["boxes"])
        value = statistics.median(times)
    return {"seconds": value, "memory_mb": memory_mb(torch.device("cpu"))}


def loader_rate(data: Path, preset: str, size: int, images: int) -> float:
    """Images per second the training loader delivers (2 workers, augmentation on)."""
    from annotator.surface.atlas import load_atlas
    from model.config import load_config
    from model.engine.distributed import World
    from model.engine.stream import micro_batches, train_transform, training_dataset
    from model.engine.trainer import BatchPlan

    cfg = load_config(preset, [f"model.min_size_train=[{size}]"])
    atlas = load_atlas(cfg.data.body)
    dataset = training_dataset(cfg, data / "densepose.json", data / "images", atlas)
    batches = micro_batches(
        dataset,
        plan=BatchPlan(4, 1),
        world=World(),
        seed=0,
        start_iter=0,
        num_workers=2,
        transform=train_transform(cfg, atlas),
    )
    next(batches)
    start = time.perf_counter()
    for _ in range(images // 4):
        next(batches)
    return (images // 4) * 4 / (time.perf_counter() - start)


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


def bench_preset(args: argparse.Namespace, preset: str) -> None:
    from model.config import load_config

    cfg = load_config(preset)
    batch = min(cfg.solver.ims_per_batch, args.max_batch)
    size = cfg.model.min_size_test
    base = {
        "preset": preset,
        "data": str(args.data),
        "size": size,
        "steps": args.steps,
        "detections": args.detections,
        "gn": cfg.model.backbone_norm == "gn",
    }
    figures = {}
    for kind in ("mask", "densepose"):
        figures[kind, "train"] = measure({**base, "kind": kind, "mode": "train", "batch": batch})
        figures[kind, "infer"] = measure(
            {**base, "kind": kind, "mode": "infer", "batch": args.images}
        )
    tr = figures["densepose", "train"]["seconds"] / figures["mask", "train"]["seconds"]
    inf = figures["densepose", "infer"]["seconds"] / figures["mask", "infer"]["seconds"]
    print(
        f"\n{preset} ({cfg.model.backbone}, {size} px, batch {batch}, "
        f"{args.detections} boxes per image in inference)"
    )
    for kind, name in (("mask", "Mask R-CNN (torchvision)"), ("densepose", "DensePose R-CNN")):
        t, i = figures[kind, "train"], figures[kind, "infer"]
        print(
            f"  {name:26s} train {t['seconds']:6.2f} s/iter ({t['memory_mb']:6.0f} MB)   "
            f"inference {i['seconds'] * 1000:7.1f} ms/image ({i['memory_mb']:6.0f} MB)"
        )
    print(
        f"  ratio DensePose / Mask R-CNN: train {tr:.2f}x (detectron2 "
        f"{DETECTRON2_TRAIN_RATIO:.2f}x), inference {inf:.2f}x (detectron2 "
        f"{DETECTRON2_INFER_RATIO:.2f}x)"
    )
    consumed = batch / figures["densepose", "train"]["seconds"]
    delivered = loader_rate(args.data, preset, size, args.loader_images)
    print(
        f"  data loader {delivered:.1f} images/s (2 workers) vs training {consumed:.2f} "
        f"images/s: {delivered / consumed:.0f}x headroom"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["R_18_FPN_cpu", "MNV3_FPN_cpu", "R_50_FPN_s1x"]
    )
    parser.add_argument("--data", type=Path, help="a `dpstudio synth` folder (made if absent)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--images", type=int, default=6, help="timed inference images")
    parser.add_argument("--detections", type=int, default=5)
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--loader-images", type=int, default=64)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.data is None:
        args.data = ROOT / "out" / "bench_model_synth"
    if not (args.data / "densepose.json").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "annotator.cli",
                "synth",
                "--count",
                "64",
                "--size",
                "512",
                "--out",
                str(args.data),
                "--seed",
                "21",
            ],
            check=True,
        )
    import os

    print(
        f"bench_model: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; synthetic data "
        f"{args.data}"
    )
    for preset in args.presets:
        bench_preset(args, preset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
