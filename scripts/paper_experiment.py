"""The DensePose paper's central experiment on synthetic people, at CPU scale.

    .venv/bin/python scripts/paper_experiment.py --train SYNTH_TRAIN --val SYNTH_VAL \
        --out OUT [--iterations 1400] [--runs points,fcn,distill,cascade,dense]

Trains, with the same data, seed and number of iterations:

* ``points``  DensePose R-CNN on the annotated points (R-18-FPN CPU preset);
* ``fcn``     the fully convolutional baseline (whole image, no RoIs);
* ``distill`` DensePose R-CNN on the points plus the dense labels of a teacher (the
  ``points`` run) inside each person's mask: the paper's ground-truth interpolation;
* ``cascade`` the multi-task cascade (mask and keypoint branches, refined);
* ``dense``   not in the paper: DensePose R-CNN on dense synthetic truth (exact I, U, V at
  400 skin pixels per person), what perfect dense labels buy.

Each run evaluates on the held-out folder four times while it trains. Then the runs are
evaluated with true boxes, compared (``dpstudio model compare``: accuracy, size, speed on this
machine) and their curves plotted. Finished runs are kept: running the script again continues
an interrupted run and redoes only what is missing. The summary printed at the end is what the
README quotes, next to the paper's multi-person figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Approach -> (preset, extra overrides).
RUNS: dict[str, tuple[str, list[str]]] = {
    "points": ("densepose_rcnn_R_18_FPN_cpu", []),
    "fcn": ("densepose_fcn_R_18_FPN_cpu", []),
    "distill": ("densepose_rcnn_R_18_FPN_cpu", ["data.dense_points=400"]),
    "cascade": ("densepose_cascade_R_18_FPN_cpu", []),
    "dense": ("densepose_rcnn_R_18_FPN_cpu_dense", []),
}
#: The paper's multi-person figures (DESIGN.md section 5): AUC10, AUC30, IoU.
PAPER = {
    "fcn": (0.253, 0.418, 0.66),
    "points": (0.315, 0.567, 0.75),
    "distill": (0.381, 0.645, 0.79),
    "cascade": (0.390, 0.664, 0.81),
}


def dpstudio(*args: str) -> None:
    print("+ dpstudio " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "annotator.cli", *args], check=True, cwd=ROOT)


def train(name: str, args: argparse.Namespace) -> Path:
    out = args.out / name
    if (out / "model_final.pth").is_file():
        return out
    if (out / "run.json").is_file():
        dpstudio("model", "train", "--out", str(out), "--resume")
        return out
    preset, extra = RUNS[name]
    if name == "distill":
        extra = [*extra, f"data.teacher={train('points', args)}"]
    sets = [
        f"solver.max_iter={args.iterations}",
        f"solver.steps=[{int(args.iterations * 0.75)},{int(args.iterations * 0.9)}]",
        f"solver.eval_period={max(1, args.iterations // 4)}",
        f"solver.checkpoint_period={max(1, args.iterations // 4)}",
        *extra,
    ]
    command = [
        "model",
        "train",
        "--config",
        preset,
        "--data",
        str(args.train),
        "--val",
        str(args.val),
        "--out",
        str(out),
    ]
    for item in sets:
        command += ["--set", item]
    dpstudio(*command)
    return out


def evaluate_true_boxes(run: Path, val: Path) -> dict:
    out = run / "eval_true_boxes"
    if not (out / "evaluation.json").is_file():
        dpstudio(
            "model",
            "evaluate",
            "--checkpoint",
            str(run),
            "--data",
            str(val),
            "--gt-boxes",
            "--out",
            str(out),
        )
    return json.loads((out / "evaluation.json").read_text())


def summary(args: argparse.Namespace, names: list[str]) -> str:
    rows = json.loads((args.out / "compare" / "comparison.json").read_text())["rows"]
    lines = [
        "| approach | AUC10 | AUC30 | mask IoU | GPS AP | GPSm AP | AUC10, true boxes | "
        "AUC30, true boxes | dense AUC10 | s/iter | paper AUC10 / AUC30 / IoU |",
        "|---" * 11 + "|",
    ]
    for name in names:
        r = rows.get(name)
        if r is None:
            lines.append(f"| {name} | not measured |" + " |" * 9)
            continue
        true = json.loads((args.out / name / "eval_true_boxes" / "evaluation.json").read_text())
        t = true["pointwise"]["overall"]
        paper = "{:.3f} / {:.3f} / {:.2f}".format(*PAPER[name]) if name in PAPER else "-"
        lines.append(
            f"| {name} | {r['auc10']:.3f} | {r['auc30']:.3f} | {r['mask_iou']:.2f} | "
            f"{100 * r['gps_AP']:.1f} | {100 * r['gpsm_AP']:.1f} | {t['auc10']:.3f} | "
            f"{t['auc30']:.3f} | {r.get('dense_auc10', float('nan')):.3f} | "
            f"{r.get('train_s', float('nan')):.2f} | {paper} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="synthetic training folder")
    parser.add_argument("--val", type=Path, required=True, help="held-out synthetic folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--iterations", type=int, default=1400)
    parser.add_argument("--runs", default=",".join(RUNS))
    args = parser.parse_args()
    names = [n for n in args.runs.split(",") if n]
    unknown = set(names) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs {sorted(unknown)}; choose from {', '.join(RUNS)}")
    runs = [train(name, args) for name in names]
    for run in runs:
        evaluate_true_boxes(run, args.val)
    dpstudio(
        "model",
        "compare",
        *map(str, runs),
        "--data",
        str(args.val),
        "--out",
        str(args.out / "compare"),
    )
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "plot_training.py"),
            *map(str, runs),
            "--out",
            str(args.out / "curves.png"),
        ],
        check=True,
    )
    table = summary(args, names)
    (args.out / "summary.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
