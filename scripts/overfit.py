"""Overfit a handful of tiny images: the model must learn its training set almost perfectly.

    .venv/bin/python scripts/overfit.py [--images 4] [--size 256] [--iterations 600]

Renders ``--images`` synthetic images (seed 7), trains the R-18 CPU preset on them without
augmentation (dense synthetic truth; the learning rate divided by 10 at 70% and 90%), then
evaluates on the same images with the true boxes and with detected boxes, and prints the figures. A
model and loss that work reach near-perfect figures here; a bug in the targets, the sampling or
the losses shows as a plateau.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dpstudio(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "annotator.cli", *args], check=True, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "overfit")
    args = parser.parse_args()
    data, run = args.out / "data", args.out / "run"
    if not (data / "densepose.json").is_file():
        dpstudio(
            "synth",
            "--count",
            str(args.images),
            "--size",
            str(args.size),
            "--out",
            str(data),
            "--seed",
            "7",
        )
    start = time.perf_counter()
    if not (run / "model_final.pth").is_file():
        dpstudio(
            "model",
            "train",
            "--config",
            "R_18_FPN_cpu",
            "--data",
            str(data),
            "--out",
            str(run),
            "--max-iter",
            str(args.iterations),
            "--set",
            f"model.min_size_train=[{args.size}]",
            "--set",
            f"model.min_size_test={args.size}",
            "--set",
            "data.hflip=false",
            "--set",
            "data.points=dense_sample",
            "--set",
            "data.dense_points=300",
            "--set",
            f"solver.steps=[{args.iterations * 7 // 10},{args.iterations * 9 // 10}]",
            "--set",
            "solver.base_lr=0.01",
            "--set",
            "solver.warmup_iters=50",
            "--set",
            "solver.log_period=20",
            "--set",
            f"solver.checkpoint_period={args.iterations}",
        )
    minutes = (time.perf_counter() - start) / 60
    figures = {}
    for mode in ("true boxes", "detected boxes"):
        out = args.out / mode.replace(" ", "_")
        extra = ["--gt-boxes"] if mode == "true boxes" else []
        dpstudio(
            "model",
            "evaluate",
            "--checkpoint",
            str(run),
            "--data",
            str(data),
            "--out",
            str(out),
            *extra,
        )
        figures[mode] = json.loads((out / "evaluation.json").read_text())
    print(
        f"\noverfit: {args.images} images of {args.size} px, {args.iterations} iterations "
        f"({minutes:.1f} min)"
    )
    for mode, report in figures.items():
        p = report["pointwise"]["overall"]
        d = report["dense"]["overall"] if report.get("dense") else {}
        gps = report["ap"]["gps"]["AP"]
        print(
            f"  {mode:15s} GPS AP {100 * gps:5.1f}  AUC10 {p['auc10']:.3f}  AUC30 "
            f"{p['auc30']:.3f}  mean error {100 * p['mean']:.1f} cm  mask IoU "
            f"{report['pointwise']['mean_mask_iou']:.3f}  dense AUC10 {d.get('auc10', 0):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
