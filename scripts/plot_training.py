"""Plot training runs: loss curves and held-out figures over iterations.

    .venv/bin/python scripts/plot_training.py RUN [RUN ...] --out curve.png [--smooth 25]

Reads each run's metrics.jsonl: the total loss and the DensePose terms (smoothed with a
moving average), and the held-out evaluations (AUC10, GPS AP, dense AUC10) when the run had
``--val``. Several runs share the axes, one colour each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def read(run: Path) -> tuple[list[dict], list[dict]]:
    steps, evals = [], []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "evaluation":
            evals.append(record)
        elif "total_loss" in record:
            steps.append(record)
    return steps, evals


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Exponential moving average spanning about ``window`` logged values, debiased at the
    start as TensorBoard does (a trailing window would drop in a step when a large early
    value leaves it; padding would draw the first value's level as a straight line)."""
    weight = 1.0 - 2.0 / (max(window, 1) + 1)
    out = np.empty(len(values))
    mean = 0.0
    for k, value in enumerate(values):
        mean = weight * mean + (1.0 - weight) * float(value)
        out[k] = mean / (1.0 - weight ** (k + 1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smooth", type=int, default=25, help="moving average, logged steps")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_terms, ax_eval) = plt.subplots(1, 3, figsize=(15, 4.2), dpi=110)
    for k, run in enumerate(args.runs):
        color = f"C{k}"
        steps, evals = read(run)
        it = np.array([s["iteration"] for s in steps])
        ax_loss.plot(
            it,
            smooth(np.array([s["total_loss"] for s in steps]), args.smooth),
            color=color,
            label=run.name,
        )
        for term, style in (
            ("loss_densepose_I", "-"),
            ("loss_densepose_S", "--"),
            ("loss_densepose_U", ":"),
        ):
            values = np.array([s["losses"].get(term, np.nan) for s in steps])
            ax_terms.plot(
                it, smooth(values, args.smooth), style, color=color, label=f"{run.name}: {term[5:]}"
            )
        if evals:
            eit = [e["iteration"] for e in evals]
            for key, style in (("auc10", "-o"), ("gps_AP", "--s"), ("dense_auc10", ":^")):
                values = [e["metrics"].get(key) for e in evals]
                if any(v is not None for v in values):
                    ax_eval.plot(
                        eit,
                        [np.nan if v is None else v for v in values],
                        style,
                        color=color,
                        label=f"{run.name}: {key}",
                        markersize=4,
                    )
    ax_loss.set(title="total loss (smoothed)", xlabel="iteration")
    ax_terms.set(title="DensePose losses (smoothed)", xlabel="iteration", yscale="log")
    ax_eval.set(title="held-out figures", xlabel="iteration", ylim=(0, 1))
    for ax in (ax_loss, ax_terms, ax_eval):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
