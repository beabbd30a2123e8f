"""The DensePose paper's central experiment on synthetic people, at CPU scale.

    .venv/bin/python scripts/paper_experiment.py --train SYNTH_TRAIN --val SYNTH_VAL \\
        --out OUT [--runs points,fcn,distill,cascade,dense] [--reuse points=RUN ...] \\
        [--iterations N] [--teacher RUN] [--seed S] [--set KEY=VALUE ...]

Trains, with the same data, seed and schedule (the CPU presets': 1500 iterations of 4 images,
about an hour each on two idle cores; ``--iterations`` scales it):

* ``points``  DensePose R-CNN on the annotated points (R-18-FPN CPU preset);
* ``fcn``     the fully convolutional baseline (whole image, no RoIs);
* ``distill`` DensePose R-CNN on the points plus the dense labels of a teacher (the
  ``points`` run, or ``--teacher``) inside each person's mask: the paper's ground-truth
  interpolation;
* ``cascade`` the multi-task cascade (mask and keypoint branches, refined);
* ``dense``   not in the paper: DensePose R-CNN on dense synthetic truth (exact I, U, V at
  400 skin pixels per person), what perfect dense labels buy.

Each run evaluates on the held-out folder while it trains. ``--seed`` trains the same runs
from another seed (other initial weights and data order), to read the spread of a figure.
Then every run is evaluated with true boxes, the runs are compared (``dpstudio model
compare``: accuracy, size, speed on this machine, OUT/compare) and their curves plotted
(OUT/curves.png). Finished runs are kept:
running the script again continues an interrupted run and redoes only what is missing;
``--reuse NAME=RUN`` takes a run trained elsewhere with the same schedule. The summary
(OUT/summary.md) is what the README quotes, next to the paper's multi-person figures.
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


def run_dir(name: str, args: argparse.Namespace) -> Path:
    return args.reuse.get(name, args.out / name)


def train(name: str, args: argparse.Namespace) -> Path:
    out = run_dir(name, args)
    if (out / "model_final.pth").is_file():
        return out
    if (out / "run.json").is_file():
        dpstudio("model", "train", "--out", str(out), "--resume")
        return out
    preset, extra = RUNS[name]
    if name == "distill":
        teacher = args.teacher or train("points", args)
        extra = [*extra, f"data.teacher={teacher}"]
    sets = [f"solver.eval_period={args.eval_period}", f"seed={args.seed}", *extra, *args.set]
    if args.iterations:  # another budget than the presets' (steps at 73% and 90%)
        n = args.iterations
        sets += [f"solver.max_iter={n}", f"solver.steps=[{int(n * 0.73)},{int(n * 0.9)}]"]
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
        t = evaluate_true_boxes(run_dir(name, args), args.val)["pointwise"]["overall"]
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
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="NAME=RUN",
        help="a finished run with the same schedule, e.g. points=runs/r18",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        help="the distillation teacher (default: the points run; a longer run teaches better)",
    )
    parser.add_argument("--iterations", type=int, help="budget (default: the presets' 1500)")
    parser.add_argument("--eval-period", type=int, default=350)
    parser.add_argument("--seed", type=int, default=0, help="the runs' seed (weights, data order)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every run, e.g. model.densepose.coarse_balanced=true",
    )
    args = parser.parse_args()
    args.reuse = {k: Path(v) for k, _, v in (r.partition("=") for r in args.reuse)}
    names = [n for n in args.runs.split(",") if n]
    unknown = (set(names) | set(args.reuse)) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs {sorted(unknown)}; choose from {', '.join(RUNS)}")
    runs = [train(name, args) for name in names]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, run in zip(names, runs, strict=True):  # the report names its rows by folder
        link = args.out / name
        if run.resolve() != link.resolve() and not link.exists():
            link.symlink_to(run.resolve())
        evaluate_true_boxes(run, args.val)
    dpstudio(
        "model",
        "compare",
        *(str(args.out / n) for n in names),
        "--data",
        str(args.val),
        "--out",
        str(args.out / "compare"),
    )
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "plot_training.py"),
            *(str(args.out / n) for n in names),
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
